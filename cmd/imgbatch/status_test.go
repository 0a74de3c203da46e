package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// gateProcessor stands in for the image pipeline: items whose key contains
// "bad" fail; the items of shards from blockFrom on wait for open after
// the first of them (so those shards stay running with a checkpoint).
type gateProcessor struct {
	blockFrom int
	open      chan struct{}
}

func (p *gateProcessor) Process(ctx context.Context, _ *imgbatch.Run, tasks <-chan imgbatch.Task, emit func(imgbatch.Result)) error {
	for t := range tasks {
		if p.open != nil && t.Shard >= p.blockFrom && t.Index > 0 {
			select {
			case <-p.open:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r := imgbatch.Result{Index: t.Index, Item: t.Item, Status: imgbatch.StatusSucceeded}
		if strings.Contains(t.Item.Key, "bad") {
			r.Status, r.ErrorCode, r.Message = imgbatch.StatusFailed, "CorruptImage", "not an image"
		}
		emit(r)
	}
	return nil
}

// workRun runs width children over the run with proc until they end.
func workRun(t testing.TB, e *cmdEnv, runID string, width int, proc imgbatch.Processor) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < width; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &batch.Runner{Store: e.store, RunID: runID, Me: batch.Identity{JobID: "test", Index: i, ArraySize: width, Attempt: 1},
				Processor: proc, LeaseTTL: time.Second, Poll: 50 * time.Millisecond, CheckpointEvery: 1, Linger: true}
			if _, err := r.Run(context.Background()); err != nil {
				t.Errorf("child %d: %v", i, err)
			}
		}()
	}
	return &wg
}

// planKeys plans keys (one item each) with submit --via none and returns the run id.
func planKeys(t testing.TB, e *cmdEnv, keys []string, extra ...string) string {
	t.Helper()
	path := writeTemp(t, "keys.txt", strings.Join(keys, "\n")+"\n")
	token := fmt.Sprintf("test-%d", time.Now().UnixNano())
	args := append([]string{"submit", "--via", "none", "--manifest", path, "--bucket", "source", "--output-bucket", "output",
		"--output-prefix", "v1", "--variant", "thumb:64x64:webp", "--client-token", token}, extra...)
	if code, _, errs := e.imgbatch(t, args...); code != 0 {
		t.Fatalf("submit exited %d: %s", code, errs)
	}
	return batch.NewRunID(token, time.Time{})
}

func TestStatusOfARunningThenFinishedRunAndWatch(t *testing.T) {
	e := newCmdEnv(t)
	keys := []string{"a.jpg", "b.jpg", "bad-1.jpg", "c.jpg", "d.jpg", "bad-2.jpg", "e.jpg", "f.jpg"}
	// 4 shards in manifest order; 2 failures of 8 items break the tolerance,
	// judged only from 8 items on: at the end, never early.
	runID := planKeys(t, e, keys, "--shard-size", "2", "--min-tasks", "8", "--max-failed-percent", "20", "--dedupe=false")
	proc := &gateProcessor{blockFrom: 2, open: make(chan struct{})}
	wg := workRun(t, e, runID, 2, proc)
	opened := false
	defer func() {
		if !opened {
			close(proc.open)
		}
		wg.Wait()
	}()

	// Running: shards 0 and 1 done, 2 and 3 claimed with one checkpointed result each.
	var st batch.RunStatus
	testutil.Eventually(t, 20*time.Second, "two shards done and two running", func() bool {
		code, out, errs := e.imgbatch(t, "status", "--json", "--shards", runID)
		if code != 0 {
			t.Fatalf("status exited %d: %s", code, errs)
		}
		st = batch.RunStatus{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return st.DoneCount == 2 && st.Running == 2 && st.Counts.Items == 6
	})
	if st.Final != nil || st.Pending != 0 || st.Counts.Failed != 1 || len(st.Shards) != 4 || st.Shards[2].State != "running" || st.Shards[2].Owner == "" {
		t.Errorf("running status: %+v", st)
	}
	if len(st.Failures) != 1 || st.Failures[0].ErrorCode != "CorruptImage" || st.Failures[0].Keys[0] != "bad-1.jpg" {
		t.Errorf("failures while running: %+v", st.Failures)
	}
	code, out, _ := e.imgbatch(t, "status", runID)
	if code != 0 || !strings.Contains(out, "run "+runID+": running") || !strings.Contains(out, "items   6/8 (75.0%)") ||
		!strings.Contains(out, "2 done, 2 running, 0 pending (of 4)") || !strings.Contains(out, "CorruptImage") {
		t.Errorf("status of a running run exited %d:\n%s", code, out)
	}

	// --watch: refreshes while running, ends with the run (exit 3: it broke its tolerance).
	var watchOut, watchErr testutil.SyncBuffer
	watchCode := make(chan int, 1)
	go func() {
		watchCode <- run([]string{"imgbatch", "--log-level", "warn", "status", "--watch", "100ms", runID}, &watchOut, &watchErr)
	}()
	testutil.Eventually(t, 10*time.Second, "--watch to print the running run twice", func() bool {
		return strings.Count(watchOut.String(), ": running") >= 2
	})
	close(proc.open)
	opened = true
	wg.Wait()
	select {
	case code := <-watchCode:
		if code != exitRunFailed {
			t.Errorf("status --watch exited %d, want %d (the run failed its tolerance)\n%s%s", code, exitRunFailed, watchOut.String(), watchErr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("status --watch did not end with the run:\n%s", watchOut.String())
	}
	w := watchOut.String()
	if !strings.Contains(w, "run "+runID+": failed-tolerance") || !strings.Contains(w, "reason  tolerance: 2 of 8 items failed") || !strings.Contains(w, "next    fix the cause") {
		t.Errorf("--watch output does not end with the failed run:\n%s", w)
	}

	// Finished: the final counts, the report, exit 3; --watch prints once and ends.
	for _, args := range [][]string{{"status", runID}, {"status", "--watch", "1h", runID}} {
		code, out, errs := e.imgbatch(t, args...)
		if code != exitRunFailed || strings.Count(out, "run "+runID) != 1 || !strings.Contains(out, "items   8/8 (100.0%): 6 succeeded, 0 skipped, 2 failed") ||
			!strings.Contains(out, "report  s3://work/runs/"+runID+"/report.csv") {
			t.Errorf("%v exited %d:\n%s%s", args, code, out, errs)
		}
	}
	code, out, _ = e.imgbatch(t, "status", "--json", runID)
	st = batch.RunStatus{}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Final == nil || st.DoneCount != 4 || st.Counts.Items != 8 || len(st.Failures) != 1 {
		t.Errorf("finished status --json (exit %d): %+v %v", code, st, err)
	}
	if code, _, errs := e.imgbatch(t, "status", "--watch", "1ms", runID); code != exitUsage || !strings.Contains(errs, "at least") {
		t.Errorf("--watch 1ms exited %d, want %d: %s", code, exitUsage, errs)
	}
	if code, _, errs := e.imgbatch(t, "status", runID, "--json"); code != exitUsage || !strings.Contains(errs, "flags go before RUN_ID: imgbatch status --json "+runID) {
		t.Errorf("a flag after RUN_ID: exit %d: %s", code, errs)
	}
}
