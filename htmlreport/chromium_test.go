package htmlreport

import (
	"bytes"
	"encoding/json"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
)

// chromiumPath finds Debian's chromium, installed by `make test`.
func chromiumPath(t *testing.T) string {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if testing.Short() {
			t.Skip("chromium not installed (run scripts/install-deps.sh test); skipped in -short only")
		}
		t.Fatal("chromium is not installed: scripts/install-deps.sh test installs it")
	}
	return chromium
}

// chromium runs headless Chromium on the page with extra arguments and
// returns its standard output.
func chromium(t *testing.T, page []byte, args ...string) []byte {
	t.Helper()
	bin, dir := chromiumPath(t), t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1000,1400"}, args...)
	cmd := exec.Command(bin, append(args, "file://"+file)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.Bytes())
	}
	return out.Bytes()
}

// TestRendersInHeadlessChromium takes a screenshot and checks that the
// page really rendered: the expected size, not blank, the shard bars
// (green) and the line of items done (blue) drawn.
func TestRendersInHeadlessChromium(t *testing.T) {
	var page bytes.Buffer
	if err := Render(&page, sampleData(t)); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	chromium(t, page.Bytes(), "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 1400 {
		t.Fatalf("screenshot %dx%d, want 1000x1400", b.Dx(), b.Dy())
	}
	colors := map[uint32]int{}
	var green, blue int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			colors[r<<16|g<<8|bl]++
			if r < 0x50 && g > 0x90 && g < 0xc0 && bl > 0x50 && bl < 0x80 { // #38a169 shard bars
				green++
			}
			if r < 0x50 && g > 0x50 && g < 0x80 && bl > 0x98 { // #2b6cb0 items done
				blue++
			}
		}
	}
	if len(colors) < 20 {
		t.Errorf("screenshot has %d colours: blank page?", len(colors))
	}
	if green < 20 || blue < 20 {
		t.Errorf("shard bars (%d green px) or items-done line (%d blue px) not drawn", green, blue)
	}
}

// probeJS measures the laid-out page in the browser and appends what it
// found as JSON (test only: the page itself has no script).
const probeJS = `<script>addEventListener('load', () => {
  const box = e => e.getBoundingClientRect();
  const r = {};
  const st = document.getElementById('status');
  r.badge = {cls: st.className, bg: getComputedStyle(st).backgroundColor, text: st.textContent};
  r.outcome = (document.getElementById('outcome') || {}).textContent || '';
  r.tolerance = (document.getElementById('tolerance') || {}).textContent || '';
  r.charts = [...document.querySelectorAll('svg.chart')].map(svg => ({
    cls: svg.getAttribute('class'),
    x: [...svg.querySelectorAll('.axis.x text.tick')].map(t => ({text: t.textContent, a: box(t).left, b: box(t).right})),
    y: [...svg.querySelectorAll('.axis.y text.tick')].map(t => ({text: t.textContent, a: box(t).top, b: box(t).bottom})),
  }));
  r.captions = [...document.querySelectorAll('figcaption span')].map(span => {
    const breaks = [];
    let prevTop = null, prev = '';
    const w = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
    for (let n = w.nextNode(); n; n = w.nextNode()) {
      for (let i = 0; i < n.data.length; i++) {
        const ch = n.data[i], rg = document.createRange();
        rg.setStart(n, i); rg.setEnd(n, i + 1);
        const rects = rg.getClientRects();
        if (ch.trim() !== '' && rects.length) {
          const top = rects[0].top;
          if (prevTop !== null && top > prevTop + 2) breaks.push(prev + '|' + ch);
          prevTop = top;
        }
        prev = ch;
      }
    }
    const fig = span.closest('figure');
    return {text: span.textContent, breaks, right: box(span).right, figRight: box(fig).right, scroll: span.scrollWidth, client: span.clientWidth};
  });
  r.images = [...document.querySelectorAll('.sheet img')].map(i => ({size: i.dataset.size, w: box(i).width, h: box(i).height,
    rendering: getComputedStyle(i).imageRendering, caption: i.nextElementSibling.textContent}));
  r.took = [...document.querySelectorAll('#shards td.took')].map(t => t.textContent);
  r.text = document.body.innerText;
  const p = document.createElement('pre');
  p.id = 'probe';
  p.textContent = JSON.stringify(r);
  document.body.appendChild(p);
});</script>`

type tickBox struct {
	Text string
	A, B float64 // left/right (x axis) or top/bottom (y axis)
}

type probe struct {
	Badge     struct{ Cls, Bg, Text string }
	Outcome   string
	Tolerance string
	Charts    []struct {
		Cls  string
		X, Y []tickBox
	}
	Captions []struct {
		Text            string
		Breaks          []string
		Right, FigRight float64
		Scroll, Client  float64
	}
	Images []struct {
		Size, Rendering, Caption string
		W, H                     float64
	}
	Took []string
	Text string
}

// measure renders d, opens it in headless Chromium with probeJS and
// returns the measurements.
func measure(t *testing.T, d Data) probe {
	t.Helper()
	var page bytes.Buffer
	if err := Render(&page, d); err != nil {
		t.Fatal(err)
	}
	withProbe := strings.Replace(page.String(), "</body>", probeJS+"</body>", 1)
	dom := chromium(t, []byte(withProbe), "--dump-dom")
	m := regexp.MustCompile(`(?s)<pre id="probe">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no probe output in the DOM:\n%.2000s", dom)
	}
	var p probe
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &p); err != nil {
		t.Fatalf("probe: %v\n%s", err, m[1])
	}

	return p
}

var labelPart = regexp.MustCompile(`^(\d+(?:\.\d+)?) (ms|s|m|h|d)$`)

// parseLabel reads a time axis label ("0", "200 ms", "1.5 s", "1 h 30 m").
func parseLabel(t *testing.T, s string) time.Duration {
	t.Helper()
	if s == "0" {
		return 0
	}
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	f := strings.Fields(s)
	if len(f)%2 != 0 || len(f) == 0 {
		t.Fatalf("axis label %q is not <number> <unit>...", s)
	}
	var d time.Duration
	for i := 0; i < len(f); i += 2 {
		m := labelPart.FindStringSubmatch(f[i] + " " + f[i+1])
		if m == nil {
			t.Fatalf("axis label %q: bad part %q", s, f[i]+" "+f[i+1])
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		d += time.Duration(v * float64(unit[m[2]]))
	}
	return d
}

// checkAxes checks both charts: at least three tick labels per axis,
// values strictly increasing, laid out in order without overlapping, and
// every nonzero time label in the unit wanted.
func checkAxes(t *testing.T, p probe, unit *regexp.Regexp) {
	t.Helper()
	if len(p.Charts) != 2 {
		t.Fatalf("%d charts, want the items-done chart and the shard timeline", len(p.Charts))
	}
	for _, c := range p.Charts {
		if len(c.X) < 3 {
			t.Errorf("%s: %d time ticks %v, want ≥ 3", c.Cls, len(c.X), c.X)
			continue
		}
		for i, tk := range c.X {
			if tk.Text != "0" && !unit.MatchString(tk.Text) {
				t.Errorf("%s: time tick %q not in %s", c.Cls, tk.Text, unit)
			}
			if i > 0 {
				if parseLabel(t, tk.Text) <= parseLabel(t, c.X[i-1].Text) {
					t.Errorf("%s: time ticks not increasing: %q then %q", c.Cls, c.X[i-1].Text, tk.Text)
				}
				if tk.A <= c.X[i-1].B {
					t.Errorf("%s: time ticks %q and %q overlap or are out of order", c.Cls, c.X[i-1].Text, tk.Text)
				}
			}
		}
	}
	y := p.Charts[0].Y
	if len(y) < 2 {
		t.Fatalf("items axis has %d ticks %v", len(y), y)
	}
	for i := 1; i < len(y); i++ {
		a, _ := strconv.ParseInt(strings.ReplaceAll(y[i-1].Text, ",", ""), 10, 64)
		b, err := strconv.ParseInt(strings.ReplaceAll(y[i].Text, ",", ""), 10, 64)
		if err != nil || b <= a || y[i].B >= y[i-1].A {
			t.Errorf("items ticks %q then %q: not increasing upwards", y[i-1].Text, y[i].Text)
		}
	}
}

// rawGoDuration matches what time.Duration.String prints.
var rawGoDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ms|µs|ns)\b|\b\d+m\d+(\.\d+)?s\b|\b\d+\.\d{3,}s\b`)

func TestChromiumShortCompletedRun(t *testing.T) {
	d := runData(t, 800*time.Millisecond, []time.Duration{30346202, 4200 * time.Microsecond, 412 * time.Millisecond})
	p := measure(t, d)
	if p.Badge.Cls != "status ok" || p.Badge.Bg != "rgb(56, 161, 105)" || p.Badge.Text != "completed" {
		t.Errorf("badge %+v, want class ok, green, completed", p.Badge)
	}
	checkAxes(t, p, regexp.MustCompile(`^\d+ ms$`))
	if want := []string{"30 ms", "4.2 ms", "412 ms"}; strings.Join(p.Took, ",") != strings.Join(want, ",") {
		t.Errorf("shard times %q, want %q", p.Took, want)
	}
	if m := rawGoDuration.FindString(p.Text); m != "" {
		t.Errorf("page shows a raw Go duration %q", m)
	}
}

func TestChromiumLongRunWithFailures(t *testing.T) {
	d := runData(t, 3*time.Hour, []time.Duration{1200 * time.Millisecond, 125 * time.Second, 67 * time.Minute})
	d.Counts = imgbatch.Counts{Items: 34, Succeeded: 10, Failed: 24}
	d.Samples = contactSheet(t)
	p := measure(t, d)
	if p.Badge.Cls != "status warn" || p.Badge.Bg != "rgb(183, 121, 31)" || p.Badge.Text != "completed with failures" {
		t.Errorf("badge %+v, want class warn, amber, completed with failures", p.Badge)
	}
	if !strings.Contains(p.Tolerance, "from 1,000 items") || !strings.Contains(p.Tolerance, "34 items") {
		t.Errorf("tolerance note %q does not say it applies from 1,000 items", p.Tolerance)
	}
	if !strings.Contains(p.Outcome, "imgbatch redrive --work-bucket work r-1") {
		t.Errorf("outcome %q lacks the redrive hint", p.Outcome)
	}
	checkAxes(t, p, regexp.MustCompile(`^\d+ h( \d\d m)?$|^\d+ m$`))
	if last := p.Charts[0].X[len(p.Charts[0].X)-1].Text; !strings.HasSuffix(last, " h") {
		t.Errorf("last time tick of a 3-hour run %q, want hours", last)
	}
	if want := []string{"1.2 s", "2 m 05 s", "1 h 07 m"}; strings.Join(p.Took, ",") != strings.Join(want, ",") {
		t.Errorf("shard times %q, want %q", p.Took, want)
	}
	checkSheet(t, p)
}

func TestChromiumFailedRun(t *testing.T) {
	d := runData(t, 40*time.Second, []time.Duration{3 * time.Second, 9 * time.Second})
	d.Status, d.Reason, d.Detail = "failed", imgbatch.ReasonTolerance, "stopped early: 706 of 1,000 items failed"
	d.Counts = imgbatch.Counts{Items: 1000, Succeeded: 294, Failed: 706}
	d.NotRun, d.Remaining = 400, "s3://work/runs/r-1/remaining.csv"
	p := measure(t, d)
	if p.Badge.Cls != "status failed" || p.Badge.Bg != "rgb(197, 48, 48)" || p.Badge.Text != "failed: tolerance" {
		t.Errorf("badge %+v, want class failed, red, failed: tolerance", p.Badge)
	}
	for _, want := range []string{"stopped early", "400 items never ran", "s3://work/runs/r-1/remaining.csv", "imgbatch redrive --work-bucket work r-1"} {
		if !strings.Contains(p.Outcome, want) {
			t.Errorf("outcome %q lacks %q", p.Outcome, want)
		}
	}
	checkAxes(t, p, regexp.MustCompile(`^\d+ s$`))
}

// checkSheet checks the contact sheet: captions wrap only between words
// and stay inside their figure; tiny outputs are shown enlarged,
// pixelated, with their real size.
func checkSheet(t *testing.T, p probe) {
	t.Helper()
	wrapped := 0
	for _, c := range p.Captions {
		for _, br := range c.Breaks {
			wrapped++
			if before := []rune(br)[0]; !strings.ContainsRune(" /_-.·", before) {
				t.Errorf("caption %q broken inside a word: %q", c.Text, br)
			}
		}
		if c.Right > c.FigRight+0.5 || c.Scroll > c.Client+0.5 {
			t.Errorf("caption %q overflows its figure", c.Text)
		}
	}
	if wrapped == 0 {
		t.Error("no caption wrapped: the long keys should have")
	}
	var tiny int
	for _, im := range p.Images {
		if im.Size != "1x1" && im.Size != "3x2" {
			continue
		}
		tiny++
		if im.W < 48 || im.H < 32 || im.Rendering != "pixelated" {
			t.Errorf("tiny output %s shown %gx%g, %s; want ≥ 48 px, pixelated", im.Size, im.W, im.H, im.Rendering)
		}
		if want := strings.Replace(im.Size, "x", "×", 1) + " px"; !strings.Contains(im.Caption, want) {
			t.Errorf("caption %q does not state the real size %s", im.Caption, want)
		}
	}
	if tiny != 2 {
		t.Errorf("%d tiny outputs on the sheet, want 2", tiny)
	}
}
