package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/s3count"
	"github.com/imgbatch/imgbatch/internal/s3limit"
	"github.com/imgbatch/imgbatch/internal/s3region"
)

// clients are the AWS clients of one command.
type clients struct {
	cfg aws.Config
	s3  *s3.Client
	s3r *s3region.Router // s3, each request sent to its bucket's region (sources and outputs)
	// limiter paces s3's requests (IMGBATCH_S3_RATE=aimd); nil when off
	limiter *s3limit.Limiter
	eb      *eventbridge.Client
	bt      *awsbatch.Client
	req     *s3count.Counter // every S3 request of s3 and s3r (work.go names the work bucket)
}

// loadClients loads the standard AWS configuration (environment, shared
// files, container or instance role) with the patient clients of a batch
// job. AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_EVENTBRIDGE point the same
// clients at local stand-ins; S3 then uses path-style addressing.
func loadClients(ctx context.Context) (*clients, error) {
	return loadClientsWith(ctx, patientClients)
}

// loadClientsFor loads the clients of the named command: interactive
// commands (a person waits for them) get the impatient ones.
func loadClientsFor(ctx context.Context, command string) (*clients, error) {
	if interactiveCommands[command] {
		return loadClientsWith(ctx, interactiveClients)
	}
	return loadClientsWith(ctx, patientClients)
}

func loadClientsWith(ctx context.Context, p clientProfile) (*clients, error) {
	rate, limiter, err := s3RateControl()
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithLogger(sdkLogger{}),
		// S3 SlowDown and 5xx are retried with exponential backoff and jitter;
		// a batch job must ride out bursts of 5xx/SlowDown: no client-side
		// retry quota that, once spent, fails items without retrying.
		config.WithRetryer(s3limit.Retryer(rate, p.attempts, p.maxBackoff)),
		config.WithHTTPClient(p.httpClient()),
	)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// Connection errors name the endpoint and the variable that set it.
	cfg.HTTPClient = namedEndpoints{cfg.HTTPClient}
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("IMGBATCH_S3_PATH_STYLE") == "true"
	req := &s3count.Counter{}
	cl := &clients{
		cfg: cfg, req: req, limiter: limiter,
		s3: s3.NewFromConfig(cfg, req.Install, func(o *s3.Options) {
			o.UsePathStyle = pathStyle
			// GETs ask for checksums; objects stored without one (multipart
			// uploads, stores that keep none) are read unchecked, and the SDK
			// would say so in a plain-text line per GET among the JSON logs.
			o.DisableLogOutputChecksumValidationSkipped = true
			if limiter != nil {
				o.HTTPClient = limiter.Wrap(o.HTTPClient)
			}
		}),
		eb: eventbridge.NewFromConfig(cfg),
		bt: awsbatch.NewFromConfig(cfg),
	}
	// The work bucket is the deployment's own, in its region: batch.Store
	// keeps the plain client. Source and output buckets may be anywhere.
	cl.s3r = s3region.New(cl.s3, nil)
	return cl, nil
}

// s3RateControl is the S3 rate control of this process
// (IMGBATCH_S3_RATE: aimd, adaptive or off; see internal/s3limit). Unset,
// it is aimd in an array of aimdFrom children or more — where the fleet
// can ask one prefix for more than its budget (~50 PUTs a second a child
// against 3,500) — and off below, as before. With aimd an array child
// starts at its share of S3's documented per-prefix budgets (3,500
// PUT-class and 5,500 GET-class requests a second) for the array's width,
// per bucket; a process outside an array starts unlimited. Both adapt to
// SlowDown.
func s3RateControl() (s3limit.Mode, *s3limit.Limiter, error) {
	w, _ := strconv.Atoi(os.Getenv("AWS_BATCH_JOB_ARRAY_SIZE"))
	env := os.Getenv("IMGBATCH_S3_RATE")
	if env == "" && w < aimdFrom {
		return s3limit.Off, nil, nil
	}
	mode, err := s3limit.ParseMode(env)
	if err != nil || mode != s3limit.AIMD {
		return mode, nil, err
	}
	var cfg s3limit.Config
	if w > 1 {
		cfg.Put, cfg.Get = 3500/float64(w), 5500/float64(w)
	}
	// The work bucket (Control) is paced only near one prefix's budget:
	// what one process (the finalizer) may send alone.
	cfg.ControlPut, cfg.ControlGet = controlShare*3500, controlShare*5500
	return mode, s3limit.New(cfg), nil
}

// controlShare is the share of a prefix's budgets a child may send to the
// work bucket: the rest is for the other children's leases and scans.
const controlShare = 0.8

// aimdFrom is the smallest array that gets the AIMD limiter by default.
const aimdFrom = 64

func (c *clients) store(bucket string) *batch.Store { return &batch.Store{S3: c.s3, Bucket: bucket} }

func (c *clients) publisher(bus, source string) *ebus.Publisher {
	return ebus.NewPublisher(c.eb, bus, source)
}

// sdkLogger sends what the AWS SDK logs (its default writes plain-text
// lines to stderr) through slog, so the logs stay one JSON object per line.
type sdkLogger struct{}

func (sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	slog.Default().Log(context.Background(), level, "aws sdk", "detail", fmt.Sprintf(format, v...))
}
