package batch

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/manifest"
)

// readManifestKeys reads a CSV manifest from the work bucket as S3 Batch
// Operations (and `imgbatch redrive`) would.
func readManifestKeys(t *testing.T, s *Store, key string) []string {
	t.Helper()
	ctx := context.Background()
	b, _, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	r, closer, err := manifest.Open(ctx, testutil.WriteTemp(t, "m.csv", string(b)), manifest.Options{Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	var keys []string
	for {
		it, err := r.Next()
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		keys = append(keys, it.Key)
	}
}

// coverOnce checks that report.csv and remaining.csv together hold every
// item of the run exactly once, and returns how many rows each has.
func coverOnce(t *testing.T, s *Store, f Final, all []imgbatch.Item) (ran, left int) {
	t.Helper()
	b, _, err := s.Get(context.Background(), f.Report)
	if err != nil {
		t.Fatal(err)
	}
	rep := itemtest.ParseReport(t, b)
	seen := map[string]int{}
	for k := range rep.ByKey {
		seen[k]++
	}
	rem := readManifestKeys(t, s, f.Remaining)
	for _, k := range rem {
		seen[k]++
	}
	for _, it := range all {
		if seen[it.Key] != 1 {
			t.Errorf("item %s is in report+remaining %d times, want once", it.Key, seen[it.Key])
		}
	}
	if len(seen) != len(all) || rep.Rows != len(rep.ByKey) {
		t.Errorf("report+remaining hold %d keys (%d report rows), want %d", len(seen), rep.Rows, len(all))
	}
	return rep.Rows, len(rem)
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
