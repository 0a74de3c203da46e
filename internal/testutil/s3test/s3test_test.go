package s3test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestServer: buckets exist, objects round-trip, Cache-Control is kept as
// S3 keeps it, and Wrap sees the requests.
func TestServer(t *testing.T) {
	var n atomic.Int64
	s := New(t, Options{Buckets: []string{"a", "b"}, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1); h.ServeHTTP(w, r) })
	}, Client: []func(*s3.Options){Retries(2, 0)}})
	s.Put(t, "a", "x/1", []byte("one"))
	if got := string(s.Get(t, "a", "x/1")); got != "one" {
		t.Errorf("got %q", got)
	}
	_, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("c"),
		Body: strings.NewReader("c"), CacheControl: aws.String("public, max-age=60")})
	if err != nil {
		t.Fatal(err)
	}
	if h := s.Head(t, "b", "c"); aws.ToString(h.CacheControl) != "public, max-age=60" {
		t.Errorf("Cache-Control %q", aws.ToString(h.CacheControl))
	}
	if !Exists(s.Client, "a", "x/1") || Exists(s.Client, "a", "x/2") || Count(t, s.Client, "a", "x/") != 1 {
		t.Error("Exists or Count is wrong")
	}
	if _, err := Read(s.Client, "nope", "k"); err == nil || !strings.Contains(err.Error(), "s3://nope/k") {
		t.Errorf("Read of a missing bucket: %v", err)
	}
	if n.Load() == 0 {
		t.Error("Wrap saw no request")
	}
	CreateBuckets(t, s.Client, "ccc")
	if ok, err := s.Backend.BucketExists("ccc"); !ok || err != nil {
		t.Errorf("bucket ccc: %v %v", ok, err)
	}
}
