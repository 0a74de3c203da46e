package batch

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// readPage reads a finalized run's report.html.
func readPage(t *testing.T, s *Store, runID string) string {
	t.Helper()
	b, _, err := s.Get(context.Background(), imgbatch.Layout{RunID: runID}.HTML())
	if err != nil {
		t.Fatalf("report.html: %v", err)
	}
	return string(b)
}

func wantInPage(t *testing.T, page string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
}

// TestReportHTMLOfARunCompletedWithFailures: a small run whose items
// mostly failed completes (the tolerance judges from 1,000 items); its
// page says so beside the figure, shows an amber badge, names failed.csv
// and the redrive command, and formats shard times for humans.
func TestReportHTMLOfARunCompletedWithFailures(t *testing.T) {
	s := newStore(t)
	o := planOpts()
	o.ShardSize = 5
	fail := funcProcessor(func(tk imgbatch.Task) imgbatch.Result {
		if tk.Index%4 == 0 {
			return imgbatch.Result{Status: imgbatch.StatusSucceeded}
		}
		return imgbatch.Result{Status: imgbatch.StatusFailed, ErrorCode: "CorruptImage", Message: "bad"}
	})
	run, note := runToEnd(t, s, items(20), o, 2, fail)
	f := note.last.Load().(Final)
	if f.Status != "completed" || f.Counts.Failed*2 <= f.Counts.Items {
		t.Fatalf("final %+v, want completed with most items failed", f)
	}
	page := readPage(t, s, run.ID)
	wantInPage(t, page, `class="status warn"`, "completed with failures", fmt.Sprintf("failed (%.1f %%)", float64(f.Counts.Failed)*100/20),
		"judged only from 1,000 items", "This run has 20 items",
		"s3://work/"+f.Failed, "imgbatch redrive --work-bucket work "+run.ID,
		"items/s end to end", "items/s while shards ran", `class="axis x"`)
	if m := regexp.MustCompile(`<td class="took">[^<]*</td>`).FindAllString(page, -1); len(m) != 4 {
		t.Errorf("%d shard time cells, want 4", len(m))
	} else if raw := regexp.MustCompile(`\d(ms|µs|ns|s)<|\.\d{3,}`).FindString(strings.Join(m, "")); raw != "" {
		t.Errorf("shard times %q are raw Go durations", m)
	}
}

// TestReportHTMLOfACancelledRun: a run ended early is red, with final.json's
// reason and detail, the items that never ran, remaining.csv and the
// command that starts them.
func TestReportHTMLOfACancelledRun(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(items(30)...), planOpts()) // 3 shards
	run := &p.Run
	r := &Runner{Store: s, RunID: run.ID, Me: Identity{JobID: "j", ArraySize: 1, Attempt: 1}, Processor: &echoProcessor{}, LeaseTTL: time.Minute}
	r.defaults()
	c := r.newChild(run)
	var st Stats
	if _, err := r.tryShard(ctx, ctx, run, c.lea, c.sc, candidate{n: 0, fresh: true}, &st, r.Log); err != nil {
		t.Fatal(err)
	}
	note := &countingNotifier{}
	if ok, err := Abort(ctx, s, run, Identity{JobID: "cli-cancel", Attempt: 1}, note, imgbatch.ReasonCancelled, nil); err != nil || !ok {
		t.Fatalf("Abort = %v, %v", ok, err)
	}
	f := note.last.Load().(Final)
	page := readPage(t, s, run.ID)
	wantInPage(t, page, `class="status failed"`, "failed: cancelled", "cancelled; 20 items did not run",
		"20 items never ran", "s3://work/"+f.Remaining, "imgbatch redrive --work-bucket work "+run.ID)
	if strings.Contains(page, `class="status ok"`) || strings.Contains(page, `class="status warn"`) {
		t.Error("a cancelled run's page shows a success or warning badge")
	}
}
