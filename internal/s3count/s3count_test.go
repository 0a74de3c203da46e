package s3count_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch/internal/s3count"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// TestCounter sends each kind of request to a work bucket and a data
// bucket through the SDK and the fake S3 (which fails the first HEAD with
// a 503: the retried attempt counts too, as S3 rates it).
func TestCounter(t *testing.T) {
	var failedOnce atomic.Bool
	srv := s3test.New(t, s3test.Options{Buckets: []string{"work", "src"}, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead && failedOnce.CompareAndSwap(false, true) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	c := &s3count.Counter{}
	c.SetWorkBucket("work")
	cl := s3test.NewClient(srv.URL, s3test.Retries(3, time.Millisecond), c.Install)
	ctx := context.Background()
	s3test.Put(t, cl, "work", "runs/r/claims/000001.json", []byte("{}"))
	s3test.Put(t, cl, "src", "a.jpg", []byte("x"))
	s3test.Get(t, cl, "work", "runs/r/claims/000001.json")
	s3test.Get(t, cl, "src", "a.jpg")
	s3test.Head(t, cl, "src", "a.jpg") // 503, then 200
	if _, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("work"), Prefix: aws.String("runs/")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("b.jpg"), CopySource: aws.String("src/a.jpg")}); err != nil {
		t.Fatal(err)
	}
	got := c.Snapshot()
	want := s3count.Requests{
		Control: s3count.Counts{GET: 1, PUT: 1, LIST: 1},
		Data:    s3count.Counts{GET: 1, PUT: 1, HEAD: 2, COPY: 1},
	}
	if got != want {
		t.Errorf("counted %+v, want %+v", got, want)
	}
	if d := got.Sub(s3count.Requests{Control: s3count.Counts{GET: 1}}); d.Control.Total() != 2 || d.Data.Total() != 5 {
		t.Errorf("Sub: %+v", d)
	}
}

// TestNilCounter: a runner without a counter counts nothing and fails nothing.
func TestNilCounter(t *testing.T) {
	var c *s3count.Counter
	var o s3.Options
	c.Install(&o)
	if len(o.APIOptions) != 0 || !c.Snapshot().IsZero() {
		t.Error("a nil counter installed something or counted")
	}
}
