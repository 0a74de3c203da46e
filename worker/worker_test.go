package worker

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/s3fault"
	"github.com/imgbatch/imgbatch/sniff"
)

// TestOutputsForAnyKey: every S3 key, however odd, gets its outputs at
// <prefix>/<variant>/<key without extension>.<ext>, with Content-Type,
// Cache-Control and the incremental metadata, and the outputs decode to
// the right format and size.
func TestOutputsForAnyKey(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{CacheControl: "public, max-age=600"})
	run := testRun(t)
	src := photo(t, 320, 240, false)
	want := map[string][2]string{ // key → thumb, small output keys
		"plain.jpg":                            {"v1/thumb/plain.jpg", "v1/small/plain.webp"},
		"photos/with space/ünïcode + plus.jpg": {"v1/thumb/photos/with space/ünïcode + plus.jpg", "v1/small/photos/with space/ünïcode + plus.webp"},
		"100%/a%2Fb.jpeg":                      {"v1/thumb/100%/a%2Fb.jpg", "v1/small/100%/a%2Fb.webp"},
		"a/../b.jpg":                           {"v1/thumb/a/../b.jpg", "v1/small/a/../b.webp"},
		"/leading/slash.jpg":                   {"v1/thumb//leading/slash.jpg", "v1/small//leading/slash.webp"},
		"trailing-dot.":                        {"v1/thumb/trailing-dot..jpg", "v1/small/trailing-dot..webp"},
		"noext":                                {"v1/thumb/noext.jpg", "v1/small/noext.webp"},
		".hidden":                              {"v1/thumb/.hidden.jpg", "v1/small/.hidden.webp"},
		"dir.v2/file":                          {"v1/thumb/dir.v2/file.jpg", "v1/small/dir.v2/file.webp"},
		"dir/.hidden.JPG":                      {"v1/thumb/dir/.hidden.jpg", "v1/small/dir/.hidden.webp"},
		"q?x=1&y#z.jpg":                        {"v1/thumb/q?x=1&y#z.jpg", "v1/small/q?x=1&y#z.webp"},
		"日本/写真.tar.gz":                         {"v1/thumb/日本/写真.tar.jpg", "v1/small/日本/写真.tar.webp"},
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
		s.put(t, "src", k, src)
	}
	o := processAll(t, context.Background(), w, run, items("src", keys...))
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, k := range keys {
		r, ok := o.results[i]
		if !ok || r.Status != imgbatch.StatusSucceeded {
			t.Errorf("%q: %+v, want succeeded", k, r)
			continue
		}
		for vi, v := range run.Recipe.Variants {
			key := want[k][vi]
			if r.Outputs[vi].Key != key {
				t.Errorf("%q variant %s: result key %q, want %q", k, v.Name, r.Outputs[vi].Key, key)
			}
			h := s.head(t, "out", key)
			if got, wantCT := *h.ContentType, imgbatch.ContentType(v.Format); got != wantCT {
				t.Errorf("%s: Content-Type %q, want %q", key, got, wantCT)
			}
			if h.CacheControl == nil || *h.CacheControl != "public, max-age=600" {
				t.Errorf("%s: Cache-Control %v", key, h.CacheControl)
			}
			if h.Metadata[MetaRecipeHash] != run.RecipeHash || h.Metadata[MetaSourceETag] == "" {
				t.Errorf("%s: metadata %v", key, h.Metadata)
			}
			info, err := sniff.Inspect(s.get(t, "out", key))
			if err != nil {
				t.Errorf("%s: output does not decode: %v", key, err)
				continue
			}
			if string(info.Format) != v.Format || info.Width != r.Outputs[vi].Width || info.Height != r.Outputs[vi].Height {
				t.Errorf("%s: %s %dx%d, result says %s %dx%d", key, info.Format, info.Width, info.Height, v.Format, r.Outputs[vi].Width, r.Outputs[vi].Height)
			}
		}
	}
	// 320x240 inside 64x64 is 64x48; inside 96 wide is 96x72.
	r := o.results[0]
	if r.Outputs[0].Width != 64 || r.Outputs[0].Height != 48 || r.Outputs[1].Width != 96 || r.Outputs[1].Height != 72 {
		t.Errorf("output sizes %+v", r.Outputs)
	}
}

// TestItemFailures: permanent problems of one item fail that item with a
// code and a readable message, once, without retries, while the others
// succeed.
func TestItemFailures(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{MaxSourceBytes: 64 << 10, MaxInFlightBytes: 64 << 10})
	run := testRun(t)
	good := photo(t, 200, 150, false)
	big := photo(t, 400, 400, true) // PNG over 64 KiB
	if len(big) <= 64<<10 {
		t.Fatalf("test image is only %d bytes", len(big))
	}
	bomb := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x00\x00\x00\x00\x8a\x0e\x1d\x22\x00\x00\x00\x00IEND\xaeB`\x82")
	// A GIF whose one frame sits far outside a small screen: the canvas a
	// decoder grows to fit it is what counts.
	gifFar := []byte("GIF89a\x10\x00\x10\x00\x00\x00\x00" + "\x2c\xf0\xff\xf0\xff\x01\x00\x01\x00\x00" + "\x02\x02\x44\x01\x00\x3b")
	long := strings.Repeat("d/", 507) + "x.jpg" // 1,019 bytes: a legal source key, too long with "v1/thumb/"
	s.put(t, "src", "good.jpg", good)
	s.put(t, "src", "big.png", big)
	s.put(t, "src", "empty.jpg", nil)
	s.put(t, "src", "text.jpg", []byte("<html><body>404 not found</body></html>"))
	s.put(t, "src", "corrupt.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x10\x08\x02\x00\x00\x00"))
	s.put(t, "src", "bomb.png", bomb)
	s.put(t, "src", "gif-far.gif", gifFar)
	s.put(t, "src", "denied.jpg", good)
	s.put(t, "src", "archived.jpg", good)
	s.put(t, "src", long, good)
	denied := s.faults.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/denied.jpg", Fault: s3fault.Error, Status: 403, Code: "AccessDenied", Times: -1})
	archived := s.faults.AddRule(&s3fault.Rule{Method: "GET", Path: "/src/archived.jpg", Fault: s3fault.Error, Status: 403, Code: "InvalidObjectState", Times: -1})

	cases := []struct {
		item imgbatch.Item
		code string // "" = succeeded
		msg  string // part of the message
	}{
		{imgbatch.Item{Bucket: "src", Key: "good.jpg"}, "", ""},
		{imgbatch.Item{Bucket: "src", Key: "missing.jpg"}, CodeNotFound, "not found"},
		{imgbatch.Item{Bucket: "nobucket", Key: "x.jpg"}, CodeNotFound, "bucket does not exist"},
		{imgbatch.Item{Bucket: "src", Key: "denied.jpg"}, CodeAccessDenied, "access denied"},
		{imgbatch.Item{Bucket: "src", Key: "archived.jpg"}, CodeArchived, "archived"},
		{imgbatch.Item{Bucket: "src", Key: "big.png"}, CodeTooLarge, "byte cap"},
		{imgbatch.Item{Bucket: "src", Key: "big.png", Size: 1 << 30}, CodeTooLarge, "manifest"},
		{imgbatch.Item{Bucket: "src", Key: "empty.jpg"}, CodeEmpty, "empty"},
		{imgbatch.Item{Bucket: "src", Key: "text.jpg"}, CodeUnsupported, "HTML"},
		{imgbatch.Item{Bucket: "src", Key: "corrupt.png"}, CodeCorrupt, "png"},
		{imgbatch.Item{Bucket: "src", Key: "bomb.png"}, CodeTooManyPix, "100000x100000"},
		{imgbatch.Item{Bucket: "src", Key: "gif-far.gif"}, CodeTooManyPix, "canvas"},
		{imgbatch.Item{Bucket: "src", Key: long}, CodeKeyTooLong, "1024"},
	}
	var its []imgbatch.Item
	for _, c := range cases {
		its = append(its, c.item)
	}
	o := processAll(t, context.Background(), w, run, its)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.emits != len(cases) {
		t.Errorf("%d results for %d items", o.emits, len(cases))
	}
	for i, c := range cases {
		r := o.results[i]
		if c.code == "" {
			if r.Status != imgbatch.StatusSucceeded {
				t.Errorf("%s: %s %s %q, want succeeded", c.item.Key, r.Status, r.ErrorCode, r.Message)
			}
			continue
		}
		if r.Status != imgbatch.StatusFailed || r.ErrorCode != c.code || r.HTTPStatus == 0 || !strings.Contains(r.Message, c.msg) {
			t.Errorf("%.40s: %s %s %d %q, want failed %s with %q", c.item.Key, r.Status, r.ErrorCode, r.HTTPStatus, r.Message, c.code, c.msg)
		}
	}
	noLeaks(t)
	// Permanent errors are not retried.
	if n := denied.Hits(); n != 1 {
		t.Errorf("AccessDenied GET sent %d times, want 1", n)
	}
	if n := archived.Hits(); n != 1 {
		t.Errorf("InvalidObjectState GET sent %d times, want 1", n)
	}
}

// TestProcessCorpus runs the hostile-image corpus through the worker (real
// S3, real libvips): every file ends as one result that matches its
// expectation in MANIFEST.tsv, and nothing crashes or hangs.
func TestProcessCorpus(t *testing.T) {
	rows := readCorpus(t)
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{ItemTimeout: 20 * time.Second})
	run := testRun(t)
	var its []imgbatch.Item
	for _, r := range rows {
		s.put(t, "src", "corpus/"+r.file, r.data)
		its = append(its, imgbatch.Item{Bucket: "src", Key: "corpus/" + r.file})
	}
	o := processAll(t, context.Background(), w, run, its)
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, row := range rows {
		r, ok := o.results[i]
		if !ok {
			t.Errorf("%s: no result", row.file)
			continue
		}
		switch {
		case r.Status == imgbatch.StatusSucceeded && row.expect != "reject":
		case r.Status == imgbatch.StatusFailed && row.expect != "ok" && r.ErrorCode != "" && r.Message != "" && r.ErrorCode != CodeInternal:
		default:
			t.Errorf("%s (%s): %s %s %q", row.file, row.expect, r.Status, r.ErrorCode, r.Message)
		}
		t.Logf("%-45s %-7s %-10s %s %s", row.file, row.expect, r.Status, r.ErrorCode, r.Message)
	}
}

type corpusRow struct {
	file, expect string
	data         []byte
}

func readCorpus(t testing.TB) []corpusRow {
	t.Helper()
	dir := "../testdata/bad-images"
	b, err := os.ReadFile(dir + "/MANIFEST.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var rows []corpusRow
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 {
			if len(f) < 6 || f[0] != "file" || f[5] != "expectation" {
				t.Fatalf("MANIFEST.tsv header %q", line)
			}
			continue
		}
		data, err := os.ReadFile(dir + "/" + f[0])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, corpusRow{file: f[0], expect: f[5], data: data})
	}
	if len(rows) == 0 {
		t.Fatal("empty corpus")
	}
	return rows
}

// workerGoroutines lists goroutines running the worker's code (pipeline
// stages, render calls): none may outlive Process, except libvips calls
// abandoned past their deadline.
func workerGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "imgbatch/worker.(*Worker)") {
			out = append(out, g)
		}
	}
	return out
}

// noLeaks waits until no worker goroutine is left (they may take a moment
// to unwind after Process returned) and fails the test otherwise.
func noLeaks(t *testing.T) {
	t.Helper()
	var left []string
	for range 200 {
		if left = workerGoroutines(); len(left) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d worker goroutines left after Process returned:\n%s", len(left), strings.Join(left, "\n\n"))
}

func TestConfigDefaults(t *testing.T) {
	p, f, u := Config{Processors: 3}.Sizes()
	if p != 3 || f != 6 || u != 12 {
		t.Errorf("sizes %d %d %d", p, f, u)
	}
	c := Config{MaxSourceBytes: 1 << 30, MaxInFlightBytes: 1 << 20}
	c.defaults()
	if c.MaxInFlightBytes != 1<<20 || c.MaxSourceBytes != 1<<30 {
		t.Errorf("in-flight budget %d, source cap %d: the budget must not follow the cap", c.MaxInFlightBytes, c.MaxSourceBytes)
	}
	if c.MaxTotalPixels != 10*c.MaxPixels || c.MaxStuck != 2*c.Processors {
		t.Errorf("defaults %+v", c)
	}
}

func TestNewStartsLibvipsWithUntrustedLoadersBlocked(t *testing.T) {
	New(nil, Config{Processors: 1})
	if os.Getenv("VIPS_BLOCK_UNTRUSTED") == "" {
		t.Fatal("VIPS_BLOCK_UNTRUSTED is not set after New: libvips may pick untrusted loaders by content")
	}
}
