package main

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

func writeJPEG(t *testing.T, path string, w, h int) {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLocalScheduledRunsPlanOnlyNewObjects fires the template's schedule
// locally (planner job → plan --from-schedule → Run Requested → workers)
// three times: the first run takes everything, the second only the objects
// uploaded since the first scheduled time, the third finds nothing new.
func TestLocalScheduledRunsPlanOnlyNewObjects(t *testing.T) {
	testutil.Long(t, "end-to-end runs")
	data, dir := t.TempDir(), t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeJPEG(t, filepath.Join(data, n+".jpg"), 320, 240)
	}
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	fire := func(at time.Time) string {
		t.Helper()
		var out, errb bytes.Buffer
		args := []string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data, "--schedule-now",
			"--scheduled-time", at.UTC().Format(time.RFC3339), "--width", "2", "--timeout", "3m"}
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("scheduled local at %s: exit %d\n%s\n%s", at, code, out.String(), errb.String())
		}
		return out.String()
	}
	t1 := time.Now().Add(5 * time.Second).Truncate(time.Second)
	out1 := fire(t1)
	if !strings.Contains(out1, "items      3:") {
		t.Fatalf("first scheduled run should plan all 3 objects:\n%s", out1)
	}
	// New objects, modified after the first scheduled time.
	time.Sleep(time.Until(t1.Add(1100 * time.Millisecond)))
	writeJPEG(t, filepath.Join(data, "d.jpg"), 200, 100)
	writeJPEG(t, filepath.Join(data, "e.jpg"), 100, 200)
	t2 := time.Now().Add(5 * time.Second).Truncate(time.Second)
	out2 := fire(t2)
	if !strings.Contains(out2, "items      2:") || !strings.Contains(out2, "2 succeeded") {
		t.Fatalf("second scheduled run should plan only the 2 new objects:\n%s", out2)
	}
	out3 := fire(t2.Add(time.Minute))
	if !strings.Contains(out3, "nothing new") {
		t.Fatalf("third scheduled run should find nothing new:\n%s", out3)
	}
	count := map[string]int{}
	for _, e := range readEvents(t, filepath.Join(dir, "events.jsonl")) {
		count[e.DetailType]++
	}
	if count["Run Requested"] != 2 || count["Run Completed"] != 2 {
		t.Errorf("events %v: want 2 Run Requested and 2 Run Completed (one per scheduled run with new objects)", count)
	}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if _, err := os.Stat(filepath.Join(dir, "s3", "buckets", "output", "thumb", n+".jpg.jpg")); err != nil { // {variant}/{key}.{outext}
			t.Errorf("output of %s: %v", n, err)
		}
	}
}
