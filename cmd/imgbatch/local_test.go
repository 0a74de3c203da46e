package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/heic"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
	"github.com/imgbatch/imgbatch/sniff"
)

// TestMain lets the test binary stand in for the imgbatch binary: the
// local array runner starts os.Executable() as its children, and with
// IMGBATCH_BE_MAIN=1 this binary runs main's code instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("IMGBATCH_BE_MAIN") == "1" {
		os.Exit(run(os.Args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// heicDecodable reports whether this machine decodes HEVC HEIC: the HEIC
// helper (this binary as imgbatch heif-decode) finds an HEVC-capable
// libheif. The libvips imgbatch links has no HEVC decoder.
func heicDecodable(t *testing.T) bool {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &heic.Decoder{Command: []string{exe, "heif-decode"}, Env: append(os.Environ(), "IMGBATCH_BE_MAIN=1")}
	v, err := d.Probe(context.Background())
	if err != nil {
		if testutil.Strict() {
			t.Fatalf("the HEIC helper finds no HEVC-capable libheif (%v), and make test requires one", err)
		}
		t.Logf("no HEIC in the dataset: %v", err)
		return false
	}
	t.Logf("HEIC helper: %s", v)
	return true
}

type goodImage struct {
	key  string
	w, h int
}

// writeDataset writes generated photos-like images and a few broken files.
func writeDataset(t *testing.T, dir string) (good []goodImage, bad map[string]string) {
	t.Helper()
	mk := func(key string, w, h int, asPNG bool) {
		testutil.WriteFile(t, filepath.Join(dir, filepath.FromSlash(key)), testutil.PhotoFile(t, w, h, asPNG))
		good = append(good, goodImage{key, w, h})
	}
	sizes := [][2]int{{800, 600}, {600, 800}, {1024, 512}, {300, 200}, {64, 64}, {2000, 1500}}
	for i := 0; i < 9; i++ {
		s := sizes[i%len(sizes)]
		mk("photos/img-"+string(rune('a'+i))+".jpg", s[0], s[1], false)
	}
	mk("photos/with space/ünïcode + plus.jpg", 640, 480, false)
	mk("graphics/chart.png", 500, 250, true)
	mk("graphics/icon.PNG", 96, 96, true)
	// An iPhone-style HEIC (HEVC; irot, EXIF orientation, Display P3,
	// thumbnail): decoded by the HEIC helper where libvips cannot.
	if heicDecodable(t) {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "heic", "iphone-p3-rot90-64x96.heic"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "photos", "iphone.heic"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		good = append(good, goodImage{"photos/iphone.heic", 64, 96})
	}

	bad = map[string]string{
		"broken/empty.jpg":                                 "EmptySource",
		"broken/random-bytes.jpg":                          "UnsupportedFormat",
		"broken/pdf-renamed.jpg":                           "UnsupportedFormat",
		"broken/bmp-16x16-valid.bmp":                       "UnsupportedFormat",
		"broken/svg-with-script.svg":                       "UnsupportedFormat",
		"broken/jpeg-sof-65500x65500.jpg":                  "TooManyPixels",
		"broken/png-broken-pillow.png":                     "",
		"broken/text-matrix-named.png":                     "UnsupportedFormat",
		"broken/svgz-truncated-gzip-trailing-garbage.svgz": "UnsupportedFormat",
	}
	for key := range bad {
		testutil.WriteFile(t, filepath.Join(dir, filepath.FromSlash(key)), testutil.BadImage(t, filepath.Base(key)))
	}
	return good, bad
}

// readReport reads a report.csv by decoded key; a key reported twice
// fails t.
func readReport(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep := itemtest.ParseReport(t, b)
	if len(rep.Dups) > 0 {
		t.Fatalf("report has %q twice", rep.Dups[0])
	}
	return rep.ByKey
}

type recordedEvent struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

func readEvents(t *testing.T, path string) []recordedEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []recordedEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e recordedEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("events.jsonl: %v", err)
		}
		evs = append(evs, e)
	}
	return evs
}

func runIDOf(t *testing.T, e recordedEvent) string {
	var d struct {
		RunID string `json:"runId"`
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		t.Fatal(err)
	}
	return d.RunID
}

// TestLocalEndToEnd runs `imgbatch local` over generated images and broken
// files: the embedded S3, the bus routing with the template's rule, two
// array children processes of this binary, and the report. Then it runs
// again and expects every good image to be skipped as current.
func TestLocalEndToEnd(t *testing.T) {
	testutil.Long(t, "end-to-end run")
	data, dir := t.TempDir(), t.TempDir()
	good, bad := writeDataset(t, data)
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	args := []string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data, "--width", "2", "--shard-size", "4",
		"--variant", "thumb:128x128:jpeg:80", "--variant", "small:64x:webp:70", "--timeout", "5m"}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("imgbatch local exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	t.Logf("first run:\n%s", out.String())
	assertJSONLogs(t, filepath.Join(dir, "logs"))

	// Outputs: every good image has both variants, with the right format and size.
	outDir := filepath.Join(dir, "s3", "buckets", "output")
	for _, g := range good {
		base := g.key // the default output key: {variant}/{key}.{outext}
		checks := []struct {
			path       string
			format     sniff.Format
			maxW, maxH int
		}{
			{filepath.Join(outDir, "thumb", filepath.FromSlash(base)+".jpg"), "jpeg", 128, 128},
			{filepath.Join(outDir, "small", filepath.FromSlash(base)+".webp"), "webp", 64, 1 << 30},
		}
		for _, c := range checks {
			b, err := os.ReadFile(c.path)
			if err != nil {
				t.Errorf("%s: output missing: %v", g.key, err)
				continue
			}
			info, err := sniff.Inspect(b)
			if err != nil {
				t.Errorf("%s: output unreadable: %v", c.path, err)
				continue
			}
			if info.Format != c.format {
				t.Errorf("%s: format %s, want %s", c.path, info.Format, c.format)
			}
			// inside-fit, no upscaling: the longer fitting side touches the box
			// unless the source is smaller; the aspect ratio is kept (±1 px).
			wantW, wantH := fitInside(g.w, g.h, c.maxW, c.maxH)
			if abs(info.Width-wantW) > 1 || abs(info.Height-wantH) > 1 {
				t.Errorf("%s: %dx%d, want %dx%d (source %dx%d)", c.path, info.Width, info.Height, wantW, wantH, g.w, g.h)
			}
		}
	}

	// The report: one row per item; broken files failed with their reason.
	anyRun := imgbatch.Layout{RunID: "*"}
	runs, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", filepath.FromSlash(anyRun.Report())))
	if len(runs) != 1 {
		t.Fatalf("want one report.csv, found %v", runs)
	}
	rep := readReport(t, runs[0])
	checkSummaryRequests(t, filepath.Join(filepath.Dir(runs[0]), "summary.json"), len(good), len(good)+len(bad))
	page, err := os.ReadFile(filepath.Join(filepath.Dir(runs[0]), path.Base(anyRun.HTML())))
	if err != nil {
		t.Fatalf("report.html beside report.csv: %v", err)
	}
	for _, want := range []string{"<img ", "UnsupportedFormat", "TooManyPixels", "<polyline"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if len(rep) != len(good)+len(bad) {
		t.Errorf("report has %d rows, want %d", len(rep), len(good)+len(bad))
	}
	for _, g := range good {
		r := rep[g.key]
		if r == nil || r[3] != "succeeded" || r[5] != "200" {
			t.Errorf("report row of %s: %q, want succeeded/200", g.key, r)
		}
	}
	for key, code := range bad {
		r := rep[key]
		if r == nil || r[3] != "failed" || r[4] == "" || r[6] == "" {
			t.Errorf("report row of %s: %q, want failed with a code and a message", key, r)
			continue
		}
		if code != "" && r[4] != code {
			t.Errorf("report row of %s: error code %s, want %s (%s)", key, r[4], code, r[6])
		}
	}

	// Events: one Run Requested, a Shard Completed per shard, one Run Completed.
	evs := readEvents(t, filepath.Join(dir, "events.jsonl"))
	count := map[string]int{}
	var runID string
	for _, e := range evs {
		if e.Source == "aws.batch" && e.DetailType == "Batch Job State Change" {
			// The array's own end, on the default bus: sent only when the
			// job ends before `local` closes the stack.
			continue
		}
		count[e.DetailType]++
		if e.Source != "imgbatch" {
			t.Errorf("event source %q", e.Source)
		}
		id := runIDOf(t, e)
		if runID == "" {
			runID = id
		} else if id != runID {
			t.Errorf("events of two runs: %s and %s", runID, id)
		}
	}
	shards := (len(good) + len(bad) + 3) / 4
	if count["Run Requested"] != 1 || count["Run Completed"] != 1 || count["Shard Completed"] != shards || count["Run Failed"] != 0 {
		t.Errorf("events %v, want 1 Run Requested, %d Shard Completed, 1 Run Completed", count, shards)
	}

	// Second run over the same directory: a new run, every good image skipped.
	out.Reset()
	errb.Reset()
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("second imgbatch local exited %d\n%s\n%s", code, out.String(), errb.String())
	}
	t.Logf("second run:\n%s", out.String())
	runs, _ = filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", "runs", "*", "report.csv"))
	if len(runs) != 2 {
		t.Fatalf("want two runs after the second local, found %v", runs)
	}
	for _, p := range runs {
		if strings.Contains(p, runID) {
			continue
		}
		rep := readReport(t, p)
		for _, g := range good {
			r := rep[g.key]
			if r == nil || r[3] != "succeeded" || !strings.Contains(r[6], "skipped") {
				t.Errorf("second run, %s: %q, want succeeded and skipped as current", g.key, r)
			}
		}
	}
	if !strings.Contains(out.String(), "skipped") {
		t.Errorf("second run summary does not mention skipped items:\n%s", out.String())
	}
}

func fitInside(w, h, maxW, maxH int) (int, int) {
	if w <= maxW && h <= maxH {
		return w, h
	}
	sw, sh := float64(maxW)/float64(w), float64(maxH)/float64(h)
	s := min(sw, sh)
	return int(float64(w)*s + 0.5), int(float64(h)*s + 0.5)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestLocalViaBatch starts the run with SubmitJob (the real SDK Batch client
// against the stack's Batch API) instead of the Run Requested rule.
func TestLocalViaBatch(t *testing.T) {
	testutil.Long(t, "end-to-end run")
	data, dir := t.TempDir(), t.TempDir()
	for i, name := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		img := image.NewRGBA(image.Rect(0, 0, 300+i*10, 200))
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("IMGBATCH_BE_MAIN", "1")
	var out, errb bytes.Buffer
	args := []string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data, "--via", "batch", "--width", "2", "--shard-size", "1",
		"--variant", "t:100x:jpeg", "--timeout", "2m"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	count := map[string]int{}
	evs := readEvents(t, filepath.Join(dir, "events.jsonl"))
	for _, e := range evs {
		count[e.DetailType]++
	}
	if count["Run Requested"] != 0 || count["Shard Completed"] != 3 || count["Run Completed"] != 1 {
		t.Errorf("events %v: want no Run Requested (SubmitJob started the run), 3 Shard Completed, 1 Run Completed", count)
		logShardEvents(t, evs, dir)
	}
	for _, name := range []string{"a", "b", "c"} { // {variant}/{key}.{outext}
		if _, err := os.Stat(filepath.Join(dir, "s3", "buckets", "output", "t", name+".jpg.jpg")); err != nil {
			t.Errorf("output of %s: %v", name, err)
		}
	}
}

// assertJSONLogs checks that every line the array children wrote is one
// JSON object (what CloudWatch Logs Insights parses), and that there are
// some: a plain-text line from a library among them would not be.
func assertJSONLogs(t *testing.T, logDir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(logDir, "*", "*.log"))
	if len(files) == 0 {
		t.Fatalf("no child logs under %s", logDir)
	}
	lines := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			lines++
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Errorf("%s: a log line that is not a JSON object: %q", f, l)
			}
		}
	}
	if lines == 0 {
		t.Errorf("the children logged nothing: the check proves nothing")
	}
}

// logShardEvents logs each Shard Completed that was delivered (its id,
// epoch and completion time) and the children's log lines about shard
// events, so that a wrong count says which shard went out twice and who
// sent it.
func logShardEvents(t *testing.T, evs []recordedEvent, dir string) {
	t.Helper()
	for _, e := range evs {
		if e.DetailType == "Shard Completed" {
			t.Logf("delivered: %s", e.Detail)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "shard") && (strings.Contains(l, "event") || strings.Contains(l, "done")) {
				t.Logf("%s: %s", filepath.Base(f), l)
			}
		}
	}
}
