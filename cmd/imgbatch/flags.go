package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
)

// Flags shared by several commands, defined once. Every command reads its
// flags once, into its own options struct (submitOptions, localOptions,
// workOptions, ...), and works on that.
var (
	workBucketFlag = &cli.StringFlag{Name: "work-bucket", EnvVars: []string{"IMGBATCH_WORK_BUCKET"}, Usage: "bucket holding runs (runs/<id>/: plan, claims, results, reports)"}
	eventBusFlag   = &cli.StringFlag{Name: "event-bus", Value: "imgbatch", EnvVars: []string{"IMGBATCH_EVENT_BUS"}, Usage: "EventBridge bus for run events (empty: send none)"}
	eventSrcFlag   = &cli.StringFlag{Name: "event-source", Value: ebus.DefaultSource, EnvVars: []string{"IMGBATCH_EVENT_SOURCE"}, Usage: "source field of the events"}
	jobQueueFlag   = &cli.StringFlag{Name: "job-queue", EnvVars: []string{"IMGBATCH_JOB_QUEUE"}, Usage: "Batch job queue (for --via batch)"}
	jobDefFlag     = &cli.StringFlag{Name: "job-definition", EnvVars: []string{"IMGBATCH_JOB_DEFINITION"}, Usage: "Batch job definition of the workers (for --via batch)"}
)

// runFlags name where a run lives (the work bucket) and where its events go.
func runFlags() []cli.Flag { return []cli.Flag{workBucketFlag, eventBusFlag, eventSrcFlag} }

// startFlags say how a planned run is started (read into startOptions).
func startFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "via", Value: "events", EnvVars: []string{"IMGBATCH_VIA"},
			Usage: "how to start the run: events (PutEvents \"Run Requested\" → rule → Batch array target), batch (SubmitJob directly), or none (plan only)"},
		jobQueueFlag, jobDefFlag,
	}
}

func dryRunFlag(usage string) cli.Flag { return &cli.BoolFlag{Name: "dry-run", Usage: usage} }

func jsonFlag(usage string) cli.Flag { return &cli.BoolFlag{Name: "json", Usage: usage} }

// startOptions is how a planned run is started: --via, the bus of
// "Run Requested" (--event-bus, --event-source), the Batch queue and job
// definition of --via batch.
type startOptions struct {
	via         string
	bus, source string
	jobQueue    string
	jobDef      string
}

func startOptionsFrom(c *cli.Context) startOptions {
	return startOptions{via: c.String("via"), bus: c.String("event-bus"), source: c.String("event-source"),
		jobQueue: c.String("job-queue"), jobDef: c.String("job-definition")}
}

// check refuses a --via that cannot work.
func (s startOptions) check() error {
	switch s.via {
	case "events", "none", "":
	case "batch":
		if s.jobQueue == "" || s.jobDef == "" {
			return fmt.Errorf("--via batch needs --job-queue and --job-definition")
		}
	default:
		return fmt.Errorf("--via %q: use events, batch or none", s.via)
	}
	return nil
}

// needFlag is the value of a required string flag, or a usage error.
func needFlag(c *cli.Context, name string) (string, error) {
	v := c.String(name)
	if v == "" {
		return "", withCode(exitUsage, fmt.Errorf("--%s is required (see `imgbatch %s --help`)", name, c.Command.Name))
	}
	return v, nil
}

// usageErr marks a bad flag's error with the usage exit code.
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return withCode(exitUsage, err)
}

// splitList splits comma-separated values of a repeatable flag.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// accessFlags say how a run reaches its buckets (imgbatch.Access, stored
// in run.json and applied by every child): SSE of the outputs, the
// accounts expected to own the source and output buckets, requester pays.
// The owners are two flags because S3 checks each request against the
// bucket it names, and a run typically reads another account's bucket and
// writes to its own.
func accessFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sse", EnvVars: []string{"IMGBATCH_SSE"}, Usage: "server-side encryption of every output PUT: AES256, aws:kms or aws:kms:dsse (default: none sent, the bucket's default encryption applies)"},
		&cli.StringFlag{Name: "sse-kms-key-id", EnvVars: []string{"IMGBATCH_SSE_KMS_KEY_ID"}, Usage: "KMS key (ID, ARN or alias) of --sse aws:kms / aws:kms:dsse (default: the account's aws/s3 key); the job role needs kms:GenerateDataKey on it"},
		&cli.BoolFlag{Name: "sse-bucket-key", EnvVars: []string{"IMGBATCH_SSE_BUCKET_KEY"}, Usage: "with --sse aws:kms: use an S3 Bucket Key (far fewer KMS requests and charges)"},
		&cli.StringFlag{Name: "source-bucket-owner", EnvVars: []string{"IMGBATCH_SOURCE_BUCKET_OWNER"}, Usage: "account ID that must own the source buckets: sent as x-amz-expected-bucket-owner on every GET, HEAD and LIST of them (S3 refuses with 403 otherwise)"},
		&cli.StringFlag{Name: "output-bucket-owner", EnvVars: []string{"IMGBATCH_OUTPUT_BUCKET_OWNER"}, Usage: "account ID that must own the output bucket: sent on every PUT, HEAD and HeadBucket of it"},
		&cli.StringFlag{Name: "request-payer", EnvVars: []string{"IMGBATCH_REQUEST_PAYER"}, Usage: "requester: read Requester Pays source buckets (this account pays their requests and transfer)"},
		&cli.StringFlag{Name: "output-request-payer", EnvVars: []string{"IMGBATCH_OUTPUT_REQUEST_PAYER"}, Usage: "requester: the output bucket is Requester Pays"},
	}
}

// accessFrom reads accessFlags and checks them.
func accessFrom(c *cli.Context) (imgbatch.Access, error) {
	a := imgbatch.Access{
		SSE: c.String("sse"), SSEKMSKeyID: c.String("sse-kms-key-id"), BucketKey: c.Bool("sse-bucket-key"),
		SourceOwner: c.String("source-bucket-owner"), OutputOwner: c.String("output-bucket-owner"),
	}
	var err error
	if a.SourceRequesterPays, err = requesterPays("request-payer", c.String("request-payer")); err != nil {
		return a, err
	}
	if a.OutputRequesterPays, err = requesterPays("output-request-payer", c.String("output-request-payer")); err != nil {
		return a, err
	}
	return a, a.Check()
}

// accessLine is the plan's one-line account of accessFlags ("" if none).
func accessLine(a imgbatch.Access) string {
	var parts []string
	if a.SSE != "" {
		s := "sse " + a.SSE
		if a.SSEKMSKeyID != "" {
			s += " key " + a.SSEKMSKeyID
		}
		if a.BucketKey {
			s += " (bucket key)"
		}
		parts = append(parts, s)
	}
	for _, p := range []struct {
		on   bool
		text string
	}{
		{a.SourceOwner != "", "source owner " + a.SourceOwner}, {a.OutputOwner != "", "output owner " + a.OutputOwner},
		{a.SourceRequesterPays, "source requester pays"}, {a.OutputRequesterPays, "output requester pays"},
	} {
		if p.on {
			parts = append(parts, p.text)
		}
	}
	return strings.Join(parts, ", ")
}

func requesterPays(flag, v string) (bool, error) {
	switch v {
	case "":
		return false, nil
	case "requester":
		return true, nil
	}
	return false, fmt.Errorf("--%s %q: the only value is requester", flag, v)
}
