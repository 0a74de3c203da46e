package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/s3fault"
)

// TestTransientS3Errors: 5xx, SlowDown, connection resets and bodies that
// break off are retried (the SDK's standard retryer with backoff and
// jitter; a broken body by the worker); an item succeeds when a retry
// does, and fails with S3Error once the retries are used up.
func TestTransientS3Errors(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{})
	run := testRun(t)
	img := photo(t, 160, 120, false)
	keys := []string{"slowdown.jpg", "flaky.jpg", "reset.jpg", "cut.jpg", "put-slowdown.jpg", "down.jpg", "cut-always.jpg", "put-down.jpg"}
	for _, k := range keys {
		s.put(t, "src", k, img)
	}
	f := s.faults
	slowdown := f.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/slowdown.jpg", Fault: s3fault.SlowDown, Times: 2})
	flaky := f.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/flaky.jpg", Fault: s3fault.InternalError, Times: maxAttempts - 1})
	reset := f.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/reset.jpg", Fault: s3fault.Reset, Times: 2})
	cut := f.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/cut.jpg", Fault: s3fault.Truncate, Times: 1})
	putSlow := f.AddRule(&s3fault.Rule{Method: "PUT", Path: "/out/v1/thumb/put-slowdown.jpg", Fault: s3fault.SlowDown, Times: 3})
	down := f.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/down.jpg", Fault: s3fault.Error, Status: 503, Code: "ServiceUnavailable", Times: -1})
	cutAlways := f.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/cut-always.jpg", Fault: s3fault.Truncate, Times: -1})
	putDown := f.AddRule(&s3fault.Rule{Method: "PUT", Path: "/out/v1/small/put-down.webp", Fault: s3fault.InternalError, Times: -1})

	o := processAll(t, context.Background(), w, run, items("src", keys...))
	if o.err != nil {
		t.Fatal(o.err)
	}
	want := map[string]string{"down.jpg": CodeS3, "cut-always.jpg": CodeS3, "put-down.jpg": CodeS3}
	for i, k := range keys {
		r := o.results[i]
		if code := want[k]; code != "" {
			if r.Status != imgbatch.StatusFailed || r.ErrorCode != code || r.Message == "" {
				t.Errorf("%s: %s %s %q, want failed %s", k, r.Status, r.ErrorCode, r.Message, code)
			}
			continue
		}
		if r.Status != imgbatch.StatusSucceeded {
			t.Errorf("%s: %s %s %q, want succeeded after retries", k, r.Status, r.ErrorCode, r.Message)
		}
	}
	noLeaks(t)
	if r := o.results[5]; r.HTTPStatus != 503 {
		t.Errorf("down.jpg: HTTP status %d, want 503", r.HTTPStatus)
	}
	// Every fault was hit as often as set; the ones that never end were
	// retried exactly up to the limit.
	for name, c := range map[string]struct {
		f    *s3fault.Rule
		want int64
	}{
		"slowdown": {slowdown, 2}, "flaky": {flaky, maxAttempts - 1}, "reset": {reset, 2}, "cut": {cut, 1}, "put-slowdown": {putSlow, 3},
		"down": {down, maxAttempts}, "cut-always": {cutAlways, bodyAttempts}, "put-down": {putDown, maxAttempts},
	} {
		if got := c.f.Hits(); got != c.want {
			t.Errorf("%s: %d requests broken, want %d", name, got, c.want)
		}
	}
}

// TestFatalS3Errors: what no item can get past ends the attempt: Process
// returns a FatalError (no result is invented for the items), retryable
// only when a fresh attempt may succeed.
func TestFatalS3Errors(t *testing.T) {
	img := photo(t, 160, 120, false)
	keys := []string{"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"}
	setup := func(t *testing.T) *testS3 {
		s := newTestS3(t, "src", "out")
		for _, k := range keys {
			s.put(t, "src", k, img)
		}
		return s
	}
	check := func(t *testing.T, o outcome, retry bool, msg string) {
		t.Helper()
		var fe *FatalError
		if !errors.As(o.err, &fe) {
			t.Fatalf("Process returned %v, want a FatalError", o.err)
		}
		if fe.Retry != retry || !strings.Contains(fe.Error(), msg) {
			t.Errorf("fatal error %q retry=%v, want retry=%v and %q", fe, fe.Retry, retry, msg)
		}
		for _, r := range o.results {
			if r.Status != imgbatch.StatusSucceeded {
				t.Errorf("item %s got a %s/%s result for an attempt-wide failure", r.Item.Key, r.Status, r.ErrorCode)
			}
		}
		noLeaks(t)
	}

	t.Run("missing output bucket", func(t *testing.T) {
		s := setup(t)
		run := testRun(t)
		run.OutputBucket = "no-such-output"
		o := processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", keys...))
		check(t, o, false, "does not exist")
		if len(o.results) != 0 {
			t.Errorf("%d results", len(o.results))
		}
	})
	// Every matching request broken: the FatalError each must end in.
	for _, c := range []struct {
		name  string
		rule  *s3fault.Rule
		retry bool
		msg   string
	}{
		{"access denied on outputs", &s3fault.Rule{Method: "PUT", Path: "/out/*", Fault: s3fault.Error, Status: 403, Code: "AccessDenied", Times: -1},
			false, "access denied on the output bucket"},
		{"rejected keys", &s3fault.Rule{Path: "/*", Fault: s3fault.Error, Status: 403, Code: "InvalidAccessKeyId", Times: -1},
			false, "credentials rejected"},
		{"expired session", &s3fault.Rule{Method: "GET", Path: "/src/*", Fault: s3fault.Error, Status: 400, Code: "ExpiredToken", Times: -1},
			true, "expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := setup(t)
			s.faults.AddRule(c.rule)
			o := processAll(t, context.Background(), newTestWorker(s, Config{}), testRun(t), items("src", keys...))
			check(t, o, c.retry, c.msg)
		})
	}
	t.Run("access denied on outputs midway", func(t *testing.T) {
		s := setup(t)
		s.faults.AddRule(&s3fault.Rule{Method: "PUT", Path: "/out/v1/thumb/d.jpg", Fault: s3fault.Error, Status: 403, Code: "AccessDenied", Times: -1})
		o := processAll(t, context.Background(), newTestWorker(s, Config{Processors: 1, Fetchers: 1, Uploaders: 1}), testRun(t), items("src", keys...))
		check(t, o, false, "access denied")
		if _, ok := o.results[3]; ok {
			t.Error("d.jpg has a result")
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		s := setup(t)
		// The SDK's default chain with nothing to find: no variables, no
		// files, no instance or container role.
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
			"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
			t.Setenv(v, "")
		}
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
		cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		client := newClient(s.URL, cfg.Credentials)
		o := processAll(t, context.Background(), New(client, Config{Processors: 2}), testRun(t), items("src", keys...))
		check(t, o, true, "no AWS credentials")
		if len(o.results) != 0 {
			t.Errorf("%d results", len(o.results))
		}
	})
}
