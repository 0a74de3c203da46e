package batch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// coverOnce checks that report.csv and remaining.csv together hold every
// item of the run exactly once, and returns how many rows each has.
func coverOnce(t *testing.T, s *Store, f Final, all []imgbatch.Item) (ran, left int) {
	t.Helper()
	keys := make([]string, len(all))
	for i, it := range all {
		keys[i] = it.Key
	}
	rep, rem := itemtest.CoverOnce(t, get(t, s, f.Report), get(t, s, f.Remaining), keys)
	return rep.Rows, len(rem)
}

func get(t *testing.T, s *Store, key string) []byte {
	t.Helper()
	b, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAbortCoversDoneClaimedAndUntouchedShards(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.ShardSize = 10
	all := items(50) // 5 shards
	p := mustPlan(t, s, itemtest.NewSource(all...), o)
	run := &p.Run
	me := Identity{JobID: "j", Index: 0, ArraySize: 1, Attempt: 1}
	r := &Runner{Store: s, RunID: run.ID, Me: me, Processor: &echoProcessor{}, LeaseTTL: time.Minute}
	r.defaults()
	c := r.newChild(run)
	var st Stats
	for _, n := range []int{0, 1} { // done
		if _, err := r.tryShard(ctx, ctx, run, c.lea, c.sc, candidate{n: n, fresh: true}, &st, r.Log); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.lea.Acquire(ctx, 2); err != nil { // claimed by a live child, not done
		t.Fatal(err)
	}
	// shards 3 and 4: untouched

	note := &countingNotifier{}
	ok, err := Abort(ctx, s, run, Identity{JobID: "cli-cancel", Attempt: 1}, note, imgbatch.ReasonCancelled, nil)
	if err != nil || !ok {
		t.Fatalf("Abort = %v, %v; want true", ok, err)
	}
	f := note.last.Load().(Final)
	if f.Status != RunFailed || f.Reason != imgbatch.ReasonCancelled || f.Remaining != (imgbatch.Layout{RunID: run.ID}).Remaining() || f.NotRun != 30 || f.Counts.Items != 20 {
		t.Fatalf("final %+v", f)
	}
	if ran, left := coverOnce(t, s, f, all); ran != 20 || left != 30 {
		t.Errorf("report %d rows, remaining %d; want 20 and 30", ran, left)
	}
	var onDisk Final
	if _, err := s.GetJSON(ctx, imgbatch.Layout{RunID: run.ID}.Final(), &onDisk); err != nil || !onDisk.EventSent || onDisk.Reason != imgbatch.ReasonCancelled {
		t.Errorf("final.json %+v (%v)", onDisk, err)
	}
	ctl, _, err := s.LoadControl(ctx, run.ID)
	if err != nil || ctl == nil || ctl.Action != ActionAbort || ctl.Reason != imgbatch.ReasonCancelled {
		t.Errorf("control %+v (%v): want abort, so live children stop", ctl, err)
	}
	// A second abort, and a late child, find the run final.
	if ok, err := Abort(ctx, s, run, me, note, imgbatch.ReasonTolerance, nil); ok || err != nil || note.runs.Load() != 1 {
		t.Errorf("second Abort = %v, %v; %d run events", ok, err, note.runs.Load())
	}
}

func TestAbortForWorkersFailedLeavesAPausedRunAlone(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(5)...), planOpts())
	if _, err := s.UpdateControl(ctx, p.Run.ID, func(*Control) (*Control, error) {
		return &Control{Action: ActionPause, Who: "test"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	note := &countingNotifier{}
	ok, err := Abort(ctx, s, &p.Run, Identity{JobID: "reaper", Attempt: 1}, note, imgbatch.ReasonWorkersFailed, nil)
	if ok || err != nil || note.runs.Load() != 0 {
		t.Fatalf("Abort of a paused run for workers-failed = %v, %v, %d events; want nothing done", ok, err, note.runs.Load())
	}
	if ok, err := s.Exists(ctx, imgbatch.Layout{RunID: p.Run.ID}.Final()); ok || err != nil {
		t.Errorf("final.json exists=%v (%v)", ok, err)
	}
}

func TestStatusStatesOfEndedAndWaitingRuns(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(5)...), planOpts())
	st, err := s.Status(ctx, p.Run.ID, time.Now())
	if err != nil || st.State != StateWaiting {
		t.Fatalf("planned run: %q (%s) %v", st.State, st.Hint, err)
	}
	if ok, err := Abort(ctx, s, &p.Run, Identity{JobID: "reaper", Attempt: 1}, &countingNotifier{}, imgbatch.ReasonWorkersFailed, nil); !ok || err != nil {
		t.Fatalf("Abort = %v, %v", ok, err)
	}
	st, err = s.Status(ctx, p.Run.ID, time.Now())
	if err != nil || st.State != StateDead || !strings.Contains(st.Hint, "imgbatch redrive "+p.Run.ID) || st.Final.NotRun != 5 {
		t.Errorf("run ended for workers-failed: %q (%s) %+v %v", st.State, st.Hint, st.Final, err)
	}
}
