package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack"
	"github.com/imgbatch/imgbatch/s3fault"
	"github.com/imgbatch/imgbatch/s3fault/versitygw"
)

// The buckets of every run.
const (
	srcBucket  = "source"
	workBucket = "work"
	outBucket  = "output"
)

// backendKind names an S3 implementation the runs can use.
type backendKind string

const (
	// memS3 is gofakes3 in memory: any byte string is a key, so the
	// hostile-key runs use it ("a/../b", a leading "/", 1,024-byte keys).
	memS3 backendKind = "gofakes3-mem"
	// diskS3 is gofakes3 on disk, as `imgbatch local` runs it.
	diskS3 backendKind = "gofakes3-disk"
	// versityS3 is versitygw's posix backend: SigV4 checked, real
	// conditional writes, metadata in xattrs; it cleans keys as paths.
	versityS3 backendKind = "versitygw"
)

type backend struct {
	kind           backendKind
	url            string
	access, secret string
	client         *s3.Client // straight to the backend, no faults
}

// s3Client is a client straight to endpoint (5 attempts per request).
func s3Client(endpoint, access, secret string) *s3.Client {
	return s3test.NewClient(endpoint, s3test.Static(access, secret), s3test.Retries(5, 0))
}

func startBackend(t *testing.T, kind backendKind, dir, access, secret string) *backend {
	t.Helper()
	b := &backend{kind: kind, access: access, secret: secret}
	switch kind {
	case memS3, diskS3:
		d := ""
		if kind == diskS3 {
			d = filepath.Join(dir, "s3")
		}
		srv, err := localstack.StartS3(d, srcBucket, workBucket, outBucket)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		b.url = srv.URL
	case versityS3:
		bin := versitygw.Binary(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		g, err := versitygw.Start(ctx, bin, filepath.Join(dir, "versitygw"), access, secret, srcBucket, workBucket, outBucket)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		b.url = g.URL
	default:
		t.Fatalf("unknown backend %s", kind)
	}
	b.client = s3Client(b.url, access, secret)
	return b
}

// chaosPlan disturbs the children: each attempt that is not the retry
// strategy's last is, with probability Rate, SIGKILLed after a random delay,
// SIGTERMed after a random delay (and SIGKILLed if it outlives the grace
// period, as Fargate does after stopTimeout), or SIGKILLed when the fault
// proxy sees it make a given S3 request (mid-download, mid-upload, right
// after a claim, after a checkpoint, between results and done marker,
// after the done marker, during finalization). Decisions are seeded per
// (seed, index, attempt).
type chaosPlan struct {
	Seed     uint64
	Rate     float64       // share of attempts disturbed
	MaxDelay time.Duration // timed disturbances happen within this after start
	TermShare,
	TriggerShare float64 // shares of SIGTERM and of request-triggered kills; the rest are timed SIGKILLs
	StopTimeout time.Duration // SIGTERM → SIGKILL
}

// minTermDelay is the earliest a chaos SIGTERM is sent after a child starts.
const minTermDelay = 500 * time.Millisecond

// phases are the S3 requests a triggered kill waits for.
var phases = map[string]struct {
	after bool // after the answer (the request took effect) rather than before it is served
	match func(r *s3fault.Request) bool
}{
	"download": {false, func(r *s3fault.Request) bool { return r.Kind == s3fault.KindGet && r.Bucket == srcBucket }},
	"upload":   {false, func(r *s3fault.Request) bool { return r.Kind == s3fault.KindPut && r.Bucket == outBucket }},
	"claim": {false, func(r *s3fault.Request) bool {
		return r.Kind == s3fault.KindPut && r.Bucket == workBucket && inRun(r.Key, under(imgbatch.Layout.ClaimsPrefix))
	}},
	"claimed":    {true, func(r *s3fault.Request) bool { return workPut(r, imgbatch.Layout.ClaimsPrefix) }},
	"checkpoint": {true, func(r *s3fault.Request) bool { return workPut(r, imgbatch.Layout.ProgressPrefix) }},
	"results": {false, func(r *s3fault.Request) bool {
		return r.Kind == s3fault.KindPut && inRun(r.Key, isResults)
	}},
	"done": {true, func(r *s3fault.Request) bool { return workPut(r, imgbatch.Layout.DonePrefix) }},
	"finalize": {false, func(r *s3fault.Request) bool {
		return r.Kind == s3fault.KindPut && r.Bucket == workBucket && inRun(r.Key, func(l imgbatch.Layout, key string) bool {
			return key == l.Report() || key == l.Summary() || key == l.Final()
		})
	}},
}

var phaseNames = []string{"download", "upload", "claim", "claimed", "checkpoint", "results", "done", "finalize"}

// workPut reports whether r is a PUT to the work bucket, answered 200, of
// an object under dir of its run.
func workPut(r *s3fault.Request, dir func(imgbatch.Layout) string) bool {
	return r.Kind == s3fault.KindPut && r.Bucket == workBucket && inRun(r.Key, under(dir)) && r.Status == 200
}

// inRun reports whether key is an object of a run (runs/<id>/…) that is
// holds for, asked with the layout of that run.
func inRun(key string, is func(l imgbatch.Layout, key string) bool) bool {
	rest, ok := strings.CutPrefix(key, imgbatch.RunsPrefix)
	id, _, ok2 := strings.Cut(rest, "/")
	return ok && ok2 && is(imgbatch.Layout{RunID: id}, key)
}

// under is the test of inRun for the objects under dir of the layout.
func under(dir func(imgbatch.Layout) string) func(imgbatch.Layout, string) bool {
	return func(l imgbatch.Layout, key string) bool { return strings.HasPrefix(key, dir(l)) }
}

// isResults is the test of inRun for a shard's results file (the layout
// names them one by one only: they sit beside Results(0, 0)).
func isResults(l imgbatch.Layout, key string) bool {
	return path.Dir(key) == path.Dir(l.Results(0, 0))
}

// localAttempt is an attempt of an array child, as the runner's hooks see it.
type localAttempt = localstack.Attempt

// runSpec is one run of the pipeline.
type runSpec struct {
	backend        backendKind
	data           *dataset
	width          int // array width (default 3)
	shardSize      int // items per shard (default 4)
	childEnv       []string
	access, secret string // S3 credentials (default local/local)
	rates          map[s3fault.Kind]s3fault.Rates
	eligible       func(*s3fault.Request) bool // only these requests get faults (nil: all)
	seed           uint64
	stall          time.Duration
	chaos          *chaosPlan
	submitArgs     []string // more submit flags
	// onStart, before and after add test-specific hooks (duplicates, pauses).
	onStart       func(h *harness, a localstack.Attempt)
	before, after func(h *harness, r *s3fault.Request)
	timeout       time.Duration
	wantRunFailed bool
	// transientOK lets an item fail with S3Error (S3 kept failing past
	// the retries) where the reference run succeeded.
	transientOK bool
	// attemptEnv adds variables per attempt (a Spot notice stand-in).
	attemptEnv func(index, attempt int) []string
}

// attemptRecord is one child process: an attempt started by the array
// runner, or a copy the test started itself (extra).
type attemptRecord struct {
	appID          string
	index, attempt int
	pid            int
	exitCode       int // -1 when killed by a signal
	signal         syscall.Signal
	disturbance    string // what the test did to it ("" = nothing)
	maxRSS         int64  // peak resident memory, KiB (VmHWM of /proc/<pid>/status, polled)
	extra          bool
	ended          bool
}

type trigger struct {
	phase string
	n     int  // act at the n-th matching request
	term  bool // SIGTERM (then SIGKILL after stopTimeout) instead of SIGKILL
	seen  int
}

// harness runs one spec and records what happened.
type harness struct {
	t     *testing.T
	spec  runSpec
	dir   string
	be    *backend
	proxy *s3fault.Server
	stack *localstack.Stack
	log   *testutil.SyncBuffer // the stack's own log

	mu       sync.Mutex
	procs    map[string]*os.Process // app id -> running process
	exited   map[string]chan struct{}
	triggers map[string]*trigger
	attempts map[string]*attemptRecord
	extra    sync.WaitGroup
	submit   string // submit's stdout and stderr
}

// runResult is what a finished run left behind.
type runResult struct {
	h        *harness
	runID    string
	run      imgbatch.Run
	report   map[string][]string // decoded key -> row
	rows     int
	dupRows  int
	final    map[string]any
	done     map[string]doneMarker // done/<n>.json by key
	outputs  map[string]outputObject
	events   []ebus.Envelope
	attempts []attemptRecord
	took     time.Duration
}

type doneMarker struct {
	Shard   int    `json:"shard"`
	Epoch   int64  `json:"epoch"`
	Owner   string `json:"owner"`
	Results string `json:"results"`
}

type outputObject struct {
	sha          string
	size         int64
	contentType  string
	cacheControl string
	meta         map[string]string
}

func appID(index, attempt int) string { return fmt.Sprintf("i%da%d", index, attempt) }

// run runs spec to its final event and returns what it left.
func run(t *testing.T, spec runSpec) *runResult {
	t.Helper()
	exe := imgbatchBinary(t)
	if spec.width == 0 {
		spec.width = 3
	}
	if spec.shardSize == 0 {
		spec.shardSize = 4
	}
	if spec.access == "" {
		spec.access, spec.secret = "local", "local"
	}
	if spec.timeout == 0 {
		spec.timeout = 4 * time.Minute
	}
	if spec.stall == 0 {
		spec.stall = time.Second
	}
	h := &harness{t: t, spec: spec, dir: t.TempDir(), log: &testutil.SyncBuffer{},
		procs: map[string]*os.Process{}, exited: map[string]chan struct{}{}, triggers: map[string]*trigger{}, attempts: map[string]*attemptRecord{}}
	h.be = startBackend(t, spec.backend, h.dir, spec.access, spec.secret)
	h.upload()

	var err error
	h.proxy, err = s3fault.Start(s3fault.Config{Target: h.be.url, Seed: spec.seed, Rates: spec.rates, Stall: spec.stall, Eligible: spec.eligible,
		Before: func(r *s3fault.Request) {
			h.fire(r, false)
			if spec.before != nil {
				spec.before(h, r)
			}
		},
		After: func(r *s3fault.Request) {
			h.fire(r, true)
			if spec.after != nil {
				spec.after(h, r)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.proxy.Close() })
	finished := false
	t.Cleanup(func() { h.account(finished) }) // runs after the stack is closed

	childEnv := append([]string{
		"IMGBATCH_LOG_FORMAT=json", "IMGBATCH_LEASE_TTL=3s", "IMGBATCH_POLL=500ms", "IMGBATCH_GRACE=1s",
		"IMGBATCH_PROCESSORS=1", "IMGBATCH_ITEM_TIMEOUT=30s",
	}, spec.childEnv...)
	h.stack, err = localstack.Start(localstack.Options{
		Dir: filepath.Join(h.dir, "stack"), Width: spec.width, Exe: exe,
		S3URL: h.proxy.URL, S3AccessKey: spec.access, S3SecretKey: spec.secret,
		ChildEnv: childEnv,
		Log:      slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hooks: localstack.ArrayHooks{
			AttemptEnv: func(_ string, index, attempt int) []string {
				env := []string{"AWS_SDK_UA_APP_ID=" + appID(index, attempt)}
				if spec.attemptEnv != nil {
					env = append(env, spec.attemptEnv(index, attempt)...)
				}
				return env
			},
			OnStart: h.onStart,
			OnExit:  h.onExit,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stackClosed := false
	closeStack := func() {
		if !stackClosed {
			stackClosed = true
			h.stack.Close()
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			h.diagnose()
		}
		closeStack()
		if keep := os.Getenv("IMGBATCH_CHAOS_KEEP"); keep != "" && t.Failed() {
			// Keep the logs, events and (on disk) the S3 data of failed runs.
			dst := filepath.Join(keep, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
			_ = os.MkdirAll(dst, 0o755)
			if out, err := exec.Command("cp", "-r", h.dir+"/.", dst).CombinedOutput(); err != nil {
				t.Logf("keep %s: %v %s", dst, err, out)
			} else {
				_ = os.WriteFile(filepath.Join(dst, "submit.txt"), []byte(h.submit), 0o644)
				_ = os.WriteFile(filepath.Join(dst, "stack.log"), []byte(h.log.String()), 0o644)
				t.Logf("run kept in %s", dst)
			}
		}
	})

	finals, cancelSub := h.stack.Bus.Subscribe(`{"source":["imgbatch"],"detail-type":["Run Completed","Run Failed"]}`)
	defer cancelSub()
	started := time.Now()
	runID := h.submitRun()

	deadline := time.NewTimer(spec.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var allEnded time.Time
wait:
	for {
		select {
		case <-finals:
			break wait
		case <-deadline.C:
			t.Fatalf("run %s: no final event within %s", runID, spec.timeout)
		case <-tick.C:
			if h.stack.Runner.Ended() {
				if allEnded.IsZero() {
					allEnded = time.Now()
				} else if time.Since(allEnded) > 10*time.Second {
					t.Fatalf("run %s: every array child ended for good but no final event came", runID)
				}
			}
		}
	}
	// Children that linger to steal expired leases notice the end within a poll.
	for !h.stack.Runner.Ended() {
		select {
		case <-deadline.C:
			t.Fatalf("run %s: final event sent, but children still run after %s", runID, spec.timeout)
		case <-tick.C:
		}
	}
	extraDone := make(chan struct{})
	go func() { h.extra.Wait(); close(extraDone) }()
	select {
	case <-extraDone:
	case <-deadline.C:
		t.Fatalf("run %s: the test's extra children still run after %s", runID, spec.timeout)
	}
	took := time.Since(started)
	finished = true
	closeStack()
	res := h.collect(runID)
	res.took = took
	return res
}

// upload puts the dataset into the source bucket, straight to the backend.
func (h *harness) upload() {
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(8)
	for key, body := range h.spec.data.objects {
		g.Go(func() error {
			_, err := h.be.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(key),
				Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
			if err != nil {
				return fmt.Errorf("upload %q: %w", key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		h.t.Fatal(err)
	}
}

var runLine = regexp.MustCompile(`(?m)^run (\S+)`)

// submitRun plans the manifest with `imgbatch submit` (straight to the
// backend: the faults are for the children) and returns the run id.
func (h *harness) submitRun() string {
	t := h.t
	ds := h.spec.data
	mpath := filepath.Join(h.dir, "manifest."+ds.format)
	if err := os.WriteFile(mpath, ds.manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"submit", "--manifest", mpath, "--format", ds.format, "--bucket", srcBucket,
		"--output-bucket", outBucket, "--work-bucket", workBucket,
		"--width", fmt.Sprint(h.spec.width), "--shard-size", fmt.Sprint(h.spec.shardSize)}
	for _, v := range ds.variants {
		args = append(args, "--variant", v)
	}
	args = append(args, h.spec.submitArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exePath, args...)
	cmd.Env = append(append(os.Environ(), h.stack.Env()...), "AWS_ENDPOINT_URL_S3="+h.be.url, "IMGBATCH_LOG_LEVEL=debug")
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	h.submit = out.String()
	if err != nil {
		t.Fatalf("imgbatch submit: %v\n%s", err, h.submit)
	}
	m := runLine.FindStringSubmatch(h.submit)
	if m == nil {
		t.Fatalf("imgbatch submit printed no run id:\n%s", h.submit)
	}
	return m[1]
}

// onStart registers an attempt and applies the chaos plan to it.
func (h *harness) onStart(a localstack.Attempt) {
	id := appID(a.Index, a.Attempt)
	h.mu.Lock()
	h.procs[id] = a.Cmd.Process
	h.exited[id] = make(chan struct{})
	rec := &attemptRecord{appID: id, index: a.Index, attempt: a.Attempt, pid: a.Cmd.Process.Pid}
	h.attempts[id] = rec
	done := h.exited[id]
	h.mu.Unlock()
	go h.watchMemory(rec, rec.pid, done)
	if p := h.spec.chaos; p != nil && a.Attempt < a.Attempts {
		h.disturb(p, id, a)
	}
	if h.spec.onStart != nil {
		h.spec.onStart(h, a)
	}
}

func (h *harness) disturb(p *chaosPlan, id string, a localstack.Attempt) {
	r := rand.New(rand.NewPCG(p.Seed, uint64(a.Index)<<16|uint64(a.Attempt)))
	if r.Float64() >= p.Rate {
		return
	}
	delay := time.Duration(r.Int64N(int64(p.MaxDelay)))
	switch u := r.Float64(); {
	case u < p.TermShare:
		// Not before minTermDelay: a SIGTERM that lands while the dynamic
		// loader still maps libvips' libraries, or before `work` installs
		// its handler, kills the process the default way (the runner, like
		// Batch on a Spot interruption, retries it, but it is not the
		// graceful path this disturbance is about).
		go h.terminate(id, max(delay, minTermDelay), p.StopTimeout)
	case u < p.TermShare+p.TriggerShare:
		name := phaseNames[r.IntN(len(phaseNames))]
		h.mu.Lock()
		h.triggers[id] = &trigger{phase: name, n: 1 + r.IntN(3)}
		h.mu.Unlock()
	default:
		go func() {
			time.Sleep(delay)
			h.signal(id, syscall.SIGKILL, fmt.Sprintf("kill@%s", delay.Round(10*time.Millisecond)))
		}()
	}
}

// signal sends sig to a running attempt and records it as its disturbance.
func (h *harness) signal(id string, sig syscall.Signal, what string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.procs[id]
	if p == nil {
		return false
	}
	if err := p.Signal(sig); err != nil {
		return false
	}
	if rec := h.attempts[id]; rec != nil && what != "" {
		if rec.disturbance != "" {
			rec.disturbance += "+"
		}
		rec.disturbance += what
	}
	return true
}

// pid is the process id of a running attempt (0 if none).
func (h *harness) pid(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.procs[id]; p != nil {
		return p.Pid
	}
	return 0
}

// terminate is a Spot reclaim: SIGTERM, then SIGKILL after stopTimeout.
func (h *harness) terminate(id string, delay, stopTimeout time.Duration) {
	time.Sleep(delay)
	h.terminateAt(id, fmt.Sprintf("term@%s", delay.Round(10*time.Millisecond)), stopTimeout)
}

// terminateAt sends SIGTERM now, and SIGKILL if the child outlives stopTimeout.
func (h *harness) terminateAt(id, what string, stopTimeout time.Duration) {
	if !h.signal(id, syscall.SIGTERM, what) {
		return
	}
	h.mu.Lock()
	done := h.exited[id]
	h.mu.Unlock()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		h.signal(id, syscall.SIGKILL, "kill@stopTimeout")
	}
}

// fire kills an attempt whose armed trigger matches r.
func (h *harness) fire(r *s3fault.Request, after bool) {
	if r.AppID == "" {
		return
	}
	h.mu.Lock()
	tr := h.triggers[r.AppID]
	if tr == nil || phases[tr.phase].after != after || !phases[tr.phase].match(r) {
		h.mu.Unlock()
		return
	}
	tr.seen++
	if tr.seen < tr.n {
		h.mu.Unlock()
		return
	}
	delete(h.triggers, r.AppID)
	h.mu.Unlock()
	if tr.term {
		go h.terminateAt(r.AppID, "term@phase:"+tr.phase, 5*time.Second)
		return
	}
	h.signal(r.AppID, syscall.SIGKILL, "kill@phase:"+tr.phase)
}

func (h *harness) onExit(a localstack.Attempt, st *os.ProcessState) {
	id := appID(a.Index, a.Attempt)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recordExit(h.attempts[id], st)
	delete(h.procs, id)
	delete(h.triggers, id)
	if ch := h.exited[id]; ch != nil {
		close(ch)
	}
}

func (h *harness) recordExit(rec *attemptRecord, st *os.ProcessState) {
	if rec == nil {
		return
	}
	rec.ended = true
	rec.exitCode = st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		rec.signal = ws.Signal()
	}
}

// watchMemory polls VmHWM (the peak resident set) of a running child every
// 20 ms until it ends, keeping the highest value in rec. (getrusage's
// ru_maxrss cannot be used: on exec the kernel keeps the high-water mark of
// the forking process, here the test binary itself.) A peak in the last
// 20 ms of a child's life can be missed; the work that makes peaks happens
// well before a child's end.
func (h *harness) watchMemory(rec *attemptRecord, pid int, done <-chan struct{}) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if kb := vmHWM(path); kb > 0 {
			h.mu.Lock()
			rec.maxRSS = max(rec.maxRSS, kb)
			h.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// vmHWM reads VmHWM (KiB) from a /proc/<pid>/status file; 0 if unknown.
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), "VmHWM:")
	if !ok {
		return 0
	}
	var kb int64
	fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
	return kb
}

// startCopy starts a copy of a running attempt with changed variables (a
// duplicate child, as a zombie host or a double submission would make),
// registered under id, and waits for it in the background.
func (h *harness) startCopy(a localstack.Attempt, id string, env ...string) {
	cmd := exec.Command(a.Cmd.Path, a.Cmd.Args[1:]...)
	cmd.Env = append(append(append([]string(nil), a.Cmd.Env...), "AWS_SDK_UA_APP_ID="+id), env...)
	logf, err := os.Create(filepath.Join(h.dir, "stack", "logs", id+".log"))
	if err != nil {
		h.t.Error(err)
		return
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		h.t.Errorf("start a copy of child %d: %v", a.Index, err)
		return
	}
	h.mu.Lock()
	h.procs[id] = cmd.Process
	h.exited[id] = make(chan struct{})
	rec := &attemptRecord{appID: id, index: a.Index, attempt: a.Attempt, pid: cmd.Process.Pid, extra: true}
	h.attempts[id] = rec
	done := h.exited[id]
	h.mu.Unlock()
	go h.watchMemory(rec, rec.pid, done)
	h.extra.Add(1)
	go func() {
		defer h.extra.Done()
		_ = cmd.Wait()
		logf.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.recordExit(rec, cmd.ProcessState)
		delete(h.procs, id)
		close(h.exited[id])
	}()
}

// collect reads what the run left in S3 and on the bus.
func (h *harness) collect(runID string) *runResult {
	t := h.t
	ctx := context.Background()
	res := &runResult{h: h, runID: runID, report: map[string][]string{}, outputs: map[string]outputObject{}, done: map[string]doneMarker{}}
	get := func(bucket, key string) []byte { return s3test.Get(t, h.be.client, bucket, key) }
	lay := imgbatch.Layout{RunID: runID}
	if err := json.Unmarshal(get(workBucket, lay.Run()), &res.run); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	if err := json.Unmarshal(get(workBucket, lay.Final()), &res.final); err != nil {
		t.Fatalf("final.json: %v", err)
	}
	rep := itemtest.ParseReport(t, get(workBucket, lay.Report()))
	res.report, res.rows, res.dupRows = rep.ByKey, rep.Rows, len(rep.Dups)
	dp := s3.NewListObjectsV2Paginator(h.be.client, &s3.ListObjectsV2Input{Bucket: aws.String(workBucket), Prefix: aws.String(lay.DonePrefix())})
	for dp.HasMorePages() {
		page, err := dp.NextPage(ctx)
		if err != nil {
			t.Fatalf("list done markers: %v", err)
		}
		for _, o := range page.Contents {
			var m doneMarker
			if err := json.Unmarshal(get(workBucket, aws.ToString(o.Key)), &m); err != nil {
				t.Fatalf("done marker %s: %v", aws.ToString(o.Key), err)
			}
			res.done[aws.ToString(o.Key)] = m
		}
	}
	p := s3.NewListObjectsV2Paginator(h.be.client, &s3.ListObjectsV2Input{Bucket: aws.String(outBucket)})
	var keys []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list outputs: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error {
			out, err := h.be.client.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(outBucket), Key: aws.String(k)})
			if err != nil {
				return fmt.Errorf("get output %q: %w", k, err)
			}
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			mu.Lock()
			res.outputs[k] = outputObject{sha: hex.EncodeToString(sum[:]), size: int64(len(b)), contentType: aws.ToString(out.ContentType),
				cacheControl: aws.ToString(out.CacheControl), meta: out.Metadata}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	res.events = h.stack.Bus.Events()
	h.mu.Lock()
	for _, a := range h.attempts {
		res.attempts = append(res.attempts, *a)
	}
	h.mu.Unlock()
	sort.Slice(res.attempts, func(i, j int) bool { return res.attempts[i].appID < res.attempts[j].appID })
	return res
}

// account adds what the run did to the suite's figures, whether or not it
// finished.
func (h *harness) account(finished bool) {
	fig.addFaults(h.proxy.Proxy)
	if !finished {
		fig.addStuck()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.attempts {
		fig.addAttempt(a.disturbance, a.maxRSS, a.crashed())
	}
}

// diagnose logs what helps understand a failed run.
func (h *harness) diagnose() {
	t := h.t
	h.mu.Lock()
	var recs []attemptRecord
	for _, a := range h.attempts {
		recs = append(recs, *a)
	}
	h.mu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].appID < recs[j].appID })
	for _, a := range recs {
		t.Logf("attempt %s pid %d: ended %v exit %d signal %v disturbed %q maxRSS %d KiB", a.appID, a.pid, a.ended, a.exitCode, a.signal, a.disturbance, a.maxRSS)
	}
	t.Logf("faults: %s", h.proxy.Summary())
	t.Logf("submit:\n%s", tail(h.submit, 20))
	t.Logf("stack log:\n%s", tail(h.log.String(), 30))
	logs, _ := filepath.Glob(filepath.Join(h.dir, "stack", "logs", "*", "*.log"))
	extra, _ := filepath.Glob(filepath.Join(h.dir, "stack", "logs", "*.log"))
	for _, p := range append(logs, extra...) {
		b, _ := os.ReadFile(p)
		t.Logf("%s:\n%s", p, tail(string(b), 25))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// childLogs returns every child log file of the run.
func (h *harness) childLogs() []string {
	logs, _ := filepath.Glob(filepath.Join(h.dir, "stack", "logs", "*", "*.log"))
	extra, _ := filepath.Glob(filepath.Join(h.dir, "stack", "logs", "*.log"))
	return append(logs, extra...)
}

// jsonLines decodes the JSON log lines of a file (other lines are skipped).
func jsonLines(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

func sortStrings(s []string) { sort.Strings(s) }

var errNoRef = errors.New("no reference")
