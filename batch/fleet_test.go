package batch

import (
	"context"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// TestRampBound: no more children than the ramp has started since the
// plan; the width without a ramp or a plan time.
func TestRampBound(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	r := &Runner{Ramp: 100 * time.Second, Me: Identity{Index: 7, ArraySize: 100, Attempt: 1}}
	for at, want := range map[time.Duration]int{-time.Minute: 1, 0: 1, 999 * time.Millisecond: 1, time.Second: 2, 10500 * time.Millisecond: 11, 99 * time.Second: 100, time.Hour: 100} {
		if got := r.rampBound(t0, t0.Add(at)); got != want {
			t.Errorf("%s after the plan: bound %d, want %d", at, got, want)
		}
	}
	if got := (&Runner{Me: Identity{ArraySize: 100}}).rampBound(t0, t0); got != 100 {
		t.Errorf("without a ramp: %d, want the width", got)
	}
	if got := r.rampBound(time.Time{}, t0); got != 100 {
		t.Errorf("without a plan time: %d, want the width", got)
	}
}

// TestFleetBound: a watcher that lists 6 of 10 shards done writes 4 to
// the control object (one read and one write), not again for the same
// count; a child reading it is told 4; a pause written over it keeps the
// children at the width, and a watcher does not write over a pause.
func TestFleetBound(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.ShardSize, o.Width = 1, 10
	p := mustPlan(t, s, itemtest.NewSource(items(10)...), o)
	lay := imgbatch.LayoutOf(&p.Run)
	for n := range 6 {
		if _, err := s.PutJSON(ctx, lay.Done(n), DoneMarker{Shard: n}, Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	var told []int
	w := &Runner{Store: s, RunID: p.Run.ID, Me: Identity{JobID: "j", Index: 0, ArraySize: 10, Attempt: 1}, Fleet: func(n int) { told = append(told, n) }}
	w.defaults()
	c := w.newChild(&p.Run)
	if err := c.sc.lookDone(ctx); err != nil || c.sc.ndone != 6 {
		t.Fatalf("lookDone: %d done, %v; want 6 from one LIST", c.sc.ndone, err)
	}
	c.noteUndone(ctx)
	ctl, _, err := s.LoadControl(ctx, p.Run.ID)
	if err != nil || ctl == nil || ctl.Undone != 4 || ctl.Action != "" || ctl.stops() {
		t.Fatalf("control after the watcher's note: %+v, %v; want undone 4 and no action", ctl, err)
	}
	before := *ctl
	w.fleet.tried = time.Time{}
	c.noteUndone(ctx) // the same count: nothing to write
	if ctl, _, _ := s.LoadControl(ctx, p.Run.ID); ctl.UndoneAt != before.UndoneAt {
		t.Errorf("the same count was written again")
	}

	w.sawFleet(ctl, true)
	w.sawFleet(nil, false) // a failed read keeps the last bound
	if len(told) != 1 || told[0] != 4 {
		t.Errorf("Fleet told %v, want [4]", told)
	}
	if _, err := s.UpdateControl(ctx, p.Run.ID, func(*Control) (*Control, error) {
		return &Control{Action: ActionPause, Who: "op", At: time.Now()}, nil
	}); err != nil {
		t.Fatal(err)
	}
	paused, _, _ := s.LoadControl(ctx, p.Run.ID)
	w.sawFleet(paused, true)
	if told[len(told)-1] != 10 {
		t.Errorf("after a pause without a count: told %v, want the width last", told)
	}
	c.sc.markDone(6)
	c.sc.markDone(7)
	w.fleet.tried, w.fleet.wrote = time.Time{}, 0
	c.noteUndone(ctx)
	if ctl, _, _ := s.LoadControl(ctx, p.Run.ID); ctl.Action != ActionPause || ctl.Undone != 0 {
		t.Errorf("a watcher wrote over a pause: %+v", ctl)
	}
}

// TestLoadRunPlanTime: a planner whose clock is an hour ahead does not
// make the ramp's bound too low: S3's LastModified of run.json is earlier.
func TestLoadRunPlanTime(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.Width = 100
	p := mustPlan(t, s, itemtest.NewSource(items(10)...), o)
	run := p.Run
	run.CreatedAt = time.Now().Add(time.Hour)
	if _, err := s.PutJSON(ctx, imgbatch.LayoutOf(&run).Run(), run, Cond{}); err != nil {
		t.Fatal(err)
	}
	var told []int
	r := &Runner{Store: s, RunID: run.ID, Ramp: 100 * time.Second, Me: Identity{JobID: "j", Index: 3, ArraySize: 100, Attempt: 1},
		Fleet: func(n int) { told = append(told, n) }}
	r.defaults()
	got, err := r.loadRun(ctx)
	if err != nil || got.ID != run.ID {
		t.Fatalf("loadRun: %v", err)
	}
	// 5 s to the next control read, 1 s of margin, S3's whole seconds:
	// 7 or 8 children may have started (1 by the planner's clock).
	if len(told) != 1 || told[0] < 7 || told[0] > 8 {
		t.Errorf("Fleet told %v, want [7] or [8]", told)
	}
	if _, err := (&Runner{Store: s, RunID: "nope"}).loadRun(ctx); !IsNotFound(err) {
		t.Errorf("a missing run: %v, want not found", err)
	}
}
