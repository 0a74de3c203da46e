package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/vips"
	"github.com/imgbatch/imgbatch/worker"
)

// ChildSpec is what the parent asks a child process (`imgbatch bench
// child`) to do: one case of imgbatch's own code, measured in a fresh
// process so that memory, malloc settings and libvips' start-up options
// of one case do not leak into the next.
type ChildSpec struct {
	Mode            string           `json:"mode"` // ImplProcess or ImplPipeline
	Pool            int              `json:"pool"`
	VipsConcurrency int              `json:"vipsConcurrency,omitempty"`
	Trim            bool             `json:"trim,omitempty"`     // malloc_trim(0) every second
	Reuse           bool             `json:"reuse,omitempty"`    // process: read sources into reused buffers
	Fetchers        int              `json:"fetchers,omitempty"` // pipeline: worker fetchers (0: the worker's default)
	Variant         imgbatch.Variant `json:"variant"`
	// Variants, when set, are the whole recipe (Variant is then its first):
	// every variant is made from one decode of the source.
	Variants  []imgbatch.Variant `json:"variants,omitempty"`
	MaxPixels int64              `json:"maxPixels"`
	// ProfileDir, when set, receives cpu.pprof (the work) and heap.pprof
	// (at the end) of the child.
	ProfileDir string `json:"profileDir,omitempty"`

	// process mode: files in, files out.
	Files  []string `json:"files,omitempty"`
	OutDir string   `json:"outDir,omitempty"`

	// pipeline mode: a planned run in an S3 endpoint.
	Endpoint   string `json:"endpoint,omitempty"`
	WorkBucket string `json:"workBucket,omitempty"`
	RunID      string `json:"runId,omitempty"`
}

// variants is the recipe the child makes.
func (s ChildSpec) variants() []imgbatch.Variant {
	if len(s.Variants) > 0 {
		return s.Variants
	}
	return []imgbatch.Variant{s.Variant}
}

// outPath is where every implementation writes variant v of its idx-th
// distinct source: dir/<variant name>/<idx>.<ext> (the quality pass reads
// them back by these names).
func outPath(dir string, v imgbatch.Variant, idx int) string {
	return filepath.Join(dir, v.Name, fmt.Sprintf("%06d.%s", idx, imgbatch.Ext(v.Format)))
}

// ChildResult is what a child measured from the inside.
type ChildResult struct {
	Libvips   string             `json:"libvips"`
	Images    int                `json:"images"`
	Succeeded int                `json:"succeeded"`
	Failed    int                `json:"failed"`
	BytesIn   int64              `json:"bytesIn"`
	BytesOut  int64              `json:"bytesOut"`
	Stages    map[string]Latency `json:"stages"`
	Errors    map[string]int     `json:"errors,omitempty"` // failure code or message → count
	Seconds   float64            `json:"seconds"`          // the work itself, without start-up
	VmHWM     int64              `json:"vmHWM"`
	// GoPeak is the most memory the Go runtime held from the OS at once
	// (sampled every 100 ms): VmHWM minus it is roughly libvips' and
	// glibc malloc's share.
	GoPeak int64 `json:"goPeak"`
	// Pipeline mode: outputs bigger than their source, and copies of the
	// source (keepSmallerSource).
	Bigger int `json:"bigger,omitempty"`
	Copies int `json:"copies,omitempty"`
}

// RunChild reads a ChildSpec from in, runs it and writes the ChildResult
// as JSON to out. It is the body of the hidden `imgbatch bench child`.
func RunChild(ctx context.Context, in io.Reader, out io.Writer) error {
	var spec ChildSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("bench child: read spec: %w", err)
	}
	if spec.Pool <= 0 {
		spec.Pool = 1
	}
	if spec.VipsConcurrency <= 0 {
		spec.VipsConcurrency = 1
	}
	if spec.MaxPixels <= 0 {
		spec.MaxPixels = DefaultMaxPixels
	}
	quiet := slog.New(slog.DiscardHandler)
	vips.Start(vips.Config{Concurrency: spec.VipsConcurrency, Log: quiet})
	if spec.Trim {
		defer every(time.Second, mallocTrim)()
	}
	goPeak := startGoMemSampler()
	stopProfile, err := startProfile(spec.ProfileDir)
	if err != nil {
		return err
	}
	var res ChildResult
	switch spec.Mode {
	case ImplProcess:
		res, err = runProcess(ctx, spec)
	case ImplPipeline:
		res, err = runPipeline(ctx, spec, quiet)
	default:
		err = fmt.Errorf("bench child: unknown mode %q", spec.Mode)
	}
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	res.Libvips = vips.Version()
	res.VmHWM, _ = statusKB(0, "VmHWM")
	res.GoPeak = goPeak()
	return json.NewEncoder(out).Encode(res)
}

// startProfile starts a CPU profile into dir/cpu.pprof; the returned
// function stops it and writes dir/heap.pprof. An empty dir profiles
// nothing.
func startProfile(dir string) (func() error, error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := cpu.Close(); err != nil {
			return err
		}
		heap, err := os.Create(filepath.Join(dir, "heap.pprof"))
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(heap); err != nil {
			heap.Close()
			return fmt.Errorf("heap profile: %w", err)
		}
		return heap.Close()
	}, nil
}

// tally counts outcomes from many goroutines.
type tally struct {
	mu                sync.Mutex
	succeeded, failed int
	bytesIn, bytesOut int64
	errors            map[string]int
	// Of the outputs (pipeline mode, keepSmallerSource): bigger than
	// their source, and copies of it.
	bigger, copies int
}

func (t *tally) ok(in, out int64) {
	t.mu.Lock()
	t.succeeded++
	t.bytesIn += in
	t.bytesOut += out
	t.mu.Unlock()
}

func (t *tally) fail(in int64, reason string) {
	t.mu.Lock()
	t.failed++
	t.bytesIn += in
	if t.errors == nil {
		t.errors = map[string]int{}
	}
	if len(reason) > 160 {
		reason = reason[:160] + "…"
	}
	if _, seen := t.errors[reason]; seen || len(t.errors) < 20 {
		t.errors[reason]++
	}
	t.mu.Unlock()
}

func (t *tally) into(r *ChildResult) {
	r.Succeeded, r.Failed, r.BytesIn, r.BytesOut, r.Errors = t.succeeded, t.failed, t.bytesIn, t.bytesOut, t.errors
	r.Images = t.succeeded + t.failed
	r.Bigger, r.Copies = t.bigger, t.copies
}

// outputs counts a result's outputs bigger than the source, and copies.
func (t *tally) outputs(res imgbatch.Result) {
	t.mu.Lock()
	for _, o := range res.Outputs {
		switch {
		case o.Copied:
			t.copies++
		case o.Bytes > res.BytesIn:
			t.bigger++
		}
	}
	t.mu.Unlock()
}

// runProcess is the files-in, files-out mode: Pool goroutines each read a
// source, guard it as the worker does (sniff, pixel budget), render the
// variant with vips.Render as the worker's render stage does, and write
// the result.
func runProcess(ctx context.Context, spec ChildSpec) (ChildResult, error) {
	worker.DefaultGC() // as `imgbatch work` does (a gogcN or memlimitN lever overrides it)
	for _, v := range spec.variants() {
		if err := os.MkdirAll(filepath.Join(spec.OutDir, v.Name), 0o755); err != nil {
			return ChildResult{}, err
		}
	}
	// One output index per distinct source: a cycled list overwrites.
	names := map[string]int{}
	for _, f := range spec.Files {
		if _, ok := names[f]; !ok {
			names[f] = len(names)
		}
	}
	st := newStageTimes()
	var t tally
	jobs := make(chan string)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range spec.Pool {
		g.Go(func() error {
			var buf []byte
			for path := range jobs {
				var r *[]byte
				if spec.Reuse {
					r = &buf
				}
				n, out, err := processOne(path, names[path], spec, st, r)
				if err != nil {
					t.fail(n, err.Error())
					continue
				}
				t.ok(n, out)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(jobs)
		for _, f := range spec.Files {
			select {
			case jobs <- f:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return ChildResult{}, err
	}
	res := ChildResult{Stages: st.summary(), Seconds: time.Since(start).Seconds()}
	t.into(&res)
	return res, nil
}

// processOne runs one image through read → guard → render → write and
// records each stage; the variants go to outPath(spec.OutDir, v, idx).
// buf, when not nil, is reused for the source bytes.
func processOne(path string, idx int, spec ChildSpec, st *stageTimes, buf *[]byte) (in, out int64, err error) {
	t0 := time.Now()
	data, err := readSource(path, buf)
	t1 := time.Now()
	st.add("read", t1.Sub(t0))
	if err != nil {
		return 0, 0, err
	}
	in = int64(len(data))
	opts := worker.RenderOptions{MaxPixels: spec.MaxPixels}
	info, err := worker.Guard(data, spec.MaxPixels, 10*spec.MaxPixels, opts)
	t2 := time.Now()
	st.add("guard", t2.Sub(t1))
	if err != nil {
		return in, 0, err
	}
	rs, err := worker.Render(context.Background(), data, info, spec.variants(), opts)
	t3 := time.Now()
	st.add("render", t3.Sub(t2))
	if err != nil {
		return in, 0, fmt.Errorf("render: %w", err)
	}
	for i, v := range spec.variants() {
		if err := os.WriteFile(outPath(spec.OutDir, v, idx), rs[i].Data, 0o644); err != nil {
			return in, 0, err
		}
		out += int64(len(rs[i].Data))
	}
	t4 := time.Now()
	st.add("write", t4.Sub(t3))
	st.add("item", t4.Sub(t0))
	return in, out, nil
}

// readSource reads a whole file, into *buf when buf is given (growing it
// only when a file is larger than any before).
func readSource(path string, buf *[]byte) ([]byte, error) {
	if buf == nil {
		return os.ReadFile(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := int(fi.Size())
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// newS3Client is an SDK client for a local S3 endpoint.
func newS3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	})
}

// runPipeline works a planned run end to end, like one `imgbatch work`
// child: batch.Runner claims the shards, worker.New fetches, guards,
// renders and uploads, the runner checkpoints, marks shards done and
// finalizes the run. S3 calls and item results are timed on the way.
func runPipeline(ctx context.Context, spec ChildSpec, log *slog.Logger) (ChildResult, error) {
	worker.DefaultGC() // as `imgbatch work` does (a gogcN or memlimitN lever overrides it)
	client := newS3Client(spec.Endpoint)
	st := newStageTimes()
	var t tally
	w := worker.New(&timedS3{S3API: client, st: st}, worker.Config{Processors: spec.Pool, Fetchers: spec.Fetchers, MaxPixels: spec.MaxPixels, Log: log})
	r := &batch.Runner{
		Store: &batch.Store{S3: client, Bucket: spec.WorkBucket}, RunID: spec.RunID,
		Me:        batch.Identity{JobID: "bench", Index: 0, ArraySize: 1, Attempt: 1},
		Processor: &recorder{p: w, st: st, t: &t}, Log: log,
	}
	start := time.Now()
	stats, err := r.Run(ctx)
	if err != nil {
		return ChildResult{}, fmt.Errorf("pipeline run %s: %w", spec.RunID, err)
	}
	if !stats.Finalized {
		return ChildResult{}, fmt.Errorf("pipeline run %s: not finalized (%d shards done)", spec.RunID, stats.Shards)
	}
	res := ChildResult{Stages: st.summary(), Seconds: time.Since(start).Seconds()}
	t.into(&res)
	return res, nil
}

// recorder passes the worker's results on and counts them.
type recorder struct {
	p  imgbatch.Processor
	st *stageTimes
	t  *tally
}

func (r *recorder) Process(ctx context.Context, run *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	return r.p.Process(ctx, run, tasks, func(res imgbatch.Result) {
		switch res.Status {
		case imgbatch.StatusSucceeded:
			r.t.ok(res.BytesIn, res.BytesOut)
			r.t.outputs(res)
			r.st.add("item", time.Duration(res.Millis)*time.Millisecond)
		default:
			r.t.fail(res.BytesIn, res.ErrorCode)
		}
		emit(res)
	})
}

// timedS3 times the worker's GETs (until the body is closed) and PUTs.
type timedS3 struct {
	worker.S3API
	st *stageTimes
}

func (c *timedS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	start := time.Now()
	out, err := c.S3API.GetObject(ctx, in, opts...)
	if err != nil {
		c.st.add("get", time.Since(start))
		return out, err
	}
	out.Body = &timedBody{ReadCloser: out.Body, start: start, st: c.st}
	return out, nil
}

func (c *timedS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	start := time.Now()
	out, err := c.S3API.PutObject(ctx, in, opts...)
	c.st.add("put", time.Since(start))
	return out, err
}

type timedBody struct {
	io.ReadCloser
	start time.Time
	st    *stageTimes
	once  sync.Once
}

func (b *timedBody) Close() error {
	b.once.Do(func() { b.st.add("get", time.Since(b.start)) })
	return b.ReadCloser.Close()
}

// errNoResult is returned when a child printed no result.
var errNoResult = errors.New("child printed no result")
