// Package worker is the image pipeline of an array child: fetch → process →
// upload stages joined by bounded channels. Fetch and upload are sized for
// I/O and capped by bytes in flight; process is sized to the CPUs the
// container may really use. Every item ends as exactly one result: outputs,
// skipped (outputs current), or failed with a code and a readable reason.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
)

// S3API is the part of the S3 client the worker uses.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Config sizes and guards the pipeline. Zero values take the defaults.
type Config struct {
	Processors       int           // image goroutines (default: CPUs the container may use)
	Fetchers         int           // download goroutines (default 4 × Processors)
	Uploaders        int           // upload goroutines (default 4 × Processors)
	MaxInFlightBytes int64         // source bytes held at once (default 256 MiB)
	MaxSourceBytes   int64         // larger sources fail with SourceTooLarge (default 100 MiB)
	MaxPixels        int64         // width × height × pages budget (default 100 MP)
	ItemTimeout      time.Duration // per-item image deadline (default 60 s)
	MaxStuck         int           // abandoned libvips calls before the attempt gives up (default 2 × Processors)
	Incremental      bool          // skip items whose outputs carry this source ETag and recipe hash
	CacheControl     string        // Cache-Control of outputs (default "public, max-age=86400")
	Log              *slog.Logger
}

// DefaultItemTimeout is the per-item image deadline.
const DefaultItemTimeout = 60 * time.Second

// Sizes reports the pool sizes a config resolves to.
func (c Config) Sizes() (processors, fetchers, uploaders int) {
	c.defaults()
	return c.Processors, c.Fetchers, c.Uploaders
}

func (c *Config) defaults() {
	if c.Processors <= 0 {
		c.Processors = UsableCPUs()
	}
	if c.Fetchers <= 0 {
		c.Fetchers = 4 * c.Processors
	}
	if c.Uploaders <= 0 {
		c.Uploaders = 4 * c.Processors
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = 256 << 20
	}
	if c.MaxSourceBytes <= 0 {
		c.MaxSourceBytes = 100 << 20
	}
	if c.MaxInFlightBytes < c.MaxSourceBytes {
		c.MaxInFlightBytes = c.MaxSourceBytes
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = 100_000_000
	}
	if c.ItemTimeout <= 0 {
		c.ItemTimeout = DefaultItemTimeout
	}
	if c.MaxStuck <= 0 {
		c.MaxStuck = 2 * c.Processors
	}
	if c.CacheControl == "" {
		c.CacheControl = "public, max-age=86400"
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Worker processes tasks; it implements batch.Processor.
type Worker struct {
	s3    S3API
	cfg   Config
	stuck atomic.Int32
}

// New makes a worker.
func New(client S3API, cfg Config) *Worker {
	cfg.defaults()
	return &Worker{s3: client, cfg: cfg}
}

// job is one item moving through the stages.
type job struct {
	task    batch.Task
	start   time.Time
	etag    string
	data    []byte
	size    int64 // source bytes
	held    int64 // bytes held in the in-flight semaphore
	outputs []rendered
}

type rendered struct {
	variant imgbatch.Variant
	key     string
	data    []byte
	width   int
	height  int
}

// Process runs the three stages until tasks is closed and every task has
// its result. A fatal error (credentials, missing output bucket) cancels
// the pipeline and is returned.
func (w *Worker) Process(ctx context.Context, run *imgbatch.Run, tasks <-chan batch.Task, emit func(imgbatch.Result)) error {
	g, ctx := errgroup.WithContext(ctx)
	mem := semaphore.NewWeighted(w.cfg.MaxInFlightBytes)
	toProcess := make(chan *job, w.cfg.Processors)
	toUpload := make(chan *job, w.cfg.Uploaders)

	finish := func(j *job, err error) error {
		if j.held > 0 {
			mem.Release(j.held)
			j.held = 0
		}
		var fe *FatalError
		if errors.As(err, &fe) {
			return err
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err() // shutting down: not a result, the checkpoint resumes it
		}
		emit(w.result(j, err))
		return nil
	}

	fetchers := &errgroup.Group{}
	for i := 0; i < w.cfg.Fetchers; i++ {
		fetchers.Go(func() error {
			for t := range tasks {
				j := &job{task: t, start: time.Now()}
				skip, err := w.fetch(ctx, run, j, mem)
				if err != nil || skip {
					if err := finish(j, err); err != nil {
						return err
					}
					continue
				}
				select {
				case toProcess <- j:
				case <-ctx.Done():
					return finish(j, ctx.Err())
				}
			}
			return nil
		})
	}
	g.Go(func() error { defer close(toProcess); return fetchers.Wait() })

	processors := &errgroup.Group{}
	for i := 0; i < w.cfg.Processors; i++ {
		processors.Go(func() error {
			for j := range toProcess {
				err := w.process(ctx, run, j)
				// The source bytes are no longer needed once rendered.
				j.data = nil
				if err != nil {
					if err := finish(j, err); err != nil {
						return err
					}
					continue
				}
				select {
				case toUpload <- j:
				case <-ctx.Done():
					return finish(j, ctx.Err())
				}
			}
			return nil
		})
	}
	g.Go(func() error { defer close(toUpload); return processors.Wait() })

	for i := 0; i < w.cfg.Uploaders; i++ {
		g.Go(func() error {
			for j := range toUpload {
				if err := finish(j, w.upload(ctx, run, j)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// result turns a finished job into its record.
func (w *Worker) result(j *job, err error) imgbatch.Result {
	r := imgbatch.Result{Index: j.task.Index, Item: j.task.Item, Millis: time.Since(j.start).Milliseconds()}
	if j.etag != "" && r.Item.ETag == "" {
		r.Item.ETag = j.etag
	}
	var ie *ItemError
	switch {
	case errors.Is(err, errSkip):
		r.Status = imgbatch.StatusSkipped
		r.Message = "skipped: outputs are current"
		return r
	case errors.As(err, &ie):
		r.Status = imgbatch.StatusFailed
		r.ErrorCode, r.HTTPStatus, r.Message = ie.Code, ie.HTTPStatus, ie.Msg
		r.BytesIn = j.size
		return r
	case err != nil:
		r.Status = imgbatch.StatusFailed
		r.ErrorCode, r.HTTPStatus, r.Message = CodeInternal, 500, oneLine(err)
		return r
	}
	r.Status = imgbatch.StatusSucceeded
	r.BytesIn = j.size
	for _, o := range j.outputs {
		r.Outputs = append(r.Outputs, imgbatch.Output{Variant: o.variant.Name, Key: o.key, Width: o.width, Height: o.height, Bytes: int64(len(o.data))})
		r.BytesOut += int64(len(o.data))
	}
	return r
}

// UsableCPUs is the number of CPUs this process may really use: the cgroup
// CPU quota (Fargate and Batch limit vCPUs below the host's cores) or, without
// one, GOMAXPROCS.
func UsableCPUs() int {
	n := runtime.GOMAXPROCS(0)
	if q := cgroupCPUs(); q > 0 && q < n {
		n = q
	}
	if n < 1 {
		n = 1
	}
	return n
}
