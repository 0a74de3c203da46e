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
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/heic"
	"github.com/imgbatch/imgbatch/internal/s3err"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// S3API is the part of the S3 client the worker uses (*s3.Client).
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	// CopyObject writes a keepSmallerSource output: a server-side copy of
	// the source (copy.go).
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

// Config sizes and guards the pipeline. Zero values take the defaults.
type Config struct {
	Processors       int           // image goroutines (default: CPUs the container may use)
	Fetchers         int           // download goroutines (default 2 × Processors)
	Uploaders        int           // upload goroutines (default 4 × Processors)
	MaxInFlightBytes int64         // source bytes held at once (default 256 MiB); a larger source takes it all
	MaxSourceBytes   int64         // larger sources fail with SourceTooLarge (default 100 MiB)
	MaxPixels        int64         // pixels of one frame, canvas included (default 100 MP)
	MaxTotalPixels   int64         // pixels of all frames or pages (default 10 × MaxPixels)
	MaxFrames        int           // frames of an animated GIF or WebP (default DefaultMaxFrames)
	ItemTimeout      time.Duration // per-item image deadline (default 30 s, plus SearchItemTimeout per searching variant)
	MaxStuck         int           // abandoned libvips calls before the attempt gives up (default 2 × Processors)
	S3Timeout        time.Duration // one S3 request, SDK retries included (default 5 min)
	Incremental      bool          // skip items whose outputs carry this source ETag and recipe hash
	CacheControl     string        // Cache-Control of outputs (default DefaultCacheControl)
	// HEIC decodes HEVC-coded HEIF in a helper process when libvips cannot
	// (default heic.Default(): on unless IMGBATCH_HEIC=off; --heic).
	HEIC *heic.Decoder
	Log  *slog.Logger

	// searchTimeout: ItemTimeout was left to the default, which grows by
	// SearchItemTimeout per searching variant of the run (itemTimeout).
	searchTimeout bool
}

// itemTimeout is the image deadline of an item of run: ItemTimeout, and,
// when that is the default, SearchItemTimeout more per variant that
// searches (a quality target, format auto, a keepSmallerSource cap).
func (c Config) itemTimeout(run *imgbatch.Run) time.Duration {
	d := c.ItemTimeout
	if !c.searchTimeout {
		return d
	}
	for _, v := range run.Recipe.Variants {
		if v.Target != nil || v.Format == imgbatch.FormatAuto || v.KeepSmallerSource {
			d += SearchItemTimeout
		}
	}
	return d
}

// Defaults of Config.
const (
	DefaultItemTimeout = 30 * time.Second
	// SearchItemTimeout is what each variant that searches (a quality
	// target, format auto, a keepSmallerSource byte cap) adds to the
	// default deadline: a search stops new probes past its work budget
	// (~15 s of a quiet core) or, as a safety net, 45 s (vips/search.go),
	// and an AVIF candidate of a large output takes seconds per encode,
	// so a two-variant auto recipe ran past a flat 30 s on a busy 2-core
	// machine (5 of 87 mixed images).
	SearchItemTimeout       = 30 * time.Second
	DefaultMaxPixels        = 100_000_000
	DefaultMaxFrames        = 1000
	DefaultMaxSourceBytes   = 100 << 20
	DefaultMaxInFlightBytes = 256 << 20
	DefaultS3Timeout        = 5 * time.Minute
	DefaultCacheControl     = "public, max-age=86400"
)

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
		// Two sources in flight per processor keep it fed from S3 (a 12 MP
		// JPEG takes longer to render than to fetch); each more holds a
		// source and its GC headroom: 8 fetchers on 2 cores peaked at
		// 163 MiB, 4 at 136 MiB, at the same images per CPU-second
		// (bench/results/*-gc-fetch-*). Small images on real S3 want more
		// (--fetchers).
		c.Fetchers = 2 * c.Processors
	}
	if c.Uploaders <= 0 {
		c.Uploaders = 4 * c.Processors
	}
	if c.MaxSourceBytes <= 0 {
		c.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	if c.MaxTotalPixels <= 0 {
		c.MaxTotalPixels = 10 * c.MaxPixels
	}
	if c.MaxFrames <= 0 {
		c.MaxFrames = DefaultMaxFrames
	}
	if c.ItemTimeout <= 0 {
		c.ItemTimeout = DefaultItemTimeout
		c.searchTimeout = true
	}
	if c.MaxStuck <= 0 {
		c.MaxStuck = 2 * c.Processors
	}
	if c.S3Timeout <= 0 {
		c.S3Timeout = DefaultS3Timeout
	}
	if c.CacheControl == "" {
		c.CacheControl = DefaultCacheControl
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.HEIC == nil {
		c.HEIC = heic.Default()
	}
}

// Worker processes tasks; it implements imgbatch.Processor.
type Worker struct {
	s3     S3API
	cfg    Config
	stuck  atomic.Int32 // libvips calls abandoned past their deadline and still running
	render renderFunc   // renderImage; tests replace it
}

// renderOptions are the worker's options of Render.
func (w *Worker) renderOptions() RenderOptions {
	return RenderOptions{HEIC: w.cfg.HEIC, MaxPixels: w.cfg.MaxPixels, MaxSourceBytes: w.cfg.MaxSourceBytes, CPUTime: w.cfg.ItemTimeout,
		MaxFrames: w.cfg.MaxFrames}
}

// renderImage is the production renderFunc: RenderWith with the worker's
// options.
func (w *Worker) renderImage(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, small bool) ([]vips.Result, *vips.Info, error) {
	return RenderWith(ctx, src, info, vs, caps, w.renderOptions(), small)
}

// New makes a worker. It starts libvips (vips.Start, with
// VIPS_BLOCK_UNTRUSTED) unless the caller already did.
func New(client S3API, cfg Config) *Worker {
	cfg.defaults()
	vips.Start(vips.Config{Concurrency: 1, Log: cfg.Log})
	w := &Worker{s3: client, cfg: cfg}
	w.render = w.renderImage
	return w
}

// job is one item moving through the stages.
type job struct {
	task    imgbatch.Task
	start   time.Time
	etag    string
	data    []byte
	size    int64 // source bytes
	held    int64 // bytes held in the in-flight semaphore
	outputs []rendered
	// keys are the item's possible output keys, per recipe variant in the
	// recipe's order: one per format it may write (one for a fixed
	// format; a FormatAuto variant's candidates, outputs.go), computed once
	// by newJob.
	keys [][]string
	// foreign says which output was made from another source, for the
	// result's message: outputsCurrent finds them (foreignAt, by key), the
	// output written to that key names it (outputs.go).
	foreign   string
	foreignAt map[string]string
	// own are the output keys outputsCurrent found made from this source;
	// stale those of them an auto variant no longer writes (its choice
	// changed), left in place and named in the result (outputs.go).
	own   map[string]bool
	stale []string
	// bigger names the keepSmallerSource outputs still bigger than the
	// source, for the result's message (outputs.go).
	bigger []string
	// timeCut: variants whose quality search the wall clock stopped
	// (searchcut.go).
	timeCut []string
	// budgetCut: variants whose search's work budget ran out before any
	// output met the target (searchcut.go).
	budgetCut []string

	image *imgbatch.ImageInfo // the source, for the catalog (catalog.go)
}

// newJob starts an item through the stages. An output key that cannot
// exist is a failure before any request: the job is returned with it, for
// its result.
// The keys follow the run's template (run.json's outputKey; the legacy
// layout when it has none), so an old run and its redrive write where they
// always did.
func newJob(run *imgbatch.Run, t imgbatch.Task) (*job, error) {
	j := &job{task: t, start: time.Now()}
	tmpl, err := run.KeyTemplate()
	if err != nil { // preflight refuses the run first; kept for direct callers
		return j, itemErr(CodeInternal, http.StatusBadRequest, "%v", err)
	}
	j.keys = make([][]string, len(run.Recipe.Variants))
	for i, v := range run.Recipe.Variants {
		keys, err := tmpl.Keys(run.OutputPrefix, v, t.Item.Bucket, t.Item.Key)
		if err != nil {
			return j, itemErr(CodeKeyTooLong, http.StatusBadRequest, "%v", err)
		}
		j.keys[i] = keys
	}
	return j, nil
}

type rendered struct {
	variant imgbatch.Variant
	key     string
	data    []byte
	width   int
	height  int
	format  string  // the format written (a FormatAuto variant's choice)
	quality int     // the q used
	score   float64 // measured SSIM, 0: not measured
	frames  int
	copied  bool  // a server-side copy of the source (KeepSmallerSource)
	size    int64 // bytes of a copy (data is nil); else len(data)
}

// Process runs fetch → process → upload until tasks is closed and every
// task taken has its result, then returns nil. Every task ends in exactly
// one emit (succeeded, skipped or failed with a code) unless the pipeline
// stops first: when ctx is cancelled, work in flight is abandoned and its
// tasks get no result, so the checkpoint resumes them. A FatalError (no
// credentials, missing output bucket, access denied on outputs, too many
// stuck libvips calls) cancels the pipeline and is returned. emit may
// block; it is called from several goroutines, never twice for one task.
func (w *Worker) Process(parent context.Context, run *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	if err := w.preflight(parent, run); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(parent)
	p := &pipeline{w: w, run: run, ctx: ctx, emit: emit, mem: semaphore.NewWeighted(w.cfg.MaxInFlightBytes),
		toProcess: make(chan *job, w.cfg.Processors), toUpload: make(chan *job, w.cfg.Processors)}
	var fetching, processing sync.WaitGroup
	fetching.Add(w.cfg.Fetchers)
	for range w.cfg.Fetchers {
		g.Go(func() error { defer fetching.Done(); return p.fetchLoop(tasks) })
	}
	g.Go(func() error { fetching.Wait(); close(p.toProcess); return nil })
	processing.Add(w.cfg.Processors)
	for range w.cfg.Processors {
		g.Go(func() error { defer processing.Done(); return p.processLoop() })
	}
	g.Go(func() error { processing.Wait(); close(p.toUpload); return nil })
	for range w.cfg.Uploaders {
		g.Go(p.uploadLoop)
	}
	return g.Wait()
}

// pipeline is one Process call: its stages, joined by channels, share
// the in-flight byte budget (mem) and the way a job ends.
type pipeline struct {
	w         *Worker
	run       *imgbatch.Run
	ctx       context.Context // cancelled when the pipeline stops
	emit      func(imgbatch.Result)
	mem       *semaphore.Weighted
	toProcess chan *job
	toUpload  chan *job
}

// finish ends a job: its result is emitted, except while shutting down
// (no result: the item is resumed). Only a fatal error is returned.
func (p *pipeline) finish(j *job, err error) error {
	p.release(j)
	var fe *FatalError
	if errors.As(err, &fe) {
		return err
	}
	if err != nil && err != errSkip && p.ctx.Err() != nil {
		return nil
	}
	res := p.w.result(j, err)
	j.data, j.outputs = nil, nil
	p.w.logResult(res)
	p.emit(res)
	return nil
}

// release gives back what a job holds of the in-flight budget; a job
// abandoned because the pipeline stops ends with it alone.
func (p *pipeline) release(j *job) {
	if j.held > 0 {
		p.mem.Release(j.held)
		j.held = 0
	}
}

// fetchLoop is one fetcher: tasks in, fetched jobs out to toProcess.
func (p *pipeline) fetchLoop(tasks <-chan imgbatch.Task) error {
	ctx := p.ctx
	for {
		var t imgbatch.Task
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case t, ok = <-tasks:
			if !ok {
				return nil
			}
		}
		j, err := newJob(p.run, t)
		if err == nil {
			err = p.w.fetch(ctx, p.run, j, p.mem)
		}
		if err != nil {
			if err := p.finish(j, err); err != nil {
				return err
			}
			continue
		}
		select {
		case p.toProcess <- j:
		case <-ctx.Done():
			p.release(j)
			return nil
		}
	}
}

// processLoop is one processor: fetched jobs in, rendered jobs out to
// toUpload.
func (p *pipeline) processLoop() error {
	ctx := p.ctx
	for j := range p.toProcess {
		if ctx.Err() != nil {
			p.release(j)
			continue // drain: fetchers may still be handing over
		}
		if err := p.w.process(ctx, p.run, j); err != nil {
			if err := p.finish(j, err); err != nil {
				return err
			}
			continue
		}
		// The source is no longer needed: hold only what the outputs take.
		if out := j.outputBytes(); out < j.held {
			p.mem.Release(j.held - out)
			j.held = out
		}
		j.data = nil
		select {
		case p.toUpload <- j:
		case <-ctx.Done():
			p.release(j)
		}
	}
	return nil
}

// uploadLoop is one uploader: rendered jobs in, results out.
func (p *pipeline) uploadLoop() error {
	for j := range p.toUpload {
		if p.ctx.Err() != nil {
			p.release(j)
			continue
		}
		if err := p.finish(j, p.w.upload(p.ctx, p.run, j)); err != nil {
			return err
		}
	}
	return nil
}

// preflight checks once per shard what would fail every item: the output
// bucket must exist, and there must be credentials to ask with. A 403 is
// left to the items (a role may write outputs without s3:ListBucket), and
// so is a transient error.
func (w *Worker) preflight(ctx context.Context, run *imgbatch.Run) error {
	if _, err := run.KeyTemplate(); err != nil {
		return fatal(false, "run %s: %w", run.ID, err)
	}
	octx, cancel := context.WithTimeout(ctx, w.cfg.S3Timeout)
	defer cancel()
	_, err := w.s3.HeadBucket(octx, &s3.HeadBucketInput{Bucket: aws.String(run.OutputBucket), ExpectedBucketOwner: outputAccess(run).owner})
	if err == nil || ctx.Err() != nil {
		return nil
	}
	var fe *FatalError
	switch status := s3err.Status(err); {
	case status == http.StatusNotFound:
		return fatal(false, "output bucket s3://%s does not exist: %w", run.OutputBucket, err)
	case status != http.StatusForbidden && errors.As(classifyS3(err, "head bucket s3://"+run.OutputBucket, true), &fe):
		return fe // no or rejected credentials
	}
	w.cfg.Log.Warn("output bucket check failed; the items will tell", "bucket", run.OutputBucket, "err", oneLine(err))
	return nil
}

func (j *job) outputBytes() int64 {
	var n int64
	for _, o := range j.outputs {
		n += int64(len(o.data))
	}
	return n
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
	r.Image = j.image
	if j.foreign != "" {
		r.Message = "overwrote an output of another source: " + j.foreign
	}
	r.Message = withNotes(r.Message, j.notes())
	for _, o := range j.outputs {
		out := o.output()
		r.Outputs = append(r.Outputs, out)
		r.BytesOut += out.Bytes
	}
	return r
}

// output is the result's record of a written variant.
func (o rendered) output() imgbatch.Output {
	out := imgbatch.Output{Variant: o.variant.Name, Key: o.key, Width: o.width, Height: o.height, Bytes: max(o.size, int64(len(o.data))),
		Format: o.format, Quality: o.quality, Score: o.score, Copied: o.copied}
	if o.frames > 1 {
		out.Frames = o.frames
	}
	return out
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

// logResult logs a failed item at warn level (one line, queryable by
// errorCode in CloudWatch Logs Insights) and the others at debug level.
func (w *Worker) logResult(r imgbatch.Result) {
	if r.Status == imgbatch.StatusFailed {
		w.cfg.Log.Warn("item failed", "key", r.Item.Key, "bucket", r.Item.Bucket, "errorCode", r.ErrorCode,
			"httpStatus", r.HTTPStatus, "reason", r.Message, "ms", r.Millis)
		return
	}
	w.cfg.Log.Debug("item done", "key", r.Item.Key, "status", string(r.Status), "outputs", len(r.Outputs), "ms", r.Millis)
}
