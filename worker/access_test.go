package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3region"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// accessStack is the fake S3 with every request recorded, optionally with
// buckets in other regions.
func accessStack(t *testing.T, regions map[string]string, buckets ...string) (*s3test.Server, *s3test.Recorder) {
	t.Helper()
	rec := &s3test.Recorder{}
	srv := s3test.New(t, s3test.Options{Buckets: buckets, Wrap: func(h http.Handler) http.Handler {
		return rec.Wrap(s3test.InRegion(regions)(h))
	}})
	return srv, rec
}

// checkHeaders fails the test for each recorded request on bucket whose
// header name is not want ("" = must be absent).
func checkHeaders(t *testing.T, reqs []s3test.Request, bucket, method, name, want string) int {
	t.Helper()
	n := 0
	for _, r := range reqs {
		if r.Bucket != bucket || (method != "" && r.Method != method) {
			continue
		}
		n++
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s s3://%s/%s: %s = %q, want %q", r.Method, r.Bucket, r.Key, name, got, want)
		}
	}
	return n
}

// TestAccessHeadersOnEveryRequest runs the worker (incremental on: HEADs of
// outputs and sources, GETs, PUTs, the HeadBucket preflight) and checks what
// S3 received: SSE-KMS with the key on every output PUT, the expected
// owners and requester pays on every request of their side; and none of
// these headers on a run that sets nothing.
func TestAccessHeadersOnEveryRequest(t *testing.T) {
	srv, rec := accessStack(t, nil, "src", "out")
	for i := range 3 {
		s3test.Put(t, srv.Client, "src", fmt.Sprintf("p%d.jpg", i), photo(t, 200, 150, false))
	}
	its := items("src", "p0.jpg", "p1.jpg", "p2.jpg")
	const key = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"

	run := testRun(t)
	run.Access = imgbatch.Access{SSE: imgbatch.SSEKMS, SSEKMSKeyID: key, BucketKey: true,
		SourceOwner: "111111111111", OutputOwner: "222222222222", SourceRequesterPays: true, OutputRequesterPays: true}
	rec.Reset()
	w := New(srv.Client, Config{Processors: 2, Incremental: true})
	o := processAll(t, context.Background(), w, run, its)
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, r := range o.results {
		if r.Status != imgbatch.StatusSucceeded {
			t.Fatalf("item %d: %s %s %s", i, r.Status, r.ErrorCode, r.Message)
		}
	}
	reqs := rec.Requests()
	puts := checkHeaders(t, reqs, "out", http.MethodPut, "X-Amz-Server-Side-Encryption", "aws:kms")
	checkHeaders(t, reqs, "out", http.MethodPut, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", key)
	checkHeaders(t, reqs, "out", http.MethodPut, "X-Amz-Server-Side-Encryption-Bucket-Key-Enabled", "true")
	if puts != 6 {
		t.Errorf("%d PUTs on the output bucket, want 6 (3 items × 2 variants)", puts)
	}
	if n := checkHeaders(t, reqs, "out", "", "X-Amz-Expected-Bucket-Owner", "222222222222"); n <= puts {
		t.Errorf("%d requests on the output bucket: want the PUTs, the incremental HEADs and the preflight", n)
	}
	heads := 0
	for _, r := range reqs {
		if r.Bucket == "out" && r.Method == http.MethodHead && r.Key != "" {
			heads++
			if got := r.Header.Get("X-Amz-Request-Payer"); got != "requester" {
				t.Errorf("HEAD s3://out/%s: x-amz-request-payer %q", r.Key, got)
			}
		}
	}
	if heads == 0 {
		t.Error("no incremental HEAD on the output bucket")
	}
	if n := checkHeaders(t, reqs, "src", "", "X-Amz-Expected-Bucket-Owner", "111111111111"); n < 3 {
		t.Errorf("%d requests on the source bucket, want at least the 3 GETs", n)
	}
	checkHeaders(t, reqs, "src", "", "X-Amz-Request-Payer", "requester")

	// Again: the outputs are current, so the sources are only HEADed (the
	// manifest items pin no version) and every item is skipped.
	rec.Reset()
	o = processAll(t, context.Background(), New(srv.Client, Config{Processors: 2, Incremental: true}), run, its)
	for i, r := range o.results {
		if r.Status != imgbatch.StatusSkipped {
			t.Errorf("second pass, item %d: %s %s", i, r.Status, r.Message)
		}
	}
	reqs = rec.Requests()
	if n := checkHeaders(t, reqs, "src", http.MethodHead, "X-Amz-Expected-Bucket-Owner", "111111111111"); n != 3 {
		t.Errorf("%d source HEADs on the second pass, want 3", n)
	}
	checkHeaders(t, reqs, "src", http.MethodHead, "X-Amz-Request-Payer", "requester")

	// A plain run (into another prefix: nothing is current) sends none.
	plain := testRun(t)
	plain.OutputPrefix = "plain"
	rec.Reset()
	if o := processAll(t, context.Background(), New(srv.Client, Config{Processors: 2, Incremental: true}), plain, its); o.err != nil {
		t.Fatal(o.err)
	}
	reqs = rec.Requests()
	for _, h := range []string{"X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Expected-Bucket-Owner", "X-Amz-Request-Payer"} {
		checkHeaders(t, reqs, "out", "", h, "")
		checkHeaders(t, reqs, "src", "", h, "")
	}
}

// TestWrongOwner: S3 refuses a wrong expected owner with 403; on the
// source it fails the item with a message that names the flag, on the
// output it ends the attempt (every item would fail).
func TestWrongOwner(t *testing.T) {
	srv := s3test.New(t, s3test.Options{Buckets: []string{"src", "out"}, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o := r.Header.Get("X-Amz-Expected-Bucket-Owner"); o != "" && o != "999999999999" {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	s3test.Put(t, srv.Client, "src", "a.jpg", photo(t, 120, 90, false))
	w := New(srv.Client, Config{Processors: 1})

	run := testRun(t)
	run.Access = imgbatch.Access{SourceOwner: "111111111111"}
	o := processAll(t, context.Background(), w, run, items("src", "a.jpg"))
	if o.err != nil {
		t.Fatal(o.err)
	}
	if r := o.results[0]; r.ErrorCode != CodeAccessDenied || !strings.Contains(r.Message, "--source-bucket-owner") {
		t.Errorf("wrong source owner: %s %s %q, want AccessDenied naming --source-bucket-owner", r.Status, r.ErrorCode, r.Message)
	}

	run = testRun(t)
	run.Access = imgbatch.Access{OutputOwner: "111111111111"}
	o = processAll(t, context.Background(), w, run, items("src", "a.jpg"))
	var fe *FatalError
	if !errors.As(o.err, &fe) || fe.Retry || !strings.Contains(fe.Error(), "--output-bucket-owner") {
		t.Errorf("wrong output owner: err %v, want a fatal error (no retry) naming --output-bucket-owner", o.err)
	}
}

// TestBucketsInOtherRegions: the source and output buckets answer requests
// signed for the client's region (us-east-1) with 301 and their region, as
// S3 does. A plain client fails every item; through s3region.Router each
// bucket's first request learns its region and the items succeed.
func TestBucketsInOtherRegions(t *testing.T) {
	regions := map[string]string{"src": "eu-west-1", "out": "ap-southeast-2"}
	srv, rec := accessStack(t, regions, "src", "out")
	ctx := context.Background()
	inRegion := func(region string) *s3.Client {
		return s3test.NewClient(srv.URL, func(o *s3.Options) { o.Region = region })
	}
	for i := range 3 {
		s3test.Put(t, inRegion("eu-west-1"), "src", fmt.Sprintf("p%d.jpg", i), photo(t, 200, 150, false))
	}
	its := items("src", "p0.jpg", "p1.jpg", "p2.jpg")

	o := processAll(t, ctx, New(srv.Client, Config{Processors: 2}), testRun(t), its)
	if o.err == nil {
		for i, r := range o.results {
			if r.Status == imgbatch.StatusSucceeded {
				t.Fatalf("item %d succeeded without the router: the fake does not redirect", i)
			}
		}
	}

	router := s3region.New(srv.Client, nil)
	rec.Reset()
	o = processAll(t, ctx, New(router, Config{Processors: 2, Incremental: true}), testRun(t), its)
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, r := range o.results {
		if r.Status != imgbatch.StatusSucceeded || len(r.Outputs) != 2 {
			t.Fatalf("item %d: %s %s %s", i, r.Status, r.ErrorCode, r.Message)
		}
		for _, out := range r.Outputs {
			if got := s3test.Get(t, inRegion("ap-southeast-2"), "out", out.Key); int64(len(got)) != out.Bytes {
				t.Errorf("%s: %d bytes stored, want %d (the PUT sent again after the redirect)", out.Key, len(got), out.Bytes)
			}
		}
	}
	for b, want := range regions {
		if got := router.Region(b); got != want {
			t.Errorf("router's region of %s = %q, want %q", b, got, want)
		}
	}
	// After the first redirects, every request is signed for its bucket's region.
	redirects := 0
	for _, r := range rec.Requests() {
		if r.Region != regions[r.Bucket] {
			redirects++
		}
	}
	if redirects == 0 || redirects > 2*4 {
		t.Errorf("%d requests signed for the wrong region, want a few (the first on each bucket, per concurrent fetcher/uploader)", redirects)
	}
}
