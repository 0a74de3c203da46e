package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// slowProcessor fails the items whose key contains fail (when set), after
// a short wait per item (so that a run lasts long enough to be stopped),
// and counts the items it was handed.
type slowProcessor struct {
	per   time.Duration
	fail  string
	calls atomic.Int64
}

func (p *slowProcessor) Process(ctx context.Context, _ *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	for t := range tasks {
		p.calls.Add(1)
		select {
		case <-time.After(p.per):
		case <-ctx.Done():
			return ctx.Err()
		}
		r := imgbatch.Result{Index: t.Index, Item: t.Item, Status: imgbatch.StatusSucceeded}
		if p.fail != "" && strings.Contains(t.Item.Key, p.fail) {
			r.Status, r.ErrorCode, r.Message = imgbatch.StatusFailed, "AccessDenied", "403"
		}
		emit(r)
	}
	return nil
}

// controlledRun runs width in-process children over the run, sending
// events to the test bus and reading the control object every 20ms; a
// child may end with ErrRunEnded (the run was ended early) and nothing else.
func controlledRun(t *testing.T, e *cmdEnv, runID string, width int, proc imgbatch.Processor) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for i := range width {
		wg.Go(func() {
			r := &batch.Runner{Store: e.store, RunID: runID, Me: batch.Identity{JobID: "test", Index: i, ArraySize: width, Attempt: 1},
				Processor: proc, Notifier: notifier{pub: e.cl.publisher("imgbatch", ebus.DefaultSource)},
				LeaseTTL: 2 * time.Second, Poll: 50 * time.Millisecond, CheckpointEvery: 1, ControlEvery: 20 * time.Millisecond, Linger: true}
			if _, err := r.Run(context.Background()); err != nil && !errors.Is(err, batch.ErrRunEnded) {
				t.Errorf("child %d: %v", i, err)
			}
		})
	}
	return &wg
}

// runFailed is the one Run Failed event of the run.
func runFailed(t *testing.T, e *cmdEnv, runID string) ebus.RunFailed {
	t.Helper()
	var got []ebus.RunFailed
	for _, env := range e.events(ebus.DetailTypeRunFailed) {
		ev, err := env.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if rf := ev.(ebus.RunFailed); rf.RunID == runID {
			got = append(got, rf)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d Run Failed events for %s, want 1", len(got), runID)
	}
	return got[0]
}

// coveredOnce checks that report.csv and remaining.csv of an ended run hold
// every key exactly once, and returns the keys of remaining.csv.
func coveredOnce(t *testing.T, e *cmdEnv, fin batch.Final, keys []string) []string {
	t.Helper()
	ctx := context.Background()
	b, _, err := e.store.Get(ctx, fin.Report)
	if err != nil {
		t.Fatal(err)
	}
	rb, _, err := e.store.Get(ctx, fin.Remaining)
	if err != nil {
		t.Fatal(err)
	}
	_, left := itemtest.CoverOnce(t, b, rb, keys)
	if int64(len(left)) != fin.NotRun {
		t.Errorf("remaining.csv has %d keys, final.json says %d not run", len(left), fin.NotRun)
	}
	return left
}

func loadFinal(t *testing.T, e *cmdEnv, runID string) batch.Final {
	t.Helper()
	var fin batch.Final
	if _, err := e.store.GetJSON(context.Background(), imgbatch.Layout{RunID: runID}.Final(), &fin); err != nil {
		t.Fatal(err)
	}
	return fin
}

// statusJSON is `imgbatch status --json RUN`.
func statusJSON(t *testing.T, e *cmdEnv, runID string, extra ...string) batch.RunStatus {
	t.Helper()
	_, out, errs := e.imgbatch(t, append(append([]string{"status", "--json"}, extra...), runID)...)
	var st batch.RunStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s%s", err, out, errs)
	}
	return st
}

func TestEarlyStopOnToleranceThenRedriveTheRemaining(t *testing.T) {
	e := newCmdEnv(t)
	ctx := context.Background()
	var keys []string
	for i := range 300 { // the first half fails: the first shards all fail
		kind := "ok"
		if i < 150 {
			kind = "bad"
		}
		keys = append(keys, fmt.Sprintf("%s-%03d.jpg", kind, i))
	}
	runID := planKeys(t, e, keys, "--shard-size", "10", "--width", "2", "--min-tasks", "20", "--max-failed-percent", "50")
	proc := &slowProcessor{per: time.Millisecond, fail: "bad"}
	controlledRun(t, e, runID, 2, proc).Wait()

	if n := proc.calls.Load(); n >= 150 {
		t.Errorf("%d of 300 items attempted, want fewer than half (an early stop)", n)
	}
	fin := loadFinal(t, e, runID)
	ev := runFailed(t, e, runID)
	if fin.Status != batch.RunFailed || fin.Reason != imgbatch.ReasonTolerance || ev.Reason != imgbatch.ReasonTolerance || ev.RemainingURI == "" {
		t.Fatalf("final %+v\nevent %+v", fin, ev)
	}
	left := coveredOnce(t, e, fin, keys)
	t.Logf("stopped early: %d attempted, %d ran, %d remaining; %s", proc.calls.Load(), fin.Counts.Items, len(left), fin.Detail)
	if st := statusJSON(t, e, runID); st.State != batch.StateFailedTolerance || !strings.Contains(st.Hint, "imgbatch redrive "+runID) {
		t.Errorf("status %q: %q", st.State, st.Hint)
	}

	// Redrive: a new run of exactly the remaining items, which completes.
	code, out, errs := e.imgbatch(t, "redrive", runID)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("(%d remaining items)", len(left))) {
		t.Fatalf("redrive exited %d:\n%s%s", code, out, errs)
	}
	old, err := e.store.LoadRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	newID := batch.NewRunID("redrive-remaining:"+runID, old.CreatedAt)
	nr, err := e.store.LoadRun(ctx, newID)
	if err != nil || nr.Items != int64(len(left)) {
		t.Fatalf("redriven run: %+v %v", nr, err)
	}
	controlledRun(t, e, newID, 2, &slowProcessor{}).Wait() // the cause fixed: nothing fails
	if nf := loadFinal(t, e, newID); nf.Counts.Items != int64(len(left)) || nf.Remaining != "" {
		t.Errorf("redriven run final %+v, want its %d items run", nf, len(left))
	}
}

func TestCancelMidRun(t *testing.T) {
	e := newCmdEnv(t)
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k/%03d.jpg", i))
	}
	runID := planKeys(t, e, keys, "--shard-size", "10", "--width", "2")
	if code, out, _ := e.imgbatch(t, "cancel", "--dry-run", runID); code != 0 || !strings.Contains(out, "would cancel") {
		t.Fatalf("cancel --dry-run exited %d: %s", code, out)
	}
	wg := controlledRun(t, e, runID, 2, &slowProcessor{per: 10 * time.Millisecond})
	lay := imgbatch.Layout{RunID: runID}
	testutil.Eventually(t, time.Minute, "a done shard", func() bool {
		ok, _ := e.store.Exists(context.Background(), lay.Done(0))
		return ok
	})
	if st := statusJSON(t, e, runID); st.State != batch.StateRunning {
		t.Errorf("status before the cancel: %q (%s)", st.State, st.Hint)
	}
	if st := statusJSON(t, e, runID, "--stall-after", "1ns"); st.State != batch.StateStalled || !strings.Contains(st.Hint, "imgbatch cancel") {
		t.Errorf("status with --stall-after 1ns: %q (%s)", st.State, st.Hint)
	}
	code, out, errs := e.imgbatch(t, "cancel", "--reason", "wrong recipe", runID)
	if code != 0 || !strings.Contains(out, "cancelled") || !strings.Contains(out, "imgbatch redrive "+runID) {
		t.Fatalf("cancel exited %d:\n%s%s", code, out, errs)
	}
	wg.Wait() // the children stop between items
	fin := loadFinal(t, e, runID)
	if ev := runFailed(t, e, runID); ev.Reason != imgbatch.ReasonCancelled || fin.Reason != imgbatch.ReasonCancelled || fin.NotRun == 0 {
		t.Fatalf("event %+v\nfinal %+v", ev, fin)
	}
	coveredOnce(t, e, fin, keys)
	if st := statusJSON(t, e, runID); st.State != batch.StateCancelled || !strings.Contains(st.Hint, "redrive") {
		t.Errorf("status after the cancel: %q (%s)", st.State, st.Hint)
	}
	// A finished run cannot be cancelled, paused or resumed.
	for _, cmd := range []string{"cancel", "pause", "resume"} {
		if code, _, errs := e.imgbatch(t, cmd, runID); code != exitError || !strings.Contains(errs, "already finished") {
			t.Errorf("%s of a finished run exited %d: %s", cmd, code, errs)
		}
	}
	if code, _, errs := e.imgbatch(t, "cancel", "no-such-run"); code != exitError || !strings.Contains(errs, "not found") {
		t.Errorf("cancel of an unknown run exited %d: %s", code, errs)
	}
}

func TestWorkExitCodesOfPauseAndEnd(t *testing.T) {
	var ce *codedError
	if err := workExit(fmt.Errorf("x: %w", batch.ErrPaused)); !errors.As(err, &ce) || ce.code != exitPaused {
		t.Errorf("paused: %v, want exit %d", err, exitPaused)
	}
	if err := workExit(fmt.Errorf("x: %w", batch.ErrRunEnded)); err != nil {
		t.Errorf("run ended: %v, want exit 0", err)
	}
}
