package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// TestPauseKillResume runs real `imgbatch work` children (this test binary
// as imgbatch) on the local S3 and bus: pause → the child checkpoints and
// exits 76; resume → "Run Requested" and a new child goes on; pause again
// and SIGKILL the child before it can checkpoint; resume → the run
// completes with every item exactly once in report.csv.
func TestPauseKillResume(t *testing.T) {
	testutil.Long(t, "starts three child processes and processes 60 images")
	e := newCmdEnv(t)
	ctx := context.Background()
	const n = 60
	var items []imgbatch.Item
	src := testutil.JPEG(t, testutil.Photo(800, 600, 7), 85)
	for i := range n {
		key := fmt.Sprintf("in/%03d.jpg", i)
		s3test.Put(t, e.cl.s3, "source", key, src)
		items = append(items, imgbatch.Item{Bucket: "source", Key: key})
	}
	recipe := imgbatch.Recipe{Name: "t", Variants: []imgbatch.Variant{{Name: "w", Width: 320, Height: 320, Format: imgbatch.FormatWebP, Quality: 70}}}
	plan, err := e.store.PlanRun(ctx, itemtest.NewSource(items...), batch.PlanOptions{OutputBucket: "output", OutputPrefix: "out", Recipe: recipe, ShardSize: 5, Width: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := plan.Run.ID
	lay := imgbatch.Layout{RunID: id}
	args := []string{"--run-id", id, "--work-bucket", "work", "--processors", "1", "--lease-ttl", "2s", "--poll", "100ms", "--control-every", "100ms", "--grace", "10s"}
	doneShards := func() int { return s3test.Count(t, e.cl.s3, "work", lay.DonePrefix()) }

	// Pause: the child checkpoints and exits 76.
	c1 := startChild(t, e.env, 1, args...)
	testutil.Eventually(t, 2*time.Minute, "a done shard", func() bool { return doneShards() >= 1 })
	if code, out, errs := e.imgbatch(t, "pause", "--reason", "test", id); code != 0 || !strings.Contains(out, "imgbatch resume "+id) {
		t.Fatalf("pause exited %d: %s%s", code, out, errs)
	}
	if code := c1.wait(t, time.Minute); code != exitPaused {
		t.Fatalf("child exited %d after pause, want %d; log:\n%s", code, exitPaused, c1.out.String())
	}
	after1 := doneShards()
	if after1 >= plan.Run.Shards {
		t.Fatalf("the run finished before the pause took (%d shards): nothing was paused", after1)
	}
	if st := statusJSON(t, e, id); st.State != batch.StatePaused || !strings.Contains(st.Hint, "imgbatch resume "+id) {
		t.Errorf("status of the paused run: %q (%s)", st.State, st.Hint)
	}
	if code, out, _ := e.imgbatch(t, "pause", id); code != 0 || !strings.Contains(out, "already paused") {
		t.Errorf("second pause exited %d: %s", code, out)
	}

	// Resume sends Run Requested (the array's rule would start it); a new
	// child goes on; then pause, and SIGKILL it before it can checkpoint.
	if code, out, errs := e.imgbatch(t, "resume", id); code != 0 || !strings.Contains(out, "Run Requested") {
		t.Fatalf("resume exited %d: %s%s", code, out, errs)
	}
	if n := len(e.events(ebus.DetailTypeRunRequested)); n != 1 {
		t.Errorf("%d Run Requested events after resume, want 1", n)
	}
	c2 := startChild(t, e.env, 2, args...)
	testutil.Eventually(t, 2*time.Minute, "another done shard", func() bool { return doneShards() > after1 })
	if code, _, errs := e.imgbatch(t, "pause", id); code != 0 {
		t.Fatalf("pause exited %d: %s", code, errs)
	}
	if err := c2.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c2.wait(t, time.Minute)
	if doneShards() >= plan.Run.Shards {
		t.Fatalf("the run finished before the second pause")
	}

	// Resume: the last child takes over (the killed child's lease is its
	// own earlier attempt's) and finishes the run.
	if code, _, errs := e.imgbatch(t, "resume", id); code != 0 {
		t.Fatalf("resume exited %d: %s", code, errs)
	}
	c3 := startChild(t, e.env, 3, args...)
	if code := c3.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("last child exited %d; log:\n%s", code, c3.out.String())
	}
	fin := loadFinal(t, e, id)
	b, _, err := e.store.Get(ctx, fin.Report)
	if err != nil {
		t.Fatal(err)
	}
	rep := itemtest.ParseReport(t, b)
	if fin.Status != batch.RunCompleted || fin.Counts.Items != n || fin.Counts.Failed != 0 || rep.Rows != n || len(rep.ByKey) != n {
		t.Errorf("final %+v; report %d rows for %d keys, want %d once each", fin, rep.Rows, len(rep.ByKey), n)
	}
	if st := statusJSON(t, e, id); st.State != batch.StateCompleted {
		t.Errorf("status after the run: %q (%s)", st.State, st.Hint)
	}
}
