package batch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// The claims-at-scale simulation: many array children, each a Runner with
// its own S3 client (own HTTP transport and connections, as separate
// processes would have), against one in-process S3 server. Seeded random
// children pause (every request of theirs blocks past the lease, like a
// stopped process) or are killed (their requests fail and their work is
// cancelled without grace); some killed children come back as the next
// attempt of the same array index, as Batch retries them. A counting
// handler in front of the server sees every request that reaches S3.

type simConfig struct {
	Children   int
	Shards     int
	ShardSize  int
	TTL        time.Duration
	Poll       time.Duration
	PauseFrac  float64 // of children
	KillFrac   float64 // of children
	RetryFrac  float64 // of killed children, restarted as attempt 2
	ItemDelay  time.Duration
	Seed       uint64
	MaxRunTime time.Duration
}

// simReport is what a simulation measured.
type simReport struct {
	Wall           time.Duration
	Requests       int64            // that reached S3
	ByKind         map[string]int64 // "METHOD kind status"
	ClaimConflicts int64            // claim writes that lost their precondition (412)
	DoneConflicts  int64            // done markers written twice (412)
	LeasesLost     int              // shards given up by their owner
	Stolen         int              // shards finished after a takeover
	Paused, Killed int
	Retried        int
	Processed      int64 // processor calls (≥ items: work redone after pauses and kills)
	Shards         int
	Items          int64
	RunFinished    int64
	ShardEvents    int64
	Finalizers     int
	LastShardAt    time.Duration // after the start: the last done marker
	FinalAt        time.Duration // final.json
}

func (r simReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wall %s; requests %d = %.1f per shard, %.2f per item; claim conflicts %d, done conflicts %d, leases lost %d, shards stolen %d; paused %d, killed %d (retried %d); processed %d for %d items; run events %d; finalizers %d; last shard done at %s, final at %s\n",
		r.Wall.Round(time.Millisecond), r.Requests, float64(r.Requests)/float64(max(1, r.Shards)), float64(r.Requests)/float64(max(1, r.Items)), r.ClaimConflicts, r.DoneConflicts, r.LeasesLost, r.Stolen,
		r.Paused, r.Killed, r.Retried, r.Processed, r.Items, r.RunFinished, r.Finalizers, r.LastShardAt.Round(time.Millisecond), r.FinalAt.Round(time.Millisecond))
	keys := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-32s %8d\n", k, r.ByKind[k])
	}
	return b.String()
}

// countingHandler counts the requests next serves by method, kind of
// object and status.
type countingHandler struct {
	next   http.Handler
	mu     sync.Mutex
	counts map[string]int64
	total  atomic.Int64
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	h.next.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	kind := objectKind(r)
	if r.Method == http.MethodPut && r.Header.Get("If-Match") != "" && kind == "done" {
		kind = "done(event sent)" // the outbox update of a done marker, not a second marker
	}
	k := fmt.Sprintf("%s %s %d", r.Method, kind, rec.status)
	h.total.Add(1)
	h.mu.Lock()
	h.counts[k]++
	h.mu.Unlock()
}

func (h *countingHandler) snapshot() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.counts)
}

// objectKind names what a request touched: the part of the run layout, or
// list:<part> for a ListObjectsV2 of it.
func objectKind(r *http.Request) string {
	p := r.URL.Path
	if r.URL.Query().Has("list-type") {
		p = "/" + r.URL.Query().Get("prefix")
		return "list:" + layoutPart(p)
	}
	return layoutPart(p)
}

func layoutPart(p string) string {
	i := strings.Index(p, imgbatch.RunsPrefix)
	if i < 0 {
		return "other"
	}
	rest := p[i+len(imgbatch.RunsPrefix):]
	_, rest, _ = strings.Cut(rest, "/") // run id
	part, rest, _ := strings.Cut(rest, "/")
	if len(part) == 2 && strings.Trim(part, "0123456789abcdef") == "" {
		part, _, _ = strings.Cut(rest, "/") // a spread run's range prefix (layout.go)
	}
	return part
}

// childTransport is one simulated child's network: it can pause (every
// request waits until the pause is over, as in a stopped process) and be
// killed (no request leaves any more).
type childTransport struct {
	base     http.RoundTripper
	n        atomic.Int64
	pauseAt  int64
	pauseFor time.Duration
	killAt   int64
	kill     func()

	mu     sync.Mutex
	until  time.Time
	killed bool
}

var errKilled = errors.New("simulated kill: the process is gone")

func (t *childTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	k := t.n.Add(1)
	t.mu.Lock()
	if t.killAt > 0 && k >= t.killAt && !t.killed {
		t.killed = true
		t.kill()
	}
	killed := t.killed
	if t.pauseAt > 0 && k == t.pauseAt {
		t.until = time.Now().Add(t.pauseFor)
	}
	until := t.until
	t.mu.Unlock()
	if killed {
		return nil, errKilled
	}
	if d := time.Until(until); d > 0 {
		time.Sleep(d) // a paused process sends nothing, whatever its deadlines say
	}
	return t.base.RoundTrip(req)
}

// simProcessor is deterministic: an item fails when the FNV hash of its key
// is 0 mod 10; the message names the epoch that processed it. It records
// every (key, epoch) it processed.
type simProcessor struct {
	delay time.Duration
	calls atomic.Int64
	mu    sync.Mutex
	seen  map[string][]int64
}

func simFails(key string) bool {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()%10 == 0
}

func (p *simProcessor) Process(ctx context.Context, run *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	for t := range tasks {
		if ctx.Err() != nil {
			continue
		}
		if p.delay > 0 {
			time.Sleep(p.delay)
		}
		p.calls.Add(1)
		p.mu.Lock()
		p.seen[t.Item.Key] = append(p.seen[t.Item.Key], t.Epoch)
		p.mu.Unlock()
		r := imgbatch.Result{Index: t.Index, Item: t.Item, Status: imgbatch.StatusSucceeded, Message: fmt.Sprintf("e%d", t.Epoch)}
		if simFails(t.Item.Key) {
			r.Status, r.ErrorCode, r.Message = imgbatch.StatusFailed, "Simulated", fmt.Sprintf("=e%d: simulated failure", t.Epoch)
		}
		emit(r)
	}
	return ctx.Err()
}

// newSimClient is a child's S3 client. Checksums are computed only where
// S3 requires them, to spare the shared CPU (the requests are the same).
func newSimClient(url string, rt http.RoundTripper) *s3.Client {
	return s3test.NewClient(url, s3test.HTTPClient(&http.Client{Transport: rt}), func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

func newChildHTTPTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
}

// simulate plans a run and lets the children work it to the end.
func simulate(t testing.TB, cfg simConfig) simReport {
	t.Helper()
	srv, counter := startSimS3(t)

	ctx := context.Background()
	planStore := &Store{S3: newSimClient(srv.URL, newChildHTTPTransport()), Bucket: "work"}
	p := mustPlan(t, planStore, itemtest.NewSource(numberedItems("sim/%07d.jpg", cfg.Shards*cfg.ShardSize)...),
		PlanOptions{OutputBucket: "out", Recipe: imgbatch.DefaultRecipe, ShardSize: cfg.ShardSize, Width: cfg.Children})
	if p.Run.Shards != cfg.Shards {
		t.Fatalf("planned %d shards, want %d", p.Run.Shards, cfg.Shards)
	}
	planned := counter.total.Load()

	deadline, cancelAll := context.WithTimeout(ctx, cfg.MaxRunTime)
	defer cancelAll()
	sm := &sim{t: t, cfg: cfg, url: srv.URL, runID: p.Run.ID, deadline: deadline,
		rng:  rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		proc: &simProcessor{delay: cfg.ItemDelay, seen: map[string][]int64{}},
		note: &countingNotifier{}, log: simLog(t),
		// Requests a child makes for its own slots: about 6 per shard.
		ownRequests: int64(6 * (cfg.Shards + cfg.Children - 1) / cfg.Children),
	}
	start := time.Now()
	for i := 0; i < cfg.Children; i++ {
		sm.startChild(i, 1, 0)
	}
	stopProgress := watchSim(t, start, sm.note, cfg.Shards, counter, planned)
	sm.wg.Wait()
	stopProgress()
	rep := sm.rep
	rep.Wall = time.Since(start)
	if deadline.Err() != nil {
		t.Fatalf("the run did not finish within %s", cfg.MaxRunTime)
	}

	// Count what the children sent, before the checks below read S3.
	rep.ByKind = counter.snapshot()
	rep.Requests = counter.total.Load() - planned
	for k, v := range rep.ByKind {
		if strings.HasPrefix(k, "PUT claims 412") {
			rep.ClaimConflicts += v
		}
		if strings.HasPrefix(k, "PUT done 412") {
			rep.DoneConflicts += v
		}
	}
	rep.Items = int64(cfg.Shards * cfg.ShardSize)
	rep.Shards = cfg.Shards
	rep.Processed = sm.proc.calls.Load()
	rep.RunFinished = sm.note.runs.Load()
	rep.ShardEvents = sm.note.shards.Load()
	last, final := checkSimRun(t, planStore, &p.Run, sm.proc, sm.note, rep)
	rep.LastShardAt, rep.FinalAt = last.Sub(start), final.Sub(start)
	return rep
}

// startSimS3 serves gofakes3 with a work bucket, counting the requests.
func startSimS3(t testing.TB) (*s3test.Server, *countingHandler) {
	counter := &countingHandler{counts: map[string]int64{}}
	srv := s3test.New(t, s3test.Options{Buckets: []string{"work"}, Wrap: func(h http.Handler) http.Handler {
		counter.next = h
		return counter
	}})
	return srv, counter
}

// simLog is the children's log: discarded, or for a person in the file
// IMGBATCH_SIM_LOG names.
func simLog(t testing.TB) *slog.Logger {
	var logw io.Writer = io.Discard
	if p := os.Getenv("IMGBATCH_SIM_LOG"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		logw = f
	}
	// The text handler and those With derives from it share one lock
	// around their writes: the children's lines do not interleave.
	return slog.New(slog.NewTextHandler(logw, nil))
}

// watchSim logs the progress every 15 s, for people watching a long
// simulation with -v, until the returned func is called.
func watchSim(t testing.TB, start time.Time, note *countingNotifier, shards int, counter *countingHandler, planned int64) func() {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				t.Logf("%s: %d of %d shards done, %d requests", time.Since(start).Round(time.Second), note.shards.Load(), shards, counter.total.Load()-planned)
			}
		}
	}()
	return func() { close(done) }
}

// sim is one simulated array working a run.
type sim struct {
	t           testing.TB
	cfg         simConfig
	url         string
	runID       string
	deadline    context.Context
	proc        *simProcessor
	note        *countingNotifier
	log         *slog.Logger
	ownRequests int64

	mu  sync.Mutex // guards rng and rep
	rng *rand.Rand
	rep simReport
	wg  sync.WaitGroup
}

// startChild starts attempt of child index after delay.
func (sm *sim) startChild(index, attempt int, delay time.Duration) {
	sm.wg.Add(1)
	go func() {
		defer sm.wg.Done()
		if delay > 0 && !sleep(sm.deadline, delay) {
			return
		}
		abort, kill := context.WithCancel(sm.deadline)
		defer kill()
		tr := &childTransport{base: newChildHTTPTransport(), kill: kill}
		defer tr.base.(*http.Transport).CloseIdleConnections()
		retry, retryAfter := sm.faults(tr, attempt)
		r := &Runner{
			Store: &Store{S3: newSimClient(sm.url, tr), Bucket: "work"}, RunID: sm.runID,
			Me:        Identity{JobID: "sim", Index: index, ArraySize: sm.cfg.Children, Attempt: attempt},
			Processor: sm.proc, Notifier: sm.note, Log: sm.log.With("child", index, "attempt", attempt),
			LeaseTTL: sm.cfg.TTL, Poll: sm.cfg.Poll, CheckpointEvery: 5, Linger: true, Abort: abort,
		}
		st, err := r.Run(sm.deadline)
		sm.record(index, attempt, st, err, tr, retry, retryAfter)
	}()
}

// faults draws what happens to a child's first attempt (killed or paused
// at some request), and whether and when a killed one is retried.
func (sm *sim) faults(tr *childTransport, attempt int) (retry bool, retryAfter time.Duration) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	cfg, rng := sm.cfg, sm.rng
	if attempt == 1 {
		switch x := rng.Float64(); {
		case x < cfg.KillFrac:
			tr.killAt = 2 + rng.Int64N(sm.ownRequests)
			sm.rep.Killed++
		case x < cfg.KillFrac+cfg.PauseFrac:
			tr.pauseAt = 2 + rng.Int64N(sm.ownRequests)
			tr.pauseFor = cfg.TTL + time.Duration(rng.Int64N(int64(cfg.TTL)))
			sm.rep.Paused++
		}
	}
	retry = tr.killAt > 0 && rng.Float64() < cfg.RetryFrac
	retryAfter = time.Duration(rng.Int64N(int64(2 * cfg.TTL)))
	return retry, retryAfter
}

// record counts a child's attempt and starts the retry of a killed one.
func (sm *sim) record(index, attempt int, st Stats, err error, tr *childTransport, retry bool, retryAfter time.Duration) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.rep.LeasesLost += st.LeasesLost
	sm.rep.Stolen += st.Stolen
	if st.Finalized {
		sm.rep.Finalizers++
	}
	if tr.killed {
		if retry {
			sm.rep.Retried++
			sm.startChild(index, attempt+1, retryAfter)
		}
		return
	}
	if err != nil && sm.deadline.Err() == nil {
		sm.t.Errorf("child %d#%d: %v", index, attempt, err)
	}
}

// checkSimRun asserts the run's outcome: exactly one run event, one done
// marker per shard, and one report row per item whose result was really
// produced by the processor under an epoch no later than the one that
// finished its shard.
func checkSimRun(t testing.TB, s *Store, run *imgbatch.Run, proc *simProcessor, note *countingNotifier, rep simReport) (lastShard, final time.Time) {
	t.Helper()
	ctx := context.Background()
	if rep.RunFinished != 1 {
		t.Errorf("RunFinished called %d times, want exactly 1", rep.RunFinished)
	}
	doneEpoch, lastShard := checkSimDone(t, s, run, rep)
	lay := imgbatch.Layout{RunID: run.ID}
	var fin Final
	if _, err := s.GetJSON(ctx, lay.Final(), &fin); err != nil {
		t.Fatalf("final.json: %v", err)
	}
	if !fin.EventSent || fin.Counts.Items != int64(run.Items) {
		t.Errorf("final.json: %+v, want the event sent and %d items", fin, run.Items)
	}
	b, _, err := s.Get(ctx, lay.Report())
	if err != nil {
		t.Fatal(err)
	}
	report := itemtest.ParseReport(t, b)
	if int64(report.Rows) != run.Items {
		t.Errorf("report has %d rows, want %d (one per item)", report.Rows, run.Items)
	}
	for _, key := range report.Dups {
		t.Errorf("report has %s twice", key)
	}
	var failed int64
	proc.mu.Lock()
	defer proc.mu.Unlock()
	for key, r := range report.ByKey {
		if checkSimRow(t, run, proc, doneEpoch, key, r) {
			failed++
		}
	}
	if fin.Counts.Failed != failed {
		t.Errorf("final counts %d failed, report %d", fin.Counts.Failed, failed)
	}
	if len(proc.seen) != int(run.Items) {
		t.Errorf("processor saw %d distinct items, want %d", len(proc.seen), run.Items)
	}
	return lastShard, fin.FinishedAt
}

// checkSimDone checks that every shard has one done marker naming its
// results, and returns the epochs that finished the shards and when the
// last one did.
func checkSimDone(t testing.TB, s *Store, run *imgbatch.Run, rep simReport) (doneEpoch map[int]int64, lastShard time.Time) {
	t.Helper()
	ctx := context.Background()
	lay := imgbatch.LayoutOf(run)
	doneEpoch = map[int]int64{}
	var errs []error
	if err := s.eachShardObject(ctx, run, "done", func(n int, _ time.Time) {
		m, err := s.LoadDoneAt(ctx, lay, n)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if m.Shard != n || m.Results != lay.Results(n, m.Epoch) {
			errs = append(errs, fmt.Errorf("done marker %s names shard %d, results %s", lay.Done(n), m.Shard, m.Results))
		}
		doneEpoch[n] = m.Epoch
		if m.FinishedAt.After(lastShard) {
			lastShard = m.FinishedAt
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(doneEpoch) != run.Shards || rep.ByKind["PUT done 200"] != int64(run.Shards) {
		t.Errorf("%d done markers (%d written), want one for each of %d shards", len(doneEpoch), rep.ByKind["PUT done 200"], run.Shards)
	}
	return doneEpoch, lastShard
}

// checkSimRow checks the report row r of key: a result the processor
// produced under an epoch no later than the one that finished its shard,
// failed when it should, its message defused. It reports whether the row
// is a failure. proc.mu is held.
func checkSimRow(t testing.TB, run *imgbatch.Run, proc *simProcessor, doneEpoch map[int]int64, key string, r []string) bool {
	t.Helper()
	var idx int
	fmt.Sscanf(strings.TrimPrefix(key, "sim/"), "%07d.jpg", &idx)
	shard := idx / run.ShardSize
	var epoch int64
	if _, err := fmt.Sscanf(strings.TrimLeft(r[6], "'="), "e%d", &epoch); err != nil {
		t.Errorf("report row %q: no epoch in the message", r)
		return false
	}
	if epoch > doneEpoch[shard] {
		t.Errorf("%s: result of epoch %d in shard %d finished by epoch %d", key, epoch, shard, doneEpoch[shard])
	}
	processed := false
	for _, e := range proc.seen[key] {
		processed = processed || e == epoch
	}
	if !processed {
		t.Errorf("%s: the report has a result of epoch %d, but it was processed under %v", key, epoch, proc.seen[key])
	}
	if wantFail := simFails(key); wantFail != (r[3] == "failed") {
		t.Errorf("%s: status %s, want failed=%v", key, r[3], wantFail)
	}
	if r[3] != "failed" {
		return false
	}
	if !strings.HasPrefix(r[6], "'") {
		t.Errorf("%s: message %q not defused for spreadsheets", key, r[6])
	}
	return true
}

// simConfigFor sizes a simulation. The lease must outlast a shard under
// load: one in-process S3 on two shared cores answers about a thousand
// requests a second, so with C children each request waits about C ms and a
// shard (six or so requests) takes 6·C ms; the TTL is 2 s or 20·C ms,
// whichever is longer, and pauses last one to two TTLs.
func simConfigFor(children, shards int, seed uint64) simConfig {
	ttl := max(2*time.Second, time.Duration(children)*20*time.Millisecond)
	return simConfig{Children: children, Shards: shards, ShardSize: 10, TTL: ttl, Poll: ttl / 8,
		PauseFrac: 0.05, KillFrac: 0.05, RetryFrac: 0.5, ItemDelay: time.Millisecond, Seed: seed, MaxRunTime: 30 * time.Minute}
}

// TestClaimsAtScale runs 50 children over 500 shards (20 over 200 in
// -short); IMGBATCH_SCALE=full runs 1,000 over 10,000 (minutes).
func TestClaimsAtScale(t *testing.T) {
	cfg := simConfigFor(50, 500, 1)
	cfg.PauseFrac, cfg.KillFrac, cfg.MaxRunTime = 0.1, 0.1, 3*time.Minute
	if testing.Short() {
		cfg.Children, cfg.Shards = 20, 200
	}
	if os.Getenv("IMGBATCH_SCALE") == "full" {
		cfg = simConfigFor(1000, 10000, 1)
	}
	rep := simulate(t, cfg)
	t.Logf("%d children, %d shards of %d, lease %s: %s", cfg.Children, cfg.Shards, cfg.ShardSize, cfg.TTL, rep)
	if rep.Paused == 0 || rep.Killed == 0 {
		t.Errorf("the simulation paused %d and killed %d children; it must do both", rep.Paused, rep.Killed)
	}
}

// BenchmarkClaimsAtScale runs the full simulation once: 1,000 children,
// 10,000 shards. Run it with
//
//	go test -run '^$' -bench ClaimsAtScale -benchtime 1x -timeout 40m ./batch/
func BenchmarkClaimsAtScale(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cfg := simConfigFor(1000, 10000, uint64(i+1))
		rep := simulate(b, cfg)
		b.ReportMetric(float64(rep.Requests)/float64(cfg.Shards), "req/shard")
		b.ReportMetric(float64(rep.Requests)/float64(rep.Items), "req/item")
		b.ReportMetric(float64(rep.ClaimConflicts), "claim-conflicts")
		b.ReportMetric(rep.Wall.Seconds(), "wall-s")
		b.Logf("%s", rep)
	}
}
