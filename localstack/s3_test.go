package localstack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// TestS3DirReusedWithOddKeys is the `imgbatch local` of issue 18 at the
// S3 layer: a source "/x.jpg" and the worker's "thumb//x.jpg" written, the
// server stopped, a second server on the same dir lists and reads every
// bucket (it answered 500 on every listing with gofakes3's layout).
func TestS3DirReusedWithOddKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s3")
	srv, err := StartS3(dir, "source", "output")
	if err != nil {
		t.Fatal(err)
	}
	c := s3test.NewClient(srv.URL)
	s3test.Put(t, c, "source", "/x.jpg", []byte("src"))
	s3test.Put(t, c, "output", "thumb//x.jpg", []byte("thumb"))
	s3test.Put(t, c, "output", "a/../b.jpg", []byte("b"))
	srv.Close()

	again, err := StartS3(dir, "source", "output")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	c = s3test.NewClient(again.URL)
	for bucket, want := range map[string]string{"source": "/x.jpg", "output": "a/../b.jpg|thumb//x.jpg"} {
		out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("list %s after restart: %v", bucket, err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if strings.Join(keys, "|") != want {
			t.Errorf("%s lists %q after restart, want %s", bucket, keys, want)
		}
	}
	if got := string(s3test.Get(t, c, "output", "thumb//x.jpg")); got != "thumb" {
		t.Errorf("thumb//x.jpg reads %q", got)
	}
}

// TestS3OldDirRefused: a --dir holding gofakes3's layout fails at once
// with a message that names the way out, instead of serving 500s.
func TestS3OldDirRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "metadata", "source"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := StartS3(dir, "source")
	if err == nil || !strings.Contains(err.Error(), "older imgbatch") || !strings.Contains(err.Error(), "fresh --dir") {
		t.Fatalf("StartS3 on an old layout: %v", err)
	}
}
