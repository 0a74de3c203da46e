package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

type corpusFile struct {
	name, expect string
	data         []byte
}

// loadCorpus reads the hostile-image corpus (testutil.BadImagesDir) as its
// MANIFEST.tsv lists it, with each file's expectation.
func loadCorpus(t *testing.T) []corpusFile {
	t.Helper()
	var out []corpusFile
	for _, row := range testutil.BadImageRows(t) {
		name, expect := row["file"], row["expectation"]
		switch expect {
		case "ok", "reject", "either":
		default:
			t.Fatalf("%s: expectation %q", name, expect)
		}
		out = append(out, corpusFile{name: name, expect: expect, data: testutil.BadImage(t, name)})
	}
	if len(out) == 0 {
		t.Fatal("the corpus is empty")
	}
	return out
}

// TestLocalCorpus runs every file of the hostile-image corpus, with a few
// good photos, through the whole local pipeline (`imgbatch local`: embedded
// S3, bus, two array children of the real binary). No child may crash or
// be retried, the run must end within --timeout, and every file must end
// as MANIFEST.tsv says: ok → outputs that decode at the size that follows
// from the input; reject → a failed row with a code and a reason; either →
// one of the two.
func TestLocalCorpus(t *testing.T) {
	testutil.Long(t, "end-to-end run of the corpus")
	corpus := loadCorpus(t)
	data, dir := t.TempDir(), t.TempDir()
	write := func(key string, b []byte) {
		p := filepath.Join(data, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range corpus {
		write("corpus/"+c.name, c.data)
	}
	good := map[string][]byte{
		"good/landscape.jpg": testutil.JPEG(t, testutil.Photo(1024, 768, 3), 85),
		"good/portrait.jpg":  testutil.JPEG(t, testutil.Photo(600, 900, 7), 85),
		"good/small.jpg":     testutil.JPEG(t, testutil.Photo(100, 80, 9), 85),
	}
	for k, b := range good {
		write(k, b)
	}

	t.Setenv("IMGBATCH_BE_MAIN", "1")
	args := []string{"imgbatch", "--log-level", "warn", "local", "--dir", dir, "--images", data, "--width", "2", "--shard-size", "8",
		"--variant", "thumb:128x128:jpeg:80", "--variant", "small:64x64:webp:70", "--timeout", "4m",
		"--child-env", "IMGBATCH_ITEM_TIMEOUT=15s"}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("imgbatch local exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}

	// No child crashed, hung or was retried: each ran once and ended well.
	if strings.Contains(errb.String(), "array child ended") {
		t.Errorf("a child ended badly:\n%s", errb.String())
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*", "*.log"))
	if len(logs) != 2 {
		t.Errorf("want the logs of 2 children, found %v", logs)
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		starts, dones := 0, 0
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec struct {
				Msg string `json:"msg"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				// Even the last words of a child stopped with the stack
				// (SIGTERM, exit 75) are a JSON line.
				t.Errorf("%s: not a JSON log line (a crash report?): %.300s", l, line)
				continue
			}
			switch rec.Msg {
			case "worker starting":
				starts++
			case "worker done":
				dones++
			}
		}
		if starts != 1 || dones != 1 {
			t.Errorf("%s: %d starts and %d clean ends, want one of each (a crash or a retry)", l, starts, dones)
		}
	}

	reports, _ := filepath.Glob(filepath.Join(dir, "s3", "buckets", "work", "runs", "*", "report.csv"))
	if len(reports) != 1 {
		t.Fatalf("want one report.csv, found %v", reports)
	}
	rep := readReport(t, reports[0])
	if len(rep) != len(corpus)+len(good) {
		t.Errorf("report has %d rows for %d files", len(rep), len(corpus)+len(good))
	}
	outDir := filepath.Join(dir, "s3", "buckets", "output")
	checkOutputs := func(key string, src []byte) {
		t.Helper()
		in, err := sniff.Inspect(src)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			return
		}
		w, h := in.Width, in.Height
		if in.Orientation >= 5 {
			w, h = h, w // EXIF rotation by 90 or 270 degrees
		}
		base := key // the default output key: {variant}/{key}.{outext}
		for _, v := range []struct {
			path   string
			format sniff.Format
			box    int
		}{
			{filepath.Join(outDir, "thumb", filepath.FromSlash(base)+".jpg"), sniff.JPEG, 128},
			{filepath.Join(outDir, "small", filepath.FromSlash(base)+".webp"), sniff.WebP, 64},
		} {
			b, err := os.ReadFile(v.path)
			if err != nil {
				t.Errorf("%s: output missing: %v", key, err)
				continue
			}
			info, err := sniff.Inspect(b)
			if err != nil || info.Format != v.format {
				t.Errorf("%s: output %s is %s, %v", key, v.path, info.Format, err)
				continue
			}
			// A flat black variant of a source with something in it lost
			// the pixels (a bad ICC transform, strips not in the file): it
			// is never a success.
			ost, oerr := vips.ImageStats(b, v.format)
			ss, serr := vips.ImageStats(src, in.Format)
			if oerr != nil || serr != nil {
				t.Errorf("%s: stats of output %v, of source %v", key, oerr, serr)
			} else if ost.FlatBlack() && !ss.Flat() {
				t.Errorf("%s: output %s is flat black (%+v) from a source that is not (%+v)", key, v.path, ost, ss)
			}
			ww, wh := fitInside(w, h, v.box, v.box)
			if abs(info.Width-max(ww, 1)) > 1 || abs(info.Height-max(wh, 1)) > 1 {
				t.Errorf("%s: output %dx%d, want %dx%d (upright source %dx%d in %d²)", v.path, info.Width, info.Height, ww, wh, w, h, v.box)
			}
		}
	}
	for k, b := range good {
		r := rep[k]
		if r == nil || r[3] != "succeeded" {
			t.Errorf("%s: %q, want succeeded", k, r)
			continue
		}
		checkOutputs(k, b)
	}
	for _, c := range corpus {
		key := "corpus/" + c.name
		r := rep[key]
		if r == nil {
			t.Errorf("%s: no report row", key)
			continue
		}
		status, code, msg := r[3], r[4], r[6]
		failedWell := status == "failed" && code != "" && msg != "" && code != "InternalError"
		switch {
		case c.expect == "ok" && status == "succeeded", c.expect == "either" && status == "succeeded":
			checkOutputs(key, c.data)
		case c.expect == "reject" && failedWell, c.expect == "either" && failedWell:
		default:
			t.Errorf("%s (expectation %s): %s %s %q", c.name, c.expect, status, code, msg)
		}
		t.Logf("%-45s %-6s → %-9s %-17s %.110s", c.name, c.expect, status, code, msg)
	}
}
