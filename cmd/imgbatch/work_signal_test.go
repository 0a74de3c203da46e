package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// TestWorkSIGTERMThenSIGKILLThenResume runs the real `imgbatch work` child
// against an in-process S3 through three attempts of one array child, the
// way AWS Batch would on Spot reclaims:
//
//  1. SIGTERM mid-shard: the child stops taking work, finishes what is in
//     flight, checkpoints and exits 75;
//  2. SIGKILL mid-shard (no chance to checkpoint): nothing done is lost,
//     because outputs carry their source ETag and recipe hash;
//  3. the last attempt resumes from the checkpoint and finishes the shard.
//
// Every item must end with exactly one result and every output must exist.
func TestWorkSIGTERMThenSIGKILLThenResume(t *testing.T) {
	testutil.Long(t, "starts three child processes and processes 80 images")
	ctx := context.Background()
	st := newWorkStack(t)
	const n = 80
	var items []imgbatch.Item
	srcs := [][]byte{testutil.JPEG(t, testutil.Photo(1600, 1200, 3), 85), testutil.JPEG(t, testutil.Photo(1200, 1600, 5), 85), testutil.JPEG(t, testutil.Photo(1400, 1050, 11), 85)}
	for i := range n {
		key := fmt.Sprintf("in/%03d.jpg", i)
		st.put(t, "source", key, srcs[i%len(srcs)])
		items = append(items, imgbatch.Item{Bucket: "source", Key: key})
	}
	store := st.cl.store("work")
	recipe := imgbatch.Recipe{Name: "t", Variants: []imgbatch.Variant{{Name: "w", Width: 480, Height: 480, Format: imgbatch.FormatWebP, Quality: 75}}}
	plan, err := store.PlanRun(ctx, itemtest.NewSource(items...), batch.PlanOptions{OutputBucket: "output", OutputPrefix: "out", Recipe: recipe, ShardSize: n, Width: 1})
	if err != nil {
		t.Fatal(err)
	}
	run := plan.Run
	args := []string{"--run-id", run.ID, "--work-bucket", "work", "--event-bus", "", "--processors", "1", "--grace", "20s", "--lease-ttl", "1m"}
	lay := imgbatch.Layout{RunID: run.ID}
	progress := func() *batch.Progress {
		var p batch.Progress
		if _, err := store.GetJSON(ctx, lay.Progress(0), &p); err != nil {
			return nil
		}
		return &p
	}
	outputs := func() int { return st.count(t, "output", "out/") }

	// Attempt 1: SIGTERM once a few outputs exist.
	c1 := startChild(t, st.env, 1, args...)
	testutil.Eventually(t, 2*time.Minute, "the first outputs", func() bool { return outputs() >= 3 })
	if err := c1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c1.wait(t, time.Minute); code != 75 {
		t.Fatalf("attempt 1 exited %d after SIGTERM, want 75; log:\n%s", code, c1.out.String())
	}
	p1 := progress()
	if p1 == nil || len(p1.Results) == 0 || len(p1.Results) >= n {
		t.Fatalf("checkpoint after SIGTERM: %+v, want some of %d results", p1, n)
	}
	for _, r := range p1.Results {
		if r.Status != imgbatch.StatusSucceeded {
			t.Errorf("checkpointed %s: %s %s %s", r.Item.Key, r.Status, r.ErrorCode, r.Message)
		}
		for _, o := range r.Outputs {
			if !st.exists("output", o.Key) {
				t.Errorf("checkpointed output %s does not exist", o.Key)
			}
		}
	}
	t.Logf("attempt 1: SIGTERM → exit 75 with %d of %d results checkpointed", len(p1.Results), n)

	// Attempt 2: resumes, then SIGKILL once it made a few more outputs.
	after1 := outputs()
	c2 := startChild(t, st.env, 2, args...)
	testutil.Eventually(t, 2*time.Minute, "attempt 2 to make outputs", func() bool { return outputs() >= after1+4 })
	if err := c2.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if code := c2.wait(t, time.Minute); code != -1 {
		t.Fatalf("attempt 2 exited %d after SIGKILL, want killed; log:\n%s", code, c2.out.String())
	}
	after2 := outputs()
	done2 := 0
	if p := progress(); p != nil {
		done2 = len(p.Results)
	}
	t.Logf("attempt 2: SIGKILL with %d outputs made, %d results checkpointed", after2, done2)

	// Attempt 3: finishes the shard.
	c3 := startChild(t, st.env, 3, args...)
	if code := c3.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("attempt 3 exited %d, want 0; log:\n%s", code, c3.out.String())
	}
	var m batch.DoneMarker
	if _, err := store.GetJSON(ctx, lay.Done(0), &m); err != nil {
		t.Fatalf("done marker: %v", err)
	}
	rs, err := store.ReadResults(ctx, m.Results)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	skipped := 0
	for _, r := range rs {
		seen[r.Index]++
		switch r.Status {
		case imgbatch.StatusSkipped:
			skipped++ // made by the killed attempt: current, so not made again
		case imgbatch.StatusSucceeded:
		default:
			t.Errorf("%s: %s %s %s", r.Item.Key, r.Status, r.ErrorCode, r.Message)
		}
		if r.Item.Key != items[r.Index].Key {
			t.Errorf("result %d is for %s, want %s", r.Index, r.Item.Key, items[r.Index].Key)
		}
	}
	if len(rs) != n || len(seen) != n {
		t.Errorf("%d results for %d distinct items, want %d", len(rs), len(seen), n)
	}
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("item %d has %d results", i, seen[i])
		}
		key, _ := run.OutputKeyOf(recipe.Variants[0], items[i])
		if !st.exists("output", key) {
			t.Errorf("output %s missing", key)
		}
	}
	if got := outputs(); got != n {
		t.Errorf("%d outputs, want %d", got, n)
	}
	if !st.exists("work", lay.Report()) {
		t.Error("the run was not finalized (no report.csv)")
	}
	t.Logf("attempt 3: done; %d results, %d of them skipped as already made", len(rs), skipped)
}
