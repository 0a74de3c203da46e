package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch/localstack"
)

// TestSDKWritesNoPlainTextLogs: the SDK's own log lines (its default is
// plain text on stderr) must not break the one-JSON-object-per-line logs
// that CloudWatch Logs Insights parses. A checksum-mode GET of an object
// stored without a checksum is what made the SDK write one per GET.
func TestSDKWritesNoPlainTextLogs(t *testing.T) {
	srv, err := localstack.StartS3("", "source")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Stored with a plain HTTP PUT: no checksum kept with the object.
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/source/plain.bin", strings.NewReader("no checksum here"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain PUT: %v %v", err, resp)
	}
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_S3": srv.URL, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}

	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	func() {
		defer func() { os.Stderr = stderr }()
		cl, err := loadClients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			out, err := cl.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("source"), Key: aws.String("plain.bin"), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
		// Whatever the SDK logs goes through slog.
		cl.cfg.Logger.Logf("WARN", "retrying %s", "something")
	}()
	w.Close()
	plain, _ := io.ReadAll(r)
	if len(plain) > 0 {
		t.Errorf("the SDK wrote to stderr directly:\n%s", plain)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("log line is not JSON: %q", l)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"aws sdk","detail":"retrying something"`) || !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("the SDK's warning did not reach slog:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "no supported checksum") {
		t.Errorf("one line per unchecked GET:\n%s", logs.String())
	}
}
