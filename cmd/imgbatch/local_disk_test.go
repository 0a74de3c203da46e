//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestLocalChecksDirsUpFront: --images that is a file or missing is a
// usage error naming it; a read-only --dir (a tmpfs remounted ro: root
// ignores file modes) and a --dir too small for the images fail at once,
// naming the directory, before any S3 request (they were a minute of
// retries ending in a 500).
func TestLocalChecksDirsUpFront(t *testing.T) {
	images := t.TempDir()
	testutil.WriteFile(t, filepath.Join(images, "a.jpg"), testutil.PhotoFile(t, 64, 64, false))
	file := filepath.Join(images, "a.jpg")
	ro := testutil.Tmpfs(t, "1m")
	testutil.ReadOnly(t, ro)
	small := testutil.Tmpfs(t, "1m")
	big := t.TempDir()
	testutil.WriteFile(t, filepath.Join(big, "big.bin"), bytes.Repeat([]byte{1}, 2<<20))
	for _, tc := range []struct {
		name         string
		args         []string
		code         int
		want1, want2 string
	}{
		{"images is a file", []string{"--dir", t.TempDir(), "--images", file}, exitUsage, file, "is not a directory"},
		{"images missing", []string{"--dir", t.TempDir(), "--images", filepath.Join(images, "nope")}, exitUsage, "nope", "no such file or directory"},
		{"dir read-only", []string{"--dir", filepath.Join(ro, "data"), "--images", images}, exitError, filepath.Join(ro, "data"), "read-only file system"},
		{"dir too small", []string{"--dir", small, "--images", big}, exitError, small, "free"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"imgbatch", "local"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			if msg := errb.String(); !strings.Contains(msg, tc.want1) || !strings.Contains(msg, tc.want2) {
				t.Errorf("stderr does not name %q and %q:\n%s", tc.want1, tc.want2, msg)
			}
			if strings.Contains(out.String(), "embedded stack") {
				t.Errorf("the stack was started before the check:\n%s", out.String())
			}
		})
	}
}

// TestLocalDiskFullMidRun: the sources fit under --dir but the outputs do
// not. The run ends (no hang until --timeout) with the cause shown
// (InsufficientStorage: no space left on device), and no item whose
// output could not be written is reported as succeeded.
func TestLocalDiskFullMidRun(t *testing.T) {
	testutil.Long(t, "a local run that fills a tmpfs")
	dir := testutil.Tmpfs(t, "6m")
	images := t.TempDir()
	b := testutil.PhotoFile(t, 1200, 900, false)
	n := 0
	for total := 0; total < 2<<20; total += len(b) {
		testutil.WriteFile(t, filepath.Join(images, fmt.Sprintf("p%02d.jpg", n)), b)
		n++
	}
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	var out, errb bytes.Buffer
	code := run([]string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", images, "--width", "2", "--shard-size", "4",
		"--variant", "huge:2400x:png", "--timeout", "3m"}, &out, &errb)
	all := out.String() + errb.String()
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	if strings.Contains(all, "waiting for run") {
		t.Errorf("the run hung until --timeout")
	}
	// Which write meets the full disk first varies: an output PUT (the
	// item fails with the reason, in the summary) or a work-bucket write
	// (the children end and the last line says why; their logs may be cut
	// off). Either way the cause is shown where the user looks.
	cause := "InsufficientStorage: the embedded S3 cannot write under " + filepath.Join(dir, "s3") + ": no space left on device"
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	switch last := lines[len(lines)-1]; {
	case code == 0 || code == exitRunFailed:
		if !strings.Contains(out.String(), "failed, by reason:") || !strings.Contains(out.String(), cause) {
			t.Errorf("the run ended (exit %d) without the failed items' cause %q in the summary", code, cause)
		}
	case !strings.Contains(last, cause):
		t.Errorf("exit %d, and the last line does not say %q: %s", code, cause, last)
	}
	// Every item reported succeeded has its output, whole.
	reports, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", filepath.FromSlash(imgbatch.Layout{RunID: "*"}.Report())))
	for _, r := range reports {
		for key, row := range readReport(t, r) {
			if row[3] != "succeeded" {
				continue
			}
			p := filepath.Join(dir, "s3", "buckets", "output", "huge", filepath.FromSlash(key)+".png")
			if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
				t.Errorf("%s reported succeeded, output %s: %v", key, p, err)
			}
		}
	}
}
