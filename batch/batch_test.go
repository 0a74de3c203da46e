package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/manifest"
)

// newStore starts an in-process S3 (gofakes3) with a work bucket and
// returns a store using the real SDK client against it.
func newStore(t testing.TB) *Store {
	t.Helper()
	return &Store{S3: s3test.Start(t, "work").Client, Bucket: "work"}
}

// mustPlan plans a run of src on s.
func mustPlan(t testing.TB, s *Store, src manifest.Reader, o PlanOptions) *Plan {
	t.Helper()
	p, err := s.PlanRun(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runChildren runs width array children at once, each the Runner child
// makes for its index, until they all end; a child's error (other than the
// run ended early) fails t.
func runChildren(t testing.TB, width int, child func(i int) *Runner) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range width {
		wg.Go(func() {
			if _, err := child(i).Run(context.Background()); err != nil && !errors.Is(err, ErrRunEnded) {
				t.Errorf("child %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// errSource hands out items in order, but at a position errs holds an
// error for, that error instead of the item (a bad manifest line, or a
// broken read).
type errSource struct {
	src  *itemtest.Source
	errs map[int]error
	i    int
}

func withErrs(its []imgbatch.Item, errs map[int]error) *errSource {
	return &errSource{src: itemtest.NewSource(its...), errs: errs}
}

func (s *errSource) Next() (imgbatch.Item, error) {
	it, err := s.src.Next()
	if err != nil {
		return it, err
	}
	i := s.i
	s.i++
	if err := s.errs[i]; err != nil {
		return imgbatch.Item{}, err
	}
	return it, nil
}

// items is n items of 1000 bytes in bucket src: k/00000.jpg, k/00001.jpg, …
func items(n int) []imgbatch.Item { return numberedItems("k/%05d.jpg", n) }

// numberedItems is n items of 1000 bytes in bucket src, keyed by format
// and their number.
func numberedItems(format string, n int) []imgbatch.Item {
	out := make([]imgbatch.Item, n)
	for i := range out {
		out[i] = imgbatch.Item{Bucket: "src", Key: fmt.Sprintf(format, i), Size: 1000}
	}
	return out
}

// badLine is the error of malformed line n of keys.txt.
func badLine(n int64) error {
	return &manifest.LineError{Source: "keys.txt", Line: n, Reason: "not a key", Text: "\x00"}
}

func planOpts() PlanOptions {
	return PlanOptions{OutputBucket: "out", Recipe: imgbatch.DefaultRecipe, ShardSize: 10, Width: 3}
}

func TestPlanRunShardsAndBadLines(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	src := withErrs(items(25), map[int]error{3: badLine(4)})
	p := mustPlan(t, s, src, planOpts())
	if p.Run.Items != 24 || p.Run.Shards != 3 || p.Run.BadLines != 1 || p.Run.Bytes != 24000 {
		t.Fatalf("plan: items %d shards %d bad %d bytes %d; want 24, 3, 1, 24000", p.Run.Items, p.Run.Shards, p.Run.BadLines, p.Run.Bytes)
	}
	total := 0
	for n := 0; n < p.Run.Shards; n++ {
		its, err := s.LoadShard(ctx, p.Run.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		total += len(its)
	}
	if total != 24 {
		t.Fatalf("shards hold %d items, want 24", total)
	}
	run, err := s.LoadRun(ctx, p.Run.ID)
	if err != nil || run.RecipeHash != imgbatch.DefaultRecipe.Hash() {
		t.Fatalf("run.json: %+v %v", run, err)
	}
	// Too many bad lines stop the plan.
	o := planOpts()
	o.MaxBadLines = 1
	src = withErrs(items(5), map[int]error{1: badLine(2), 2: badLine(3)})
	if _, err := s.PlanRun(ctx, src, o); err == nil {
		t.Fatal("plan with 2 bad lines and --max-bad-lines 1 succeeded")
	}
}

func TestPlanRunClientTokenIsIdempotent(t *testing.T) {
	s := newStore(t)
	o := planOpts()
	o.ClientToken = "nightly-2026-11-23"
	a := mustPlan(t, s, itemtest.NewSource(items(15)...), o)
	b := mustPlan(t, s, itemtest.NewSource(items(30)...), o)
	if a.Existing || !b.Existing || a.Run.ID != b.Run.ID || b.Run.Items != 15 {
		t.Fatalf("same token: first %s existing=%v, second %s existing=%v items=%d", a.Run.ID, a.Existing, b.Run.ID, b.Existing, b.Run.Items)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLeaseAcquireRenewSteal(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	clk := &clock{t: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)}
	a := &Leaser{Store: s, RunID: "r", Me: Identity{JobID: "job", Index: 0, Attempt: 1}, TTL: time.Minute, Now: clk.Now}
	b := &Leaser{Store: s, RunID: "r", Me: Identity{JobID: "job", Index: 1, Attempt: 1}, TTL: time.Minute, Now: clk.Now}

	la, err := a.Acquire(ctx, 7)
	if err != nil || la == nil || la.Epoch != 1 {
		t.Fatalf("a: %+v %v", la, err)
	}
	var held *HeldError
	if lb, err := b.Acquire(ctx, 7); !errors.As(err, &held) || lb != nil || held.Owner != "job:0#1" || !held.Until.Equal(la.ExpiresAt) {
		t.Fatalf("b on a live lease: %+v %v, want a HeldError naming a and its expiry", lb, err)
	}
	clk.Add(40 * time.Second)
	if err := a.Renew(ctx, la); err != nil {
		t.Fatal(err)
	}
	clk.Add(40 * time.Second) // 80 s after the claim, 40 s after the renewal: still live
	if lb, _ := b.Acquire(ctx, 7); lb != nil {
		t.Fatal("b took a renewed lease")
	}
	clk.Add(30 * time.Second) // expired
	lb, err := b.Acquire(ctx, 7)
	if err != nil || lb == nil || lb.Epoch != 2 {
		t.Fatalf("b after expiry: %+v %v", lb, err)
	}
	if err := a.Renew(ctx, la); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a renewed a stolen lease: %v", err)
	}
	// A later attempt of the same array child takes its own lease at once.
	b2 := &Leaser{Store: s, RunID: "r", Me: Identity{JobID: "job", Index: 1, Attempt: 2}, TTL: time.Minute, Now: clk.Now}
	l2, err := b2.Acquire(ctx, 7)
	if err != nil || l2 == nil || l2.Epoch != 3 {
		t.Fatalf("next attempt: %+v %v", l2, err)
	}
	// Two children racing for a free shard: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l := &Leaser{Store: s, RunID: "r", Me: Identity{JobID: "race", Index: i, Attempt: 1}, TTL: time.Minute, Now: clk.Now}
			if got, err := l.Acquire(ctx, 99); err == nil && got != nil {
				wins.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d children won shard 99, want 1", wins.Load())
	}
}

func TestCheckpointFencing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Now
	old := &checkpointer{store: s, key: imgbatch.Layout{RunID: "r"}.Progress(1), epoch: 1, owner: "a", now: now}
	if _, err := old.load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.save(ctx, map[int]imgbatch.Result{0: {Index: 0, Status: imgbatch.StatusSucceeded}}); err != nil {
		t.Fatal(err)
	}
	// A new owner (epoch 2) resumes from it and writes.
	nw := &checkpointer{store: s, key: old.key, epoch: 2, owner: "b", now: now}
	p, err := nw.load(ctx)
	if err != nil || p == nil || len(p.Results) != 1 {
		t.Fatalf("resume: %+v %v", p, err)
	}
	if err := nw.save(ctx, map[int]imgbatch.Result{0: p.Results[0], 1: {Index: 1, Status: imgbatch.StatusFailed}}); err != nil {
		t.Fatal(err)
	}
	// The old owner wakes up: its write must not land.
	if err := old.save(ctx, map[int]imgbatch.Result{0: {Index: 0}, 2: {Index: 2}}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale owner's checkpoint: %v, want ErrLeaseLost", err)
	}
	var got Progress
	if _, err := s.GetJSON(ctx, old.key, &got); err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 2 || len(got.Results) != 2 {
		t.Fatalf("checkpoint after the stale write: epoch %d, %d results", got.Epoch, len(got.Results))
	}
}

// echoProcessor succeeds every item except those whose number ends in 7,
// which fail with a message that looks like a spreadsheet formula.
type echoProcessor struct{ calls atomic.Int64 }

func (p *echoProcessor) Process(ctx context.Context, run *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	for t := range tasks {
		p.calls.Add(1)
		r := imgbatch.Result{Index: t.Index, Item: t.Item, Status: imgbatch.StatusSucceeded}
		if len(t.Item.Key) > 0 && t.Item.Key[len(t.Item.Key)-5] == '7' {
			r.Status, r.ErrorCode, r.Message = imgbatch.StatusFailed, "CorruptImage", "=cmd|' /C calc'!A0"
		}
		emit(r)
	}
	return nil
}

type countingNotifier struct {
	shards atomic.Int64
	runs   atomic.Int64
	last   atomic.Value
}

func (n *countingNotifier) ShardCompleted(context.Context, *imgbatch.Run, DoneMarker) error {
	n.shards.Add(1)
	return nil
}

func (n *countingNotifier) RunFinished(_ context.Context, _ *imgbatch.Run, f Final) error {
	n.runs.Add(1)
	n.last.Store(f)
	return nil
}

func TestRunnersFinishEveryShardOnceAndFinalizeOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(95)...), planOpts())
	proc := &echoProcessor{}
	note := &countingNotifier{}
	const width = 3
	runChildren(t, width, func(i int) *Runner {
		return &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: i, ArraySize: width, Attempt: 1},
			Processor: proc, Notifier: note, LeaseTTL: time.Second, Poll: 50 * time.Millisecond, Linger: true}
	})
	if proc.calls.Load() != 95 {
		t.Errorf("processed %d items, want 95 (each once)", proc.calls.Load())
	}
	if note.shards.Load() != int64(p.Run.Shards) || note.runs.Load() != 1 {
		t.Errorf("events: %d shard, %d run; want %d and 1", note.shards.Load(), note.runs.Load(), p.Run.Shards)
	}
	f := note.last.Load().(Final)
	if f.Counts.Items != 95 || f.Counts.Failed != 9 || f.Status != RunCompleted {
		t.Errorf("final: %+v", f)
	}
	b, _, err := s.Get(ctx, f.Report)
	if err != nil {
		t.Fatal(err)
	}
	if got := countLines(b); got != 95 {
		t.Errorf("report has %d lines, want 95", got)
	}
	if bytes.Contains(b, []byte(",=cmd")) {
		t.Errorf("report carries a formula unescaped:\n%s", b)
	}
	fb, _, err := s.Get(ctx, f.Failed)
	if err != nil || countLines(fb) != 9 {
		t.Errorf("failed.csv: %d lines (%v), want 9", countLines(fb), err)
	}
	// A late child finds everything done and finalizes nothing again.
	r := &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: 0, ArraySize: width, Attempt: 2}, Processor: proc, Notifier: note, Linger: true}
	st, err := r.Run(ctx)
	if err != nil || st.Shards != 0 || st.Finalized || note.runs.Load() != 1 {
		t.Errorf("late child: %+v %v, run events %d", st, err, note.runs.Load())
	}
}

func TestFinalizeExactlyOnceUnderRace(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(20)...), planOpts())
	r := &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", ArraySize: 1, Attempt: 1}, Processor: &echoProcessor{}, Linger: false}
	r.defaults()
	// Process both shards without finalizing: call the shard loop directly.
	lea := &Leaser{Store: s, RunID: p.Run.ID, Me: r.Me, TTL: time.Minute}
	var st Stats
	sc := newScanner(s, &p.Run, 0, 1)
	for n := 0; n < p.Run.Shards; n++ {
		if _, err := r.tryShard(ctx, ctx, &p.Run, lea, sc, candidate{n: n, fresh: true}, &st, r.Log); err != nil {
			t.Fatal(err)
		}
	}
	note := &countingNotifier{}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := Finalize(ctx, s, &p.Run, Identity{JobID: "fin", Index: i, ArraySize: 8, Attempt: 1}, note, r.Log)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || note.runs.Load() != 1 {
		t.Fatalf("%d finalizers won and %d run events were sent; want 1 and 1", wins.Load(), note.runs.Load())
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// failingProcessor emits results for n tasks, then fails the attempt.
type failingProcessor struct{ n int }

func (p failingProcessor) Process(ctx context.Context, run *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	done := 0
	for t := range tasks {
		if done == p.n {
			for range tasks {
			}
			return errors.New("too many stuck libvips calls")
		}
		emit(imgbatch.Result{Index: t.Index, Item: t.Item, Status: imgbatch.StatusFailed, ErrorCode: "Timeout"})
		done++
	}
	return nil
}

// TestFatalProcessorErrorKeepsResults: when the processor ends the attempt,
// the results it already gave are checkpointed, so the retried attempt does
// not process those items (e.g. files that made libvips loop) again.
func TestFatalProcessorErrorKeepsResults(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.ShardSize = 10
	p := mustPlan(t, s, itemtest.NewSource(items(10)...), o)
	r := &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", ArraySize: 1, Attempt: 1}, Processor: failingProcessor{n: 3},
		CheckpointEvery: 1000, Linger: false}
	if _, err := r.Run(ctx); err == nil {
		t.Fatal("the attempt should fail with the processor's error")
	}
	var prog Progress
	if _, err := s.GetJSON(ctx, imgbatch.Layout{RunID: p.Run.ID}.Progress(0), &prog); err != nil {
		t.Fatalf("no checkpoint after the fatal error: %v", err)
	}
	if len(prog.Results) != 3 {
		t.Fatalf("checkpoint holds %d results, want the 3 given before the error", len(prog.Results))
	}
}

// flakyNotifier refuses the first Shard Completed of every third shard
// (EventBridge down, or the child died before sending) and records what it
// accepted; it counts the run's events as countingNotifier does.
type flakyNotifier struct {
	countingNotifier
	mu       sync.Mutex
	refused  map[int]bool
	accepted map[int]int
}

func (n *flakyNotifier) ShardCompleted(_ context.Context, _ *imgbatch.Run, m DoneMarker) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.Shard%3 == 0 && !n.refused[m.Shard] {
		n.refused[m.Shard] = true
		return errors.New("PutEvents: InternalFailure")
	}
	n.accepted[m.Shard]++
	return nil
}

// TestShardEventsAreNeverLost: a Shard Completed that could not be sent
// stays in the shard's done marker (the outbox) and the finalizer sends it
// before the run's event; every shard's event arrives, every marker ends
// marked sent.
func TestShardEventsAreNeverLost(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(60)...), planOpts())
	note := &flakyNotifier{refused: map[int]bool{}, accepted: map[int]int{}}
	runChildren(t, 2, func(i int) *Runner {
		return &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: i, ArraySize: 2, Attempt: 1},
			Processor: &echoProcessor{}, Notifier: note, LeaseTTL: 5 * time.Second, Poll: 50 * time.Millisecond, Linger: true}
	})
	if note.runs.Load() != 1 {
		t.Errorf("%d run events, want 1", note.runs.Load())
	}
	for n := 0; n < p.Run.Shards; n++ {
		if note.accepted[n] < 1 {
			t.Errorf("shard %d: its event never arrived", n)
		}
		m, err := s.LoadDone(ctx, p.Run.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		if !m.EventSent {
			t.Errorf("shard %d: done marker not marked sent", n)
		}
	}
	if len(note.refused) == 0 {
		t.Fatal("the test refused no event: it proves nothing")
	}
}
