package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestMain lets the test binary be the bench child: Run starts
// os.Executable() with IMGBATCH_BENCH_CHILD=1, which runs RunChild.
func TestMain(m *testing.M) {
	if os.Getenv("IMGBATCH_BENCH_CHILD") == "1" {
		if err := RunChild(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// photo encodes a w x h picture with smooth gradients and some texture
// (the quality thresholds of these tests are set for it).
func photo(t testing.TB, w, h int, asPNG bool) []byte {
	t.Helper()
	img := testutil.Gradient(w, h, func(x, y int) uint8 { return uint8((x*x + y*7) % 256) })
	if asPNG {
		return testutil.PNG(t, img)
	}
	return testutil.JPEG(t, img, 88)
}

// tinyDataset has five good images and one broken file.
func tinyDataset(t *testing.T) string {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "a.jpg"), photo(t, 900, 600, false))
	testutil.WriteFile(t, filepath.Join(dir, "b.jpg"), photo(t, 600, 900, false))
	testutil.WriteFile(t, filepath.Join(dir, "sub", "c.jpg"), photo(t, 1200, 800, false))
	testutil.WriteFile(t, filepath.Join(dir, "d.png"), photo(t, 700, 500, true))
	testutil.WriteFile(t, filepath.Join(dir, "e.jpg"), photo(t, 300, 200, false))
	testutil.WriteFile(t, filepath.Join(dir, "broken.jpg"), []byte("this is not an image at all, just text"))
	testutil.WriteFile(t, filepath.Join(dir, ".hidden.jpg"), []byte("skipped"))
	return dir
}

func selfOptions(t *testing.T) Options {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{Self: []string{exe}, SelfEnv: []string{"IMGBATCH_BENCH_CHILD=1"}, CacheDir: t.TempDir(), Log: testLog{t}, Quality: -1, Vipsthumbnail: testVipsthumbnail(t)}
}

// testVipsthumbnail is the vipsthumbnail built on the npm libvips
// (scripts/vipsthumbnail-npm.sh): in PATH, $LIBVIPS_PREFIX/bin or
// ../.cache/libvips-npm/bin. A test that needs it fails without it.
func testVipsthumbnail(t *testing.T) string {
	if p, err := findVipsthumbnail(""); err == nil {
		return p
	}
	for _, d := range []string{os.Getenv("LIBVIPS_PREFIX"), filepath.Join("..", ".cache", "libvips-npm")} {
		if d == "" {
			continue
		}
		if p, err := findVipsthumbnail(filepath.Join(d, "bin", "vipsthumbnail")); err == nil {
			return p
		}
	}
	return ""
}

func needVipsthumbnail(t *testing.T, o Options) {
	if o.Vipsthumbnail == "" {
		t.Fatal("no vipsthumbnail built on the npm libvips: run scripts/vipsthumbnail-npm.sh .cache/libvips-npm (or put one in PATH)")
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestTinyRun runs every mode, a baseline and two levers at two pool sizes
// on six files and checks the rows of the table, the CSV, the JSON and
// the chart.
func TestTinyRun(t *testing.T) {
	o := selfOptions(t)
	o.Dataset = tinyDataset(t)
	o.Modes = []string{ImplProcess, ImplPipeline}
	o.Compare = []string{ImplVipsthumbnail}
	needVipsthumbnail(t, o)
	o.Pools = []int{1, 2}
	o.Levers = [][]string{{LeverTrim}, {LeverReuse}}
	o.ResultsDir = t.TempDir()
	o.Name = "tiny"
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{
		"process@1", "process+trim@1", "process+reuse@1", "pipeline@1", "pipeline+trim@1", "vipsthumbnail@1",
		"process@2", "process+trim@2", "process+reuse@2", "pipeline@2", "pipeline+trim@2", "vipsthumbnail@2",
	}
	var keys []string
	for _, r := range rep.Results {
		keys = append(keys, r.Key())
	}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("cases %v, want %v", keys, wantKeys)
	}
	if rep.Dataset.Files != 6 || rep.Images != 6 {
		t.Errorf("dataset of %d files, %d images per case; want 6 (the dot file skipped)", rep.Dataset.Files, rep.Images)
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Key(), r.Error)
			continue
		}
		wantOK, wantFailed := 5, 1
		if !Ours(r.Impl) {
			wantFailed = 0 // baselines get the good files only
		}
		if r.Succeeded != wantOK || r.Failed != wantFailed {
			t.Errorf("%s: %d ok, %d failed; want %d, %d (errors %v)", r.Key(), r.Succeeded, r.Failed, wantOK, wantFailed, r.Errors)
		}
		if r.ImgPerSec <= 0 || r.MPPerSec <= 0 || r.BytesOut <= 0 || r.PeakRSS <= 0 || r.CPUSeconds <= 0 || r.CPUMsPerImage <= 0 || r.Libvips == "" {
			t.Errorf("%s: missing measurements: %+v", r.Key(), r)
		}
		if r.VsVipsthumbnail <= 0 || r.VsVipsthumbnailCPU <= 0 {
			t.Errorf("%s: no ratio to vipsthumbnail", r.Key())
		}
		var want []string
		switch r.Impl {
		case ImplProcess:
			want = []string{"read", "guard", "render", "write", "item"}
		case ImplPipeline:
			want = []string{"get", "item", "put"}
		}
		for _, s := range want {
			if l := r.Stages[s]; l.N == 0 {
				t.Errorf("%s: no %s latencies", r.Key(), s)
			}
		}
	}
	dir := filepath.Join(o.ResultsDir, "tiny")

	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != rep.Markdown() {
		t.Error("results.md is not the report's markdown")
	}
	for _, k := range wantKeys {
		label, pool, _ := strings.Cut(k, "@")
		if !strings.Contains(string(md), "\n| "+label+" | "+pool+" | ") {
			t.Errorf("results.md has no row for %s", k)
		}
	}

	rows := testutil.ReadCSV(t, filepath.Join(dir, "results.csv"))
	if len(rows) != 1+len(wantKeys) {
		t.Fatalf("results.csv has %d rows, want a header and %d", len(rows), len(wantKeys))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"recipe", "impl", "levers", "sharp_setting", "pool", "img_per_s", "cpu_ms_per_img", "img_per_cpu_s", "peak_rss_mib", "vs_vipsthumbnail", "vs_sharp_cpu", "psnr_mean_db", "ssim_worst", "render_p95_ms", "get_p50_ms"} {
		if _, ok := col[h]; !ok {
			t.Errorf("results.csv has no column %s", h)
		}
	}
	if got := rows[2][col["impl"]] + "+" + rows[2][col["levers"]] + "@" + rows[2][col["pool"]]; got != "process+trim@1" {
		t.Errorf("second data row is %s, want process+trim@1", got)
	}

	var back Report
	j, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &back); err != nil || len(back.Results) != len(wantKeys) {
		t.Errorf("results.json: %v, %d results", err, len(back.Results))
	}

	svg, err := os.ReadFile(filepath.Join(dir, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, svg, 3*6) // 6 labels, each a line in both panels and in RSS over time
}

// checkSVG parses svg as XML and counts its polylines.
func checkSVG(t *testing.T, svg []byte, wantLines int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	lines, texts := 0, 0
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			switch se.Name.Local {
			case "polyline":
				lines++
			case "text":
				texts++
			}
		}
	}
	if root != "svg" || lines != wantLines || texts < 10 {
		t.Errorf("chart: root %q, %d polylines (want %d), %d texts", root, lines, wantLines, texts)
	}
}

// TestImagesCyclesDataset: --images repeats the dataset in order.
func TestImagesCyclesDataset(t *testing.T) {
	o := selfOptions(t)
	o.Dataset = tinyDataset(t)
	o.Modes = []string{ImplProcess}
	o.Pools = []int{2}
	o.Images = 14
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	// 14 items over 6 files: broken.jpg (third in path order) comes up twice, at 2 and 8.
	if r.Images != 14 || r.Failed != 2 || r.Stages["render"].N != 12 {
		t.Errorf("%d images, %d failed, %d renders; want 14, 2, 12", r.Images, r.Failed, r.Stages["render"].N)
	}
}

// TestOptionErrors: an unknown lever or baseline is refused before anything runs.
func TestOptionErrors(t *testing.T) {
	if _, err := ParseLevers([]string{"arenas+turbo"}); err == nil || !strings.Contains(err.Error(), "turbo") {
		t.Errorf("lever turbo: %v", err)
	}
	o := selfOptions(t)
	o.Dataset = t.TempDir()
	o.Compare = []string{"imagemagick"}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "imagemagick") {
		t.Errorf("baseline imagemagick: %v", err)
	}
}

func TestCases(t *testing.T) {
	levers, err := ParseLevers([]string{"arenas", "reuse+vconc2", "trim", "fetch2+gogc50"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Cases(nil, []string{ImplProcess, ImplPipeline, ImplSharp}, []int{1, 4}, levers, nil) {
		got = append(got, c.Key())
	}
	want := []string{
		"process@1", "process+arenas@1", "process+reuse+vconc2@1", "process+trim@1", "pipeline@1", "pipeline+arenas@1", "pipeline+trim@1", "pipeline+fetch2+gogc50@1", "sharp(c1)@1", "sharp(default)@1",
		"process@4", "process+arenas@4", "process+reuse+vconc2@4", "process+trim@4", "pipeline@4", "pipeline+arenas@4", "pipeline+trim@4", "pipeline+fetch2+gogc50@4", "sharp(c1)@4", "sharp(default)@4",
	}
	if !slices.Equal(got, want) {
		t.Errorf("cases\n%v\nwant\n%v", got, want)
	}
	c := Case{Levers: []string{"reuse", "vconc3", "gogc50", "memlimit96"}}
	if n := c.vipsConcurrency(); n != 3 {
		t.Errorf("vconc3 → %d", n)
	}
	if env := c.leverEnv(); !slices.Equal(env, []string{"GOGC=50", "GOMEMLIMIT=96MiB"}) {
		t.Errorf("lever environment %v", env)
	}
	for _, bad := range []string{"vconc0", "vconc", "gogc", "memlimit8", "fetchx", "2fetch"} {
		if _, err := ParseLevers([]string{bad}); err == nil {
			t.Errorf("lever %q accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := Summarize(ds)
	if l.N != 100 || l.P50 != 50 || l.P95 != 95 || l.P99 != 99 || l.Max != 100 {
		t.Errorf("%+v", l)
	}
	if l := Summarize([]time.Duration{7 * time.Millisecond}); l.P50 != 7 || l.P99 != 7 {
		t.Errorf("one value: %+v", l)
	}
	if l := Summarize(nil); l.N != 0 {
		t.Errorf("none: %+v", l)
	}
}

func TestParseStatusKB(t *testing.T) {
	status := []byte("Name:\tx\nVmPeak:\t  20000 kB\nVmHWM:\t   1500 kB\nVmRSS:\t   1200 kB\n")
	if n, err := parseStatusKB(status, "VmHWM"); err != nil || n != 1500<<10 {
		t.Errorf("VmHWM %d %v", n, err)
	}
	if n, err := parseStatusKB(status, "VmRSS"); err != nil || n != 1200<<10 {
		t.Errorf("VmRSS %d %v", n, err)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("VmSwap found in text without it")
	}
	if n, err := statusKB(0, "VmRSS"); err != nil || n <= 0 {
		t.Errorf("own VmRSS %d %v", n, err)
	}
}

func TestSteadyRSS(t *testing.T) {
	var flat, growing []RSSSample
	for i := range 100 {
		flat = append(flat, RSSSample{Bytes: 100 << 20})
		growing = append(growing, RSSSample{Bytes: int64(100+i) << 20})
	}
	flat[0].Bytes = 10 << 20 // start-up
	if s, g := steadyRSS(flat); s != 100<<20 || g != 0 {
		t.Errorf("flat: steady %d growth %d", s, g)
	}
	if _, g := steadyRSS(growing); g != 60<<20 {
		t.Errorf("growing by 1 MiB a sample: growth %d MiB, want 60", g>>20)
	}
}

func TestBaselineArguments(t *testing.T) {
	v := StandardVariant
	if s := vipsthumbnailSize(v); s != "512x512>" {
		t.Errorf("size %q", s)
	}
	v.Height, v.Upscale = 0, true
	if s := vipsthumbnailSize(v); s != "512x10000000" {
		t.Errorf("width-only upscaling size %q", s)
	}
	if s := saveOptions(StandardVariant); s != "[Q=80,strip]" {
		t.Errorf("save options %q", s)
	}
	if b := batchSize(238, 2); b != 14 {
		t.Errorf("batch size %d", b)
	}
}

func TestSVGWithoutResults(t *testing.T) {
	rep := &Report{Name: "empty", Results: []Result{{Case: Case{Impl: ImplProcess, Pool: 1}, Label: "process", Error: "boom"}}}
	checkSVG(t, []byte(rep.SVG()), 0)
	for _, c := range [][3]float64{{37, 40, 10}, {280, 300, 100}, {160, 200, 50}, {0.7, 0.8, 0.2}, {12, 12.5, 2.5}} {
		if top, step := niceCeil(c[0]); top != c[1] || step != c[2] {
			t.Errorf("niceCeil(%v) = %v, %v; want %v, %v", c[0], top, step, c[1], c[2])
		}
	}
}

// TestInterruptedRunReports: a cancelled run still returns (and writes) a
// report of what it measured, with a note, and the cancellation.
func TestInterruptedRunReports(t *testing.T) {
	o := selfOptions(t)
	o.Dataset = tinyDataset(t)
	o.Modes = []string{ImplProcess}
	o.Pools = []int{1, 2}
	o.ResultsDir = t.TempDir()
	o.Name = "cut"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) || rep == nil {
		t.Fatalf("got %v, %v", rep, err)
	}
	if len(rep.Results) != 0 || !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "interrupted after 0 of 2") }) {
		t.Errorf("results %v, notes %v", rep.Results, rep.Notes)
	}
	if _, err := os.Stat(filepath.Join(o.ResultsDir, "cut", "results.md")); err != nil {
		t.Error(err)
	}
}
