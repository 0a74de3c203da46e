package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/batch"
	ebus "github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack"
)

// TestDeadArrayIsReaped: a run whose output bucket does not exist makes
// every array child exit 1 (not retried). The local array runner sends the
// parent's "Batch Job State Change" (FAILED) to the default bus, where the
// template's DeadArrayRule routes it to the SNS stand-in
// (notifications.jsonl, naming the run and the job) and to the reaper job,
// which ends the run: Run Failed with reason workers-failed, report.csv and
// remaining.csv written. A second reap of the final run does nothing.
func TestDeadArrayIsReaped(t *testing.T) {
	testutil.Long(t, "end-to-end run of array children and the reaper")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stackLog testutil.SyncBuffer
	st, err := localstack.Start(localstack.Options{Dir: dir, Width: 2, Exe: exe,
		ChildEnv: []string{"IMGBATCH_BE_MAIN=1", "IMGBATCH_LOG_FORMAT=json", "IMGBATCH_LEASE_TTL=3s", "IMGBATCH_POLL=500ms"},
		Log:      slog.New(slog.NewTextHandler(&stackLog, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, cl := setLocalAWSEnv(t, st.S3.URL, st.BusURL)
	ctx := context.Background()
	var items []imgbatch.Item
	img := testutil.JPEG(t, testutil.Photo(64, 48, 1), 80)
	for i := range 4 {
		key := fmt.Sprintf("in/%d.jpg", i)
		s3test.Put(t, cl.s3, "source", key, img)
		items = append(items, imgbatch.Item{Bucket: "source", Key: key})
	}
	recipe := imgbatch.Recipe{Name: "t", Variants: []imgbatch.Variant{{Name: "w", Width: 32, Height: 32, Format: imgbatch.FormatJPEG, Quality: 75}}}
	store := cl.store("work")
	plan, err := store.PlanRun(ctx, itemtest.NewSource(items...), batch.PlanOptions{OutputBucket: "no-such-output-bucket", OutputPrefix: "out",
		Recipe: recipe, ShardSize: 1, Width: 2})
	if err != nil {
		t.Fatal(err)
	}
	r := plan.Run
	failed, cancel := st.Bus.Subscribe(`{"source":["imgbatch"],"detail-type":["Run Failed","Run Completed"]}`)
	defer cancel()
	if err := cl.publisher("imgbatch", "imgbatch").Publish(ctx, ebus.NewRunRequested(r)); err != nil {
		t.Fatal(err)
	}
	var fin struct {
		RunID, Reason string
	}
	select {
	case env := <-failed:
		if env.DetailType != "Run Failed" {
			t.Fatalf("%s, want Run Failed: %s", env.DetailType, env.Detail)
		}
		if err := json.Unmarshal(env.Detail, &fin); err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("no Run Failed within 3 minutes; stack log:\n%s", stackLog.String())
	}
	if fin.RunID != r.ID || fin.Reason != imgbatch.ReasonWorkersFailed {
		t.Errorf("Run Failed for %s with reason %q, want %s and %q", fin.RunID, fin.Reason, r.ID, imgbatch.ReasonWorkersFailed)
	}
	lay := imgbatch.Layout{RunID: r.ID}
	for _, key := range []string{lay.Report(), lay.Remaining(), lay.Final()} {
		if ok, err := store.Exists(ctx, key); !ok || err != nil {
			t.Errorf("%s not written (%v)", key, err)
		}
	}
	// Every child exited 1 on its one attempt; the parent's event went out FAILED.
	var workers, reapers int
	for _, j := range st.Runner.Jobs() {
		switch j.Spec.Name {
		case "imgbatch-reap":
			reapers++
			testutil.Eventually(t, time.Minute, "the reaper to end", func() bool {
				select {
				case <-j.Done():
					return true
				default:
					return false
				}
			})
			if c := j.Children(); len(c) != 1 || c[0].ExitCode != 0 {
				t.Errorf("reaper job %+v, want one child that exited 0", c)
			}
		default:
			workers++
			for _, c := range j.Children() {
				if c.ExitCode != 1 || c.Attempts != 1 {
					t.Errorf("worker child %+v: want exit 1 on its only attempt (missing output bucket)", c)
				}
			}
		}
	}
	if workers != 1 || reapers != 1 {
		t.Errorf("%d worker jobs and %d reaper jobs, want 1 and 1", workers, reapers)
	}
	var batchEvents []string
	for _, e := range st.Bus.Events() {
		if e.Source == "aws.batch" {
			batchEvents = append(batchEvents, string(e.Detail))
			if e.EventBus != "default" || e.DetailType != "Batch Job State Change" {
				t.Errorf("Batch event on bus %q, type %q", e.EventBus, e.DetailType)
			}
		}
	}
	if len(batchEvents) == 0 || !strings.Contains(batchEvents[0], `"status":"FAILED"`) || !strings.Contains(batchEvents[0], `"runId":"`+r.ID+`"`) {
		t.Errorf("Batch job state changes %q: want the worker parent's FAILED, with parameters.runId", batchEvents)
	}

	// The SNS stand-in got the alarm, naming the run and the failed job.
	var note map[string]any
	testutil.Eventually(t, 30*time.Second, "the alarm in notifications.jsonl", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "notifications.jsonl"))
		for _, l := range bytes.Split(b, []byte("\n")) {
			var m map[string]any
			if json.Unmarshal(l, &m) == nil && m["alarm"] != nil {
				note = m
				return true
			}
		}
		return false
	})
	if note["runId"] != r.ID || !strings.HasPrefix(fmt.Sprint(note["jobId"]), "local-") || note["statusReason"] == nil {
		t.Errorf("alarm %v: want the run id, the job id and the status reason", note)
	}

	t.Logf("alarm: %v", note)
	// Reaping the final run again does nothing and says so.
	var out, errb bytes.Buffer
	if code := run([]string{"imgbatch", "reap", "--run", r.ID, "--job-id", "again"}, &out, &errb); code != 0 {
		t.Fatalf("second reap: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "already final: nothing to do") {
		t.Errorf("second reap said %q", out.String())
	}
	n := 0
	for _, e := range st.Bus.Events() {
		if e.DetailType == "Run Failed" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d Run Failed events, want 1", n)
	}
}
