package worker

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/imgbatch/imgbatch"
)

// testS3 is a real S3 endpoint for the worker's tests: gofakes3 (memory
// backend) behind a fault injector, and the real SDK client with the
// standard retryer (backoff with jitter), its waits capped at a few ms.
type testS3 struct {
	URL    string
	Client *s3.Client
	faults *faultInjector
}

const maxAttempts = 4 // SDK attempts per request in these tests

func newTestS3(t testing.TB, buckets ...string) *testS3 {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	fi := &faultInjector{next: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()}
	srv := httptest.NewServer(fi)
	t.Cleanup(srv.Close)
	return &testS3{URL: srv.URL, faults: fi, Client: newClient(srv.URL, credentials.NewStaticCredentialsProvider("x", "x", ""))}
}

func newClient(url string, creds aws.CredentialsProvider) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  creds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = 5 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
}

func (s *testS3) put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	_, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

func (s *testS3) head(t testing.TB, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	h, err := s.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head s3://%s/%s: %v", bucket, key, err)
	}
	return h
}

func (s *testS3) get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	out, err := s.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// faultInjector sits in front of gofakes3 and breaks requests that match
// a rule: an S3 error response, a connection reset before any response, or
// a response whose body breaks off halfway.
type faultInjector struct {
	next  http.Handler
	mu    sync.Mutex
	rules []*fault
}

type faultKind int

const (
	faultStatus   faultKind = iota // answer with status and an S3 error code
	faultReset                     // close the connection without answering
	faultTruncate                  // send the headers and half the body, then close
)

type fault struct {
	method string // "" matches any
	path   string // request path, e.g. "/src/a.jpg"; matches a prefix when it ends in "*"
	kind   faultKind
	status int
	code   string
	times  int // how many requests to break; < 0 breaks all
	hits   atomic.Int32
}

func (f *fault) matches(r *http.Request) bool {
	if f.method != "" && r.Method != f.method {
		return false
	}
	if p, ok := strings.CutSuffix(f.path, "*"); ok {
		return strings.HasPrefix(r.URL.Path, p)
	}
	return r.URL.Path == f.path
}

// add installs a rule and returns it (its hits count the broken requests).
func (fi *faultInjector) add(f *fault) *fault {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.rules = append(fi.rules, f)
	return f
}

func (fi *faultInjector) pick(r *http.Request) *fault {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	for _, f := range fi.rules {
		if f.matches(r) && (f.times < 0 || int(f.hits.Load()) < f.times) {
			f.hits.Add(1)
			return f
		}
	}
	return nil
}

// cacheControlHeader carries Cache-Control through gofakes3, which keeps
// only X-Amz-*, Content-Type, Content-Disposition and Content-Encoding of
// a PUT; real S3 keeps Cache-Control too.
const cacheControlHeader = "X-Amz-Test-Cache-Control"

type cacheControlWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *cacheControlWriter) fix() {
	h := w.Header()
	if v := h.Get(cacheControlHeader); v != "" {
		h.Set("Cache-Control", v)
		h.Del(cacheControlHeader)
	}
}

func (w *cacheControlWriter) WriteHeader(code int) {
	w.fix()
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *cacheControlWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (fi *faultInjector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("Cache-Control"); v != "" && r.Method == http.MethodPut {
		r.Header.Set(cacheControlHeader, v)
	}
	f := fi.pick(r)
	if f == nil {
		cw := &cacheControlWriter{ResponseWriter: w}
		fi.next.ServeHTTP(cw, r)
		cw.fix() // a HEAD answer may never call WriteHeader
		return
	}
	switch f.kind {
	case faultStatus:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(f.status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected %s</Message><RequestId>test</RequestId></Error>`, f.code, f.code)
		}
	case faultReset:
		hijackClose(w)
	case faultTruncate:
		rec := httptest.NewRecorder()
		fi.next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		hijackClose(w)
	}
}

func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0) // RST, not FIN: "connection reset by peer"
	}
	_ = conn.Close()
}

// photo makes a photo-like JPEG (or PNG) of w×h: smooth gradients and
// some texture, so encoders do real work.
func photo(t testing.TB, w, h int, asPNG bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8((x*7 + y*13) ^ (x * y >> 5))
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), n, 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 88})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testRun is a run writing to bucket "out" under prefix "v1".
func testRun(t testing.TB, vs ...imgbatch.Variant) *imgbatch.Run {
	t.Helper()
	r := imgbatch.Recipe{Name: "test", Variants: vs}
	if len(vs) == 0 {
		r.Variants = []imgbatch.Variant{
			{Name: "thumb", Width: 64, Height: 64, Format: imgbatch.FormatJPEG},
			{Name: "small", Width: 96, Height: 96, Format: imgbatch.FormatWebP},
		}
	}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	return &imgbatch.Run{ID: "test-run", OutputBucket: "out", OutputPrefix: "v1", Recipe: r, RecipeHash: r.Hash()}
}

// outcome of one Process call.
type outcome struct {
	results map[int]imgbatch.Result
	emits   int
	err     error
}

// processAll feeds items to Process and collects the results, failing the
// test when a task gets two results.
func processAll(t testing.TB, ctx context.Context, w *Worker, run *imgbatch.Run, items []imgbatch.Item) outcome {
	t.Helper()
	tasks := make(chan imgbatch.Task)
	stop := make(chan struct{})
	go func() {
		defer close(tasks)
		for i, it := range items {
			select {
			case tasks <- imgbatch.Task{Index: i, Item: it}:
			case <-stop:
				return
			}
		}
	}()
	var mu sync.Mutex
	o := outcome{results: map[int]imgbatch.Result{}}
	o.err = w.Process(ctx, run, tasks, func(r imgbatch.Result) {
		mu.Lock()
		defer mu.Unlock()
		o.emits++
		if prev, dup := o.results[r.Index]; dup {
			t.Errorf("task %d has two results: %+v and %+v", r.Index, prev, r)
		}
		o.results[r.Index] = r
	})
	close(stop)
	return o
}

func items(bucket string, keys ...string) []imgbatch.Item {
	out := make([]imgbatch.Item, len(keys))
	for i, k := range keys {
		out[i] = imgbatch.Item{Bucket: bucket, Key: k}
	}
	return out
}

func newTestWorker(s *testS3, cfg Config) *Worker {
	if cfg.Processors == 0 {
		cfg.Processors = 2
	}
	return New(s.Client, cfg)
}
