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

func sampleData(t *testing.T) Data {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	return Data{
		RunID: "r-1", Status: "completed", Source: "s3://src/", Output: "s3://out/",
		Created: t0, Finished: t0.Add(90 * time.Second),
		Counts: imgbatch.Counts{Items: 30, Succeeded: 27, Failed: 3, BytesIn: 3 << 20, BytesOut: 1 << 20, Outputs: 54},
		Recipe: imgbatch.DefaultRecipe, RecipeHash: imgbatch.DefaultRecipe.Hash(),
		Shards: []Shard{
			{N: 0, Owner: "job:0#1", Epoch: 1, Start: t0.Add(time.Second), End: t0.Add(40 * time.Second), Items: 10},
			{N: 1, Owner: "job:1#1", Epoch: 1, Start: t0.Add(time.Second), End: t0.Add(60 * time.Second), Items: 10, Failed: 3},
			{N: 2, Owner: "job:0#1", Epoch: 2, Start: t0.Add(41 * time.Second), End: t0.Add(88 * time.Second), Items: 10},
		},
		Failures: []Failure{{Code: "UnsupportedFormat", Count: 3, Example: "BMP image: format not allowed", Keys: []string{"<script>alert(1)</script>.bmp"}}},
		Samples: []Sample{
			{Key: "a.jpg", Variant: "thumb", Width: 40, Height: 30, ContentType: "image/png", Data: buf.Bytes()},
			{Key: "big.jpg", Variant: "thumb", Width: 40, Height: 30, ContentType: "image/png", Data: make([]byte, MaxSampleBytes+1)},
			{Key: "x.txt", Variant: "thumb", ContentType: "text/html", Data: []byte("<b>")},
		},
	}
}

func TestRenderIsCompleteAndSelfContained(t *testing.T) {
	var out bytes.Buffer
	if err := Render(&out, sampleData(t)); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{"imgbatch run <code>r-1</code>", `id="items">30<`, "UnsupportedFormat", "BMP image: format not allowed",
		"<polyline", "shard 2", "thumb", "data:image/png;base64,", "2a87aef0bcf14041"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>alert(1)") {
		t.Error("a key was not escaped")
	}
	// Self-contained: no external scripts, styles, images or fonts.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:|//)`).FindString(html); m != "" {
		t.Errorf("external reference: %s", m)
	}
	if n := strings.Count(html, "<img "); n != 1 {
		t.Errorf("%d sample images embedded, want 1 (oversized and non-image samples left out)", n)
	}
}

func TestRenderEmptyRun(t *testing.T) {
	var out bytes.Buffer
	if err := Render(&out, Data{RunID: "r-0", Status: "running", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No finished shards yet") || !strings.Contains(out.String(), "No failures") {
		t.Errorf("empty run page:\n%s", out.String())
	}
}
