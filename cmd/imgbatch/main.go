// Command imgbatch turns millions of images in S3 into resized and
// re-encoded variants on AWS Batch array jobs. One binary plays every role:
// submit (plan a run), work (an array child), status, and local (the whole
// pipeline on one machine with no AWS account).
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes (documented in the README and in `imgbatch --help`).
const (
	exitOK        = 0
	exitError     = 1  // something went wrong: see the log
	exitUsage     = 2  // bad flags or arguments
	exitRunFailed = 3  // the run finished but broke its failure tolerance
	exitRetry     = 75 // stopped early (SIGTERM, stuck work): retry the attempt
	exitPaused    = 76 // the run was paused (imgbatch pause): do not retry; imgbatch resume starts it again
)

// exitError carries an exit code out of a command.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &codedError{code: code, err: err} }

// version is set at build time (scripts/build.sh: -X main.version=...).
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var log *slog.Logger // set once the flags are parsed
	if len(args) < 2 {
		// No command: the help goes to stderr and it is a usage error
		// (exit 2), so a script that forgot its arguments does not pass.
		_ = newApp(stderr, stderr, &log).Run([]string{"imgbatch", "--help"})
		return exitUsage
	}
	app := newApp(stdout, stderr, &log)
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	code := exitError
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		code, err = ce.code, ce.err
	case isUsage(err):
		code = exitUsage
	}
	if err != nil && code != exitOK {
		reportErr(stderr, log, err, code)
	}
	return code
}

// reportErr prints the error a command ended with: in JSON logs as one
// more JSON line (CloudWatch Logs Insights reads an attempt's last words
// like any other), otherwise as "imgbatch: <error>".
func reportErr(stderr io.Writer, log *slog.Logger, err error, code int) {
	if log != nil {
		if _, ok := log.Handler().(*slog.JSONHandler); ok {
			log.Error("imgbatch failed", "err", err.Error(), "exitCode", code)
			return
		}
	}
	fmt.Fprintln(stderr, "imgbatch:", err)
}

func isUsage(err error) bool {
	s := err.Error()
	return strings.Contains(s, "flag provided but not defined") || strings.Contains(s, "Required flag") ||
		strings.Contains(s, "invalid value") || strings.Contains(s, "usage:")
}

// newApp builds the CLI; log receives the logger once the global flags
// are parsed.
func newApp(stdout, stderr io.Writer, log **slog.Logger) *cli.App {
	return &cli.App{
		Name:    "imgbatch",
		Version: version,
		Usage:   "resize and re-encode millions of S3 images on AWS Batch array jobs",
		Description: `imgbatch plans a manifest of S3 images into shards, runs them on an AWS Batch
array job (EC2 Spot or Fargate) where every child claims shards with S3 leases,
makes each recipe variant with libvips (shrink-on-load), writes the outputs, a
per-item report and completion events to EventBridge.

Start here:
   imgbatch local --images ./photos              # the whole pipeline on this machine, no AWS account
   imgbatch submit --manifest keys.txt --bucket SRC --output-bucket OUT --work-bucket WORK
   imgbatch status RUN_ID --work-bucket WORK

Exit codes: 0 ok; 1 error; 2 usage; 3 run finished but failed its failure
tolerance; 75 stopped early (SIGTERM or stuck work): retry the attempt; 76 (work)
the run was paused: do not retry, "imgbatch resume" starts it again; 130 / 143
(local) stopped by Ctrl-C / SIGTERM: run the same command again to go on.

Environment: every flag with an env var in its help can be set that way
(IMGBATCH_*); AWS settings come from the standard AWS variables and files
(AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_EVENTBRIDGE, ...).`,
		EnableBashCompletion: true,
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"IMGBATCH_LOG_FORMAT"}, Usage: "log format: json (CloudWatch Logs Insights) or text"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"IMGBATCH_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
		},
		Before: func(c *cli.Context) error {
			l, err := newLogger(stderr, c.String("log-format"), c.String("log-level"))
			if err != nil {
				return withCode(exitUsage, err)
			}
			slog.SetDefault(l)
			*log = l
			return nil
		},
		Commands:       commands(),
		ExitErrHandler: func(*cli.Context, error) {}, // run() maps errors to exit codes
	}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use json or text", format)
}
