package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestLocalOutputKeysCannotCollide runs `imgbatch local` over photo.jpg and
// photo.png: under the legacy layout the plan refuses, naming both sources
// and the shared key, and writes no run; under the default template each
// variant gets two distinct outputs; a second run skips both items.
func TestLocalOutputKeysCannotCollide(t *testing.T) {
	testutil.Long(t, "three end-to-end runs with child processes")
	data, dir := t.TempDir(), t.TempDir()
	writeImage(t, data, "pics/photo.jpg", 96, 64, false)
	writeImage(t, data, "pics/photo.png", 40, 80, true)
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	local := func(extra ...string) (int, string) {
		args := append([]string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data,
			"--width", "1", "--variant", "thumb:32x32:jpeg:70", "--variant", "small:16x16:webp:60", "--timeout", "3m"}, extra...)
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String() + errb.String()
	}

	code, out := local("--output-key", imgbatch.LegacyOutputKey)
	named := strings.Contains(out, "thumb/pics/photo.jpg ← s3://source/pics/photo.jpg and s3://source/pics/photo.png") ||
		strings.Contains(out, "thumb/pics/photo.jpg ← s3://source/pics/photo.png and s3://source/pics/photo.jpg")
	if code != 1 || !named || !strings.Contains(out, "2 output keys would be written by two sources") {
		t.Fatalf("legacy layout: exit %d, want 1 naming both sources:\n%s", code, out)
	}
	if runs, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", "runs", "*", "run.json")); len(runs) != 0 {
		t.Fatalf("a refused plan left runs %v", runs)
	}

	code, out = local()
	if code != 0 {
		t.Fatalf("default template: exit %d\n%s", code, out)
	}
	for _, k := range []string{"thumb/pics/photo.jpg.jpg", "thumb/pics/photo.png.jpg", "small/pics/photo.jpg.webp", "small/pics/photo.png.webp"} {
		if _, err := os.Stat(filepath.Join(dir, "s3", "buckets", "output", filepath.FromSlash(k))); err != nil {
			t.Errorf("output %s: %v\n%s", k, err, out)
		}
	}
	first := reportsIn(t, dir)
	if len(first) != 1 {
		t.Fatalf("reports after one run: %v", first)
	}
	for k, r := range readReport(t, first[0]) {
		if r[3] != "succeeded" {
			t.Errorf("first run, %s: %q", k, r)
		}
	}

	code, out = local()
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	var second string
	for _, p := range reportsIn(t, dir) {
		if !slices.Contains(first, p) {
			second = p
		}
	}
	rep := readReport(t, second)
	skipped := 0
	for k, r := range rep {
		if r[3] == "succeeded" && strings.HasPrefix(r[6], "skipped") {
			skipped++
		} else {
			t.Errorf("second run, %s: %q, want skipped", k, r)
		}
	}
	if skipped != 2 {
		t.Errorf("second run skipped %d items, want 2 (report %v)", skipped, rep)
	}
}

func reportsIn(t *testing.T, dir string) []string {
	t.Helper()
	rs, err := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", "runs", "*", "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
