package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/urfave/cli/v2"
)

// EC2 Spot gives a two-minute notice before it reclaims an instance:
// instance metadata's spot/instance-action answers
// {"action": "terminate", "time": "…"} (404 until then), and the SIGTERM
// only comes at the end. A worker that watches it drains two minutes
// earlier: it stops claiming, checkpoints, releases its leases and exits 75,
// exactly as on SIGTERM, while the instance still has time. Fargate has no
// such notice (it sends SIGTERM with a two-minute stopTimeout): there the
// watcher does not run.

// spotNoticeAction is the path of the notice under /latest/meta-data/.
const spotNoticeAction = "spot/instance-action"

// errSpotNotice is the cause of the stop context when the notice came.
var errSpotNotice = errors.New("EC2 Spot interruption notice")

func spotFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "spot-notice", Value: "auto", EnvVars: []string{"IMGBATCH_SPOT_NOTICE"},
			Usage: "watch the EC2 Spot two-minute notice in instance metadata and drain as on SIGTERM: auto (on EC2 container instances, not on Fargate), on, off"},
		&cli.StringFlag{Name: "imds-endpoint", EnvVars: []string{"IMGBATCH_IMDS_ENDPOINT"},
			Usage: "instance metadata endpoint (default http://169.254.169.254; a stand-in for tests)"},
		&cli.DurationFlag{Name: "spot-poll", Value: 5 * time.Second, EnvVars: []string{"IMGBATCH_SPOT_POLL"},
			Usage: "how often the Spot notice is polled"},
	}
}

// spotOptions say whether and how the worker watches the Spot notice.
type spotOptions struct {
	watch    bool
	endpoint string
	every    time.Duration
	why      string // why it watches or not (logged)
}

func spotOptionsFrom(c *cli.Context) (spotOptions, error) {
	o := spotOptions{endpoint: c.String("imds-endpoint"), every: c.Duration("spot-poll")}
	if o.every <= 0 {
		return o, usageErr(fmt.Errorf("--spot-poll %s: must be positive", o.every))
	}
	switch mode := c.String("spot-notice"); mode {
	case "off":
		o.why = "--spot-notice off"
	case "on":
		o.watch, o.why = true, "--spot-notice on"
	case "auto", "":
		o.watch, o.why = spotAuto(os.Getenv, o.endpoint)
	default:
		return o, usageErr(fmt.Errorf("--spot-notice %q: use auto, on or off", mode))
	}
	return o, nil
}

// spotAuto decides from the environment: ECS sets AWS_EXECUTION_ENV to
// AWS_ECS_EC2 on EC2 container instances (Batch's EC2 and EC2 Spot
// compute environments) and to AWS_ECS_FARGATE on Fargate; an explicit
// --imds-endpoint means someone serves the notice.
func spotAuto(getenv func(string) string, endpoint string) (bool, string) {
	switch env := getenv("AWS_EXECUTION_ENV"); {
	case env == "AWS_ECS_FARGATE":
		return false, "Fargate: no instance metadata notice (SIGTERM comes with a 2-minute stopTimeout)"
	case env == "AWS_ECS_EC2":
		return true, "EC2 container instance"
	case endpoint != "":
		return true, "--imds-endpoint given"
	}
	return false, "not on an EC2 container instance"
}

// watchSpot returns a context that is cancelled like ctx, and also when
// the Spot notice arrives (context.Cause is then errSpotNotice): the
// worker's stop context, so the notice drains exactly as SIGTERM does.
func (o spotOptions) watchSpot(ctx context.Context, log *slog.Logger) (context.Context, context.CancelFunc) {
	stop, cancel := context.WithCancelCause(ctx)
	if !o.watch {
		log.Debug("spot notice not watched", "why", o.why)
		return stop, func() { cancel(nil) }
	}
	client := newIMDS(o.endpoint)
	log.Info("watching the EC2 Spot interruption notice", "why", o.why, "every", o.every.String())
	go func() {
		t := time.NewTicker(o.every)
		defer t.Stop()
		warned := false
		for {
			notice, err := spotNotice(stop, client)
			switch {
			case err != nil && stop.Err() == nil && !warned:
				// Logged once: a worker without instance metadata (hop limit,
				// no IMDS) still works; it only learns of a reclaim at SIGTERM.
				log.Warn("spot notice: instance metadata unreachable; will keep trying", "err", err)
				warned = true
			case notice != nil:
				log.Warn("EC2 Spot interruption notice: draining as on SIGTERM (stop claiming, checkpoint, exit 75)",
					"action", notice.Action, "time", notice.Time)
				cancel(errSpotNotice)
				return
			}
			select {
			case <-stop.Done():
				return
			case <-t.C:
			}
		}
	}()
	return stop, func() { cancel(nil) }
}

// newIMDS is an instance metadata client that is on even where the
// environment turns the SDK's off (AWS_EC2_METADATA_DISABLED keeps the
// credential chain from probing IMDS), with no retries: it polls again soon.
func newIMDS(endpoint string) *imds.Client {
	return imds.New(imds.Options{Endpoint: endpoint, ClientEnableState: imds.ClientEnabled, Retryer: aws.NopRetryer{}})
}

// instanceAction is the body of spot/instance-action.
type instanceAction struct {
	Action string `json:"action"` // terminate, stop or hibernate
	Time   string `json:"time"`
}

// spotNotice asks once: nil, nil while there is no notice (404).
func spotNotice(ctx context.Context, c *imds.Client) (*instanceAction, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: spotNoticeAction})
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 64<<10))
	if err != nil {
		return nil, err
	}
	var a instanceAction
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("spot/instance-action %q: %w", b, err)
	}
	if a.Action == "" {
		return nil, nil
	}
	return &a, nil
}
