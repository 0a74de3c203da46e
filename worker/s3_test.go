package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/s3fault"
)

// testS3 is a real S3 endpoint for the worker's tests: the kit's fake S3
// behind the s3fault proxy (tests add rules to break given requests), and
// the real SDK client with the standard retryer (backoff with jitter), its
// waits capped at a few ms.
type testS3 struct {
	URL    string
	Client *s3.Client
	faults *s3fault.Server
}

const maxAttempts = 4 // SDK attempts per request in these tests

func newTestS3(t testing.TB, buckets ...string) *testS3 {
	t.Helper()
	fake := s3test.Start(t, buckets...)
	proxy, err := s3fault.Start(s3fault.Config{Target: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return &testS3{URL: proxy.URL, faults: proxy, Client: newClient(proxy.URL, credentials.NewStaticCredentialsProvider("x", "x", ""))}
}

func newClient(url string, creds aws.CredentialsProvider) *s3.Client {
	return s3test.NewClient(url, s3test.Credentials(creds), s3test.Retries(maxAttempts, 5*time.Millisecond))
}

func (s *testS3) put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	s3test.Put(t, s.Client, bucket, key, body)
}

func (s *testS3) head(t testing.TB, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	return s3test.Head(t, s.Client, bucket, key)
}

func (s *testS3) get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	return s3test.Get(t, s.Client, bucket, key)
}

// photo makes a photo-like JPEG (or PNG) of w×h.
func photo(t testing.TB, w, h int, asPNG bool) []byte {
	t.Helper()
	return testutil.PhotoFile(t, w, h, asPNG)
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

func items(bucket string, keys ...string) []imgbatch.Item { return itemtest.Items(bucket, keys...) }

func newTestWorker(s *testS3, cfg Config) *Worker {
	if cfg.Processors == 0 {
		cfg.Processors = 2
	}
	return New(s.Client, cfg)
}
