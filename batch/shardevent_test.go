package batch

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// racingNotifier holds back the first Shard Completed one child sends (the
// owner of that shard's done marker) until the finalizer has written
// summary.json, i.e. until it has read every done marker and is at the
// point where it sends what their outboxes still hold. It counts what it
// accepts per shard.
type racingNotifier struct {
	countingNotifier
	s       *Store
	summary string
	hold    string // the owner whose first send is held back

	mu       sync.Mutex
	held     bool
	timedOut bool // the finalizer never got as far while the send was held
	accepted map[int]int
}

func (n *racingNotifier) ShardCompleted(ctx context.Context, _ *imgbatch.Run, m DoneMarker) error {
	n.mu.Lock()
	first := m.Owner == n.hold && !n.held
	n.held = n.held || first
	n.mu.Unlock()
	if first {
		n.timedOut = true
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
			if ok, _ := n.s.Exists(context.Background(), n.summary); ok {
				n.timedOut = false
				break
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.accepted[m.Shard]++
	n.mu.Unlock()
	return nil
}

// TestShardEventOnceWhileFinalizerRacesItsOwner: the child that finished a
// shard is still sending its Shard Completed (the done marker written, its
// outbox not yet marked sent) when another child, finishing the last shard,
// finalizes the run. The finalizer must leave that event to its owner while
// the owner's send window is open, not send it a second time. (The
// TestLocalViaBatch flake: 4 Shard Completed events for 3 shards.)
func TestShardEventOnceWhileFinalizerRacesItsOwner(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.ShardSize, o.Width = 10, 2
	p := mustPlan(t, s, itemtest.NewSource(items(20)...), o)
	note := &racingNotifier{s: s, summary: imgbatch.LayoutOf(&p.Run).Summary(), hold: "j:0#1", accepted: map[int]int{}}
	const ttl = 20 * time.Second // the owner's send window: far longer than the test may take
	start := time.Now()
	// Child 0 claims shard 0 and is held sending its event; only then child
	// 1 starts, finishes shard 1 and, lingering, finalizes. Child 0 does
	// not linger, or it would wait out the finalizer's lease (ttl) once its
	// send is done.
	child := func(i int) *Runner {
		return &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: i, ArraySize: 2, Attempt: 1},
			Processor: &echoProcessor{}, Notifier: note, LeaseTTL: ttl, Poll: 20 * time.Millisecond, Linger: i == 1}
	}
	var wg sync.WaitGroup
	for i := range 2 {
		if i == 1 {
			waitFor(t, s, imgbatch.LayoutOf(&p.Run).Claim(0))
		}
		wg.Go(func() {
			if _, err := child(i).Run(ctx); err != nil {
				t.Errorf("child %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if !note.held || note.timedOut {
		t.Fatalf("child 0's event held %v, timed out %v: the finalizer did not run while it was held, the test proves nothing", note.held, note.timedOut)
	}
	if note.runs.Load() != 1 {
		t.Errorf("%d run events, want 1", note.runs.Load())
	}
	for n := 0; n < p.Run.Shards; n++ {
		if got := note.accepted[n]; got != 1 {
			t.Errorf("shard %d: Shard Completed accepted %d times, want once", n, got)
		}
		m, err := s.LoadDone(ctx, p.Run.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		if !m.EventSent {
			t.Errorf("shard %d: done marker not marked sent", n)
		}
	}
	if took := time.Since(start); took > ttl/2 {
		t.Errorf("the run took %v: the finalizer waited out the owner's window instead of seeing its event sent", took)
	}
}

// waitFor waits until key exists (at most 10 s).
func waitFor(t *testing.T, s *Store, key string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok, _ := s.Exists(context.Background(), key); ok {
			return
		}
	}
	t.Fatalf("%s never appeared", key)
}

// TestRefusedShardEventIsHandedOverAtOnce: an owner whose send EventBridge
// refused hands the event over (EventBy cleared), so the finalizer sends it
// at once instead of waiting out the owner's window.
func TestRefusedShardEventIsHandedOverAtOnce(t *testing.T) {
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(40)...), planOpts())
	note := &flakyNotifier{refused: map[int]bool{}, accepted: map[int]int{}}
	const ttl = 20 * time.Second
	start := time.Now()
	runChildren(t, 1, func(i int) *Runner {
		return &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: i, ArraySize: 1, Attempt: 1},
			Processor: &echoProcessor{}, Notifier: note, LeaseTTL: ttl, Poll: 20 * time.Millisecond, Linger: true}
	})
	if len(note.refused) != 2 {
		t.Fatalf("refused the events of shards %v, want 0 and 3: the test proves less than it says", note.refused)
	}
	for n := 0; n < p.Run.Shards; n++ {
		if note.accepted[n] != 1 {
			t.Errorf("shard %d: accepted %d times, want once", n, note.accepted[n])
		}
	}
	if took := time.Since(start); took > ttl/2 {
		t.Errorf("the run took %v: the finalizer waited out the window of events handed over to it", took)
	}
}

// TestOrphanedShardEventIsSentAfterItsWindow: an owner that wrote its done
// marker and died before sending leaves the event in the marker; the
// finalizer sends it once the owner's window (EventBy) has ended, not
// before, and exactly once.
func TestOrphanedShardEventIsSentAfterItsWindow(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(20)...), planOpts())
	const window = 700 * time.Millisecond
	// The owner dies inside its send, right after each done marker: its
	// goroutine ends there (runtime.Goexit), with no "sent" and no hand-over.
	r := &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", ArraySize: 1, Attempt: 1}, Processor: &echoProcessor{},
		Notifier: dyingNotifier{}, LeaseTTL: window}
	r.defaults()
	lea := &Leaser{Store: s, RunID: p.Run.ID, Me: r.Me, TTL: window}
	sc := newScanner(s, &p.Run, 0, 1)
	for n := 0; n < p.Run.Shards; n++ {
		var wg sync.WaitGroup
		wg.Go(func() {
			var st Stats
			if _, err := r.tryShard(ctx, ctx, &p.Run, lea, sc, candidate{n: n, fresh: true}, &st, r.Log); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	}
	var last time.Time
	for n := 0; n < p.Run.Shards; n++ {
		m, err := s.LoadDone(ctx, p.Run.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		if m.EventSent || m.EventBy.IsZero() {
			t.Fatalf("shard %d: marker sent %v, eventBy %v; want unsent with a window", n, m.EventSent, m.EventBy)
		}
		if m.EventBy.After(last) {
			last = m.EventBy
		}
	}
	note := &flakyNotifier{refused: map[int]bool{0: true}, accepted: map[int]int{}} // shard 0 counts as refused already: it refuses nothing
	ok, err := Finalize(ctx, s, &p.Run, Identity{JobID: "fin", Attempt: 1}, note, r.Log)
	if !ok || err != nil {
		t.Fatalf("finalize: %v %v", ok, err)
	}
	if now := time.Now(); now.Before(last) {
		t.Errorf("finalized %v before the owner's window ended: it did not wait for the owner", last.Sub(now))
	}
	for n := 0; n < p.Run.Shards; n++ {
		if note.accepted[n] != 1 {
			t.Errorf("shard %d: accepted %d times, want once", n, note.accepted[n])
		}
	}
}

// dyingNotifier ends the goroutine that sends a Shard Completed, as a child
// that dies at that moment.
type dyingNotifier struct{}

func (dyingNotifier) ShardCompleted(context.Context, *imgbatch.Run, DoneMarker) error {
	runtime.Goexit()
	return nil
}

func (dyingNotifier) RunFinished(context.Context, *imgbatch.Run, Final) error { return nil }
