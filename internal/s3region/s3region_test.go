package s3region_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch/internal/s3region"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// TestPutAfterRedirect: the first request on a bucket in another region is
// a PUT; the router learns the region from the 301 and sends the whole
// body again, signed for that region. Buckets of the client's own region
// are never redirected, and an unknown bucket is not remembered.
func TestPutAfterRedirect(t *testing.T) {
	rec := &s3test.Recorder{}
	srv := s3test.New(t, s3test.Options{Buckets: []string{"far", "near"}, Wrap: func(h http.Handler) http.Handler {
		return rec.Wrap(s3test.InRegion(map[string]string{"far": "eu-west-1"})(h))
	}})
	r := s3region.New(srv.Client, nil)
	ctx := context.Background()
	body := bytes.Repeat([]byte("imgbatch "), 10_000)
	for _, b := range []string{"far", "near"} {
		if _, err := r.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("put %s: %v", b, err)
		}
		got := s3test.Get(t, s3test.NewClient(srv.URL, func(o *s3.Options) { o.Region = map[string]string{"far": "eu-west-1", "near": "us-east-1"}[b] }), b, "k")
		if !bytes.Equal(got, body) {
			t.Errorf("%s: stored %d bytes, want the %d sent", b, len(got), len(body))
		}
	}
	if got := r.Region("far"); got != "eu-west-1" {
		t.Errorf("region of far = %q", got)
	}
	if got := r.Region("near"); got != "" {
		t.Errorf("region of near = %q, want none learnt", got)
	}
	var farPuts, nearPuts int
	for _, q := range rec.Requests() {
		switch {
		case q.Method == http.MethodPut && q.Bucket == "far":
			farPuts++
		case q.Method == http.MethodPut && q.Bucket == "near":
			nearPuts++
		}
	}
	if farPuts != 2 || nearPuts != 1 {
		t.Errorf("PUTs: far %d (want 2: refused, then in eu-west-1), near %d (want 1)", farPuts, nearPuts)
	}
	// A second request on far goes to its region at once.
	rec.Reset()
	if _, err := r.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("far"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.Requests(); len(reqs) != 1 || reqs[0].Region != "eu-west-1" {
		t.Errorf("second request on far: %+v, want one signed for eu-west-1", reqs)
	}
}

// TestMoved reads the region only from a refusal that carries it.
func TestMoved(t *testing.T) {
	if _, ok := s3region.Moved(errors.New("plain")); ok {
		t.Error("a plain error is not a redirect")
	}
	srv := s3test.New(t, s3test.Options{Buckets: []string{"b"}})
	_, err := srv.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("missing")})
	if _, ok := s3region.Moved(err); err == nil || ok {
		t.Errorf("404 (%v) is not a redirect", err)
	}
}
