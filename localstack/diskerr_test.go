//go:build linux

package localstack

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/imgbatch/imgbatch/internal/s3err"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// countingClient counts the HTTP requests the SDK sends.
type countingClient struct{ n atomic.Int64 }

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultClient.Do(r)
}

// patientS3 is an SDK client with the workers' patience (8 attempts).
func patientS3(url string, hc *countingClient) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true, HTTPClient: hc,
		Credentials: aws.AnonymousCredentials{},
		Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 8 })})
}

// TestS3WriteErrorsOfTheDataDir: when the embedded S3's data directory is
// full or read-only, a PUT fails at once (one attempt, not the SDK's
// minute of retries of a 500) with 507 InsufficientStorage naming the
// directory and the cause, and the failed object is not there afterwards
// (nothing half-written). Whatever backend stores the objects.
func TestS3WriteErrorsOfTheDataDir(t *testing.T) {
	dir := testutil.Tmpfs(t, "2m")
	srv, err := StartS3(dir, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	hc := &countingClient{}
	cl := patientS3(srv.URL, hc)
	put := func(key string, size int) error {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Body: bytes.NewReader(bytes.Repeat([]byte{'x'}, size))})
		return err
	}
	if err := put("fits.bin", 256<<10); err != nil {
		t.Fatalf("a PUT that fits: %v", err)
	}
	check := func(what, key string, err error, cause string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InsufficientStorage" || s3err.Status(err) != http.StatusInsufficientStorage {
			t.Fatalf("%s: %v, want 507 InsufficientStorage", what, err)
		}
		if !strings.Contains(ae.ErrorMessage(), srv.Dir) || !strings.Contains(ae.ErrorMessage(), cause) {
			t.Errorf("%s: message %q does not name %s and %q", what, ae.ErrorMessage(), srv.Dir, cause)
		}
		_, err = cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String(key)})
		if !s3err.IsNotFound(err) {
			t.Errorf("%s: the failed object %s is there afterwards (HEAD: %v)", what, key, err)
		}
	}

	hc.n.Store(0)
	err = put("too-big.bin", 3<<20)
	if n := hc.n.Load(); n != 1 {
		t.Errorf("disk full: %d attempts, want 1 (a 507 is not retried)", n)
	}
	check("disk full", "too-big.bin", err, "no space left on device")

	testutil.ReadOnly(t, dir)
	hc.n.Store(0)
	err = put("small.bin", 10)
	if n := hc.n.Load(); n != 1 {
		t.Errorf("read-only: %d attempts, want 1", n)
	}
	check("read-only", "small.bin", err, "read-only file system")
	// Reads still work.
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("fits.bin")}); err != nil {
		t.Errorf("HEAD on a read-only data dir: %v", err)
	}
}
