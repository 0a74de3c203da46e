package htmlreport

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
)

// pngOf is a w×h gradient PNG.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleData(t *testing.T) Data {
	t.Helper()
	t0 := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	return Data{
		RunID: "r-1", Status: "completed", Source: "s3://src/", Output: "s3://out/", WorkBucket: "work",
		Created: t0, Finished: t0.Add(90 * time.Second), Tolerance: imgbatch.DefaultTolerance,
		Counts: imgbatch.Counts{Items: 30, Succeeded: 27, Failed: 3, BytesIn: 3 << 20, BytesOut: 1 << 20, Outputs: 54},
		Recipe: imgbatch.DefaultRecipe, RecipeHash: imgbatch.DefaultRecipe.Hash(), ShardCount: 3,
		Shards: []Shard{
			{N: 0, Owner: "job:0#1", Epoch: 1, Start: t0.Add(time.Second), End: t0.Add(40 * time.Second), Items: 10},
			{N: 1, Owner: "job:1#1", Epoch: 1, Start: t0.Add(time.Second), End: t0.Add(60 * time.Second), Items: 10, Failed: 3},
			{N: 2, Owner: "job:0#1", Epoch: 2, Start: t0.Add(41 * time.Second), End: t0.Add(88 * time.Second), Items: 10},
		},
		Failures: []Failure{{Code: "UnsupportedFormat", Count: 3, Example: "BMP image: format not allowed", Keys: []string{"<script>alert(1)</script>.bmp"}}},
		Samples: []Sample{
			{Key: "a.jpg", Variant: "thumb", Width: 40, Height: 30, ContentType: "image/png", Data: pngOf(t, 40, 30)},
			{Key: "big.jpg", Variant: "thumb", Width: 40, Height: 30, ContentType: "image/png", Data: make([]byte, MaxSampleBytes+1)},
			{Key: "x.txt", Variant: "thumb", ContentType: "text/html", Data: []byte("<b>")},
		},
	}
}

// runData is a clean completed run whose len(took) shards of 10 items end
// evenly over span, each having taken its duration in took.
func runData(t *testing.T, span time.Duration, took []time.Duration) Data {
	t.Helper()
	d := sampleData(t)
	d.Counts = imgbatch.Counts{Items: int64(10 * len(took)), Succeeded: int64(10 * len(took))}
	d.Failures, d.Samples, d.Finished, d.ShardCount = nil, nil, d.Created.Add(span+span/10), len(took)
	d.Shards = nil
	for i, dur := range took {
		end := d.Created.Add(span * time.Duration(i+1) / time.Duration(len(took)))
		d.Shards = append(d.Shards, Shard{N: i, Owner: "job:0#1", Epoch: 1, Start: end.Add(-dur), End: end, Items: 10})
	}
	return d
}

// contactSheet is samples with long keys (paths, spaces, underscores)
// and two tiny outputs.
func contactSheet(t *testing.T) []Sample {
	t.Helper()
	s := func(key string, w, h int) Sample {
		return Sample{Key: key, Variant: "thumb", Width: w, Height: h, ContentType: "image/png", Data: pngOf(t, w, h)}
	}
	return []Sample{
		s("photos/2024/summer holiday/IMG_20240612_153012.jpg", 40, 30),
		s("a-very-long-folder-name/with-several-parts/and_underscores_too/final-image-name.jpeg", 40, 30),
		s("catalogue/product images/spring collection/hero banner (large).png", 300, 200),
		s("pixels/one.png", 1, 1),
		s("pixels/three by two.png", 3, 2),
	}
}

func TestRenderIsCompleteAndSelfContained(t *testing.T) {
	var out bytes.Buffer
	if err := Render(&out, sampleData(t)); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{"imgbatch run <code>r-1</code>", `id="items">30<`, "UnsupportedFormat", "BMP image: format not allowed",
		"<polyline", "shard 2", "thumb", "data:image/png;base64,", "2a87aef0bcf14041",
		"items/s end to end", "items/s while shards ran", "1 m 30 s", "time since the run was created"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>alert(1)") || strings.Contains(html, "<script") {
		t.Error("a key was not escaped, or the page has a script")
	}
	// Self-contained: no external scripts, styles, images or fonts.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:|//)`).FindString(html); m != "" {
		t.Errorf("external reference: %s", m)
	}
	if n := strings.Count(html, "<img "); n != 1 {
		t.Errorf("%d sample images embedded, want 1 (oversized and non-image samples left out)", n)
	}
	if len(html) > 40<<10 {
		t.Errorf("page of 3 shards and one sample is %d bytes: not small", len(html))
	}
}

// TestRates: the end-to-end rate is over the run's creation to its
// reports (what final.json's durationMs measures), the processing rate
// over the shards' span; both are labelled, and one of a page holding
// only some shards says so.
func TestRates(t *testing.T) {
	d := sampleData(t) // 30 items in 90 s; shards from 1 s to 88 s
	var out bytes.Buffer
	if err := Render(&out, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<b>0.33</b>items/s end to end", "<b>0.34</b>items/s while shards ran", "1 m 27 s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	d.Counts.Items, d.Created = 900, d.Created.Add(45*time.Second) // 900 items in 45 s
	d.ShardCount = 10
	out.Reset()
	if err := Render(&out, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "<b>20.0</b>items/s end to end") || !strings.Contains(out.String(), "(of the 3 shards shown)") {
		t.Errorf("rates of a partial page:\n%s", out.String())
	}
}

func TestRenderEmptyRun(t *testing.T) {
	var out bytes.Buffer
	if err := Render(&out, Data{RunID: "r-0", Status: "running", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No finished shards yet") || !strings.Contains(out.String(), "No failures") ||
		!strings.Contains(out.String(), `class="status running"`) {
		t.Errorf("empty run page:\n%s", out.String())
	}
}

func TestRateFormat(t *testing.T) {
	for r, want := range map[float64]string{0: "0.0", 0.0031: "0.0031", 0.25: "0.25", 31.94: "31.9", 98.66: "98.7", 12345.6: "12,346"} {
		if got := strconvRate(r); got != want {
			t.Errorf("strconvRate(%g) = %q, want %q", r, got, want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", 400 * time.Microsecond: "0.4 ms", 30346202: "30 ms", 999 * time.Millisecond: "999 ms",
		1200 * time.Millisecond: "1.2 s", 42 * time.Second: "42 s", 60 * time.Second: "1 m", 125 * time.Second: "2 m 05 s",
		67*time.Minute + 20*time.Second: "1 h 07 m", 27 * time.Hour: "1 d 03 h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestTimeAxis: from a sub-second run to a multi-day one, the ticks
// cover the span in at most maxTicks steps, start at 0, and every label
// is exact and distinct.
func TestTimeAxis(t *testing.T) {
	for span, want := range map[time.Duration]string{
		300 * time.Microsecond:  "0 1 ms",
		800 * time.Millisecond:  "0 200 ms 400 ms 600 ms 800 ms",
		1400 * time.Millisecond: "0 0.2 s 0.4 s 0.6 s 0.8 s 1.0 s 1.2 s 1.4 s",
		40 * time.Second:        "0 10 s 20 s 30 s 40 s",
		4 * time.Minute:         "0 1 m 2 m 3 m 4 m",
		3 * time.Hour:           "0 30 m 1 h 1 h 30 m 2 h 2 h 30 m 3 h",
		80 * time.Hour:          "0 12 h 1 d 1 d 12 h 2 d 2 d 12 h 3 d 3 d 12 h",
	} {
		ticks, step, extent := timeAxis(span)
		var labels []string
		for _, tk := range ticks {
			labels = append(labels, axisLabel(tk, step, extent))
		}
		if got := strings.Join(labels, " "); got != want || extent < span || len(ticks) > maxTicks+1 {
			t.Errorf("timeAxis(%v) = %q (extent %v), want %q", span, got, extent, want)
		}
	}
}

func TestCountAxis(t *testing.T) {
	for max, want := range map[int64]string{1: "0 1", 3: "0 1 2 3", 30: "0 5 10 15 20 25 30", 1234: "0 200 400 600 800 1000 1200 1400"} {
		ticks, extent := countAxis(max)
		var s []string
		for _, n := range ticks {
			s = append(s, strings.ReplaceAll(humanCount(n), ",", ""))
		}
		if got := strings.Join(s, " "); got != want || extent < max {
			t.Errorf("countAxis(%d) = %q, want %q", max, got, want)
		}
	}
}

// TestOutcome: the badge of each kind of run, and the tolerance note of a
// small run that could not fail however many items failed.
func TestOutcome(t *testing.T) {
	d := sampleData(t)
	d.Counts.Failed = 0
	if o := outcomeOf(d); o.State != StateOK || o.Hint != "" || o.Tolerance != "" {
		t.Errorf("clean run: %+v", o)
	}
	d.Counts.Failed = 21
	if o := outcomeOf(d); o.State != StateWarn || !strings.Contains(o.Hint, "failed.csv") ||
		!strings.Contains(o.Tolerance, "judged only from 1,000 items") || !strings.Contains(o.Tolerance, "This run has 30 items") {
		t.Errorf("completed with failures: %+v", o)
	}
	d.Status, d.Reason, d.NotRun = "failed", imgbatch.ReasonWorkersFailed, 5
	if o := outcomeOf(d); o.State != StateFailed || o.Label != "failed: workers-failed" ||
		!strings.Contains(o.Hint, "logs") || !strings.Contains(o.Hint, "remaining.csv") || o.Redrive != "imgbatch redrive --work-bucket work r-1" {
		t.Errorf("failed run: %+v", o)
	}
}
