package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/localstack"
)

// TestSpotNoticeStopsWork: with the IMDS stand-in answering 404, the
// watcher's context stays open; once the notice is served (IMDSv2 token
// first, as on EC2), it is cancelled with errSpotNotice — the stop the
// worker drains on, as on SIGTERM.
func TestSpotNoticeStopsWork(t *testing.T) {
	var sn localstack.SpotNotices
	defer sn.Close()
	env := sn.Env(0, 1)
	if len(env) == 0 {
		t.Fatal("no IMDS stand-in")
	}
	endpoint := env[0][len("IMGBATCH_IMDS_ENDPOINT="):]
	o := spotOptions{watch: true, endpoint: endpoint, every: 20 * time.Millisecond, why: "test"}
	stop, cancel := o.watchSpot(context.Background(), slog.New(slog.DiscardHandler))
	defer cancel()
	// Several polls answered 404: still running.
	client := newIMDS(endpoint)
	for range 5 {
		if n, err := spotNotice(context.Background(), client); n != nil || err != nil {
			t.Fatalf("before the notice: %+v, %v", n, err)
		}
	}
	if stop.Err() != nil {
		t.Fatalf("stopped before any notice: %v", context.Cause(stop))
	}
	sn.Notify(0, 1)
	select {
	case <-stop.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the notice did not stop the worker")
	}
	if !errors.Is(context.Cause(stop), errSpotNotice) {
		t.Errorf("stopped by %v, want the spot notice", context.Cause(stop))
	}
}

// TestSpotNoticeMode: auto watches on EC2 container instances only (not on
// Fargate, which has no notice), or when an endpoint is given; off and on
// win; anything else is a usage error.
func TestSpotNoticeMode(t *testing.T) {
	for _, tc := range []struct {
		execEnv, mode, endpoint string
		watch, bad              bool
	}{
		{"AWS_ECS_EC2", "auto", "", true, false},
		{"AWS_ECS_FARGATE", "auto", "", false, false},
		{"AWS_ECS_FARGATE", "auto", "http://127.0.0.1:1", false, false},
		{"", "auto", "", false, false},
		{"", "auto", "http://127.0.0.1:1", true, false},
		{"AWS_ECS_EC2", "off", "", false, false},
		{"", "on", "", true, false},
		{"", "sometimes", "", false, true},
	} {
		t.Setenv("AWS_EXECUTION_ENV", tc.execEnv)
		fs := flag.NewFlagSet("work", flag.ContinueOnError)
		for _, f := range spotFlags() {
			if err := f.Apply(fs); err != nil {
				t.Fatal(err)
			}
		}
		if err := fs.Parse([]string{"--spot-notice", tc.mode, "--imds-endpoint", tc.endpoint}); err != nil {
			t.Fatal(err)
		}
		o, err := spotOptionsFrom(cli.NewContext(cli.NewApp(), fs, nil))
		if (err != nil) != tc.bad || o.watch != tc.watch {
			t.Errorf("%+v: watch %v, err %v", tc, o.watch, err)
		}
	}
}
