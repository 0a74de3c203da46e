package vips

import (
	"bytes"
	"image"
	"image/color/palette"
	"image/gif"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// benchGIF is a GIF of a typical size: w x h, n frames of a gradient with
// a moving disc, in the 216 web-safe colours, 40 ms a frame.
func benchGIF(b testing.TB, w, h, n int) []byte {
	b.Helper()
	g := &gif.GIF{}
	for f := 0; f < n; f++ {
		p := image.NewPaletted(image.Rect(0, 0, w, h), palette.WebSafe)
		cx, cy, r := w*(f+1)/(n+1), h/2, h/4
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				ri, gi, bi := 5*x/w, 5*y/h, (x+y+f*7)%6
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < r*r {
					ri, gi, bi = 5, 0, 0
				}
				p.Pix[y*p.Stride+x] = uint8(36*ri + 6*gi + bi)
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 4)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkAnimated is the CPU cost of an animated source: a 480x270 GIF of
// 24 frames (3.1 MP over all frames) to a 256 px WebP, animated and first
// frame only, and to a 256 px GIF; and the corpus' 9-frame 80x80 WebP;
// then under a 0.98 target, as WebP and auto, and the same at 96 frames. One
// render at a time: cpu-ms/img is the figure to read (go test -bench
// Animated -benchtime=10x ./vips).
func BenchmarkAnimated(b *testing.B) {
	off := false
	gifSrc := benchGIF(b, 480, 270, 24)
	webpSrc := readCorpus(b, "webp-animated-rotating-squares.webp")
	gif96 := benchGIF(b, 480, 270, 96)
	photoGIF := flatThenPhotoGIF(b, 480, 270, 24)
	animTarget := &imgbatch.QualityTarget{SSIM: imgbatch.DefaultSSIM, MinQuality: imgbatch.DefaultMinQuality, MaxQuality: imgbatch.DefaultMaxQuality}
	cases := []struct {
		name   string
		src    []byte
		format sniff.Format
		v      imgbatch.Variant
	}{
		{"gif-480x270x24-to-webp-256", gifSrc, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatWebP, Quality: 80}},
		{"gif-480x270x24-to-webp-256-first-frame", gifSrc, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatWebP, Quality: 80, Animated: &off}},
		{"gif-480x270x24-to-gif-256", gifSrc, sniff.GIF, imgbatch.Variant{Name: "g", Width: 256, Height: 256, Format: imgbatch.FormatGIF}},
		{"webp-80x80x9-to-webp-64", webpSrc, sniff.WebP, imgbatch.Variant{Name: "w", Width: 64, Height: 64, Format: imgbatch.FormatWebP, Quality: 80}},
		// A quality target scored over the frames (frames.c), and auto:
		// its candidates that hold frames (WebP; GIF when listed).
		{"gif-480x270x24-to-webp-256-ssim", gifSrc, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatWebP, Target: animTarget}},
		{"gif-480x270x24-to-auto-256", gifSrc, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatAuto, Formats: imgbatch.DefaultFormats, Target: animTarget}},
		{"gif-480x270x24-to-auto-gif-webp-256", gifSrc, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatAuto, Formats: []string{"gif", "webp"}, Target: animTarget}},
		{"gif-480x270x96-to-auto-256", gif96, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatAuto, Formats: imgbatch.DefaultFormats, Target: animTarget}},
		{"photo-gif-480x270x24-to-webp-256", photoGIF, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatWebP, Quality: 80}},
		{"photo-gif-480x270x24-to-webp-256-ssim", photoGIF, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatWebP, Target: animTarget}},
		{"photo-gif-480x270x24-to-auto-256", photoGIF, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatAuto, Formats: imgbatch.DefaultFormats, Target: animTarget}},
		{"gif-480x270x96-to-webp-256", gif96, sniff.GIF, imgbatch.Variant{Name: "w", Width: 256, Height: 256, Format: imgbatch.FormatWebP, Quality: 80}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var frames, size, q int
			var format string
			b.ResetTimer()
			cpu0, probes0 := cpuTime(), searchProbesMade()
			for i := 0; i < b.N; i++ {
				rs, err := Render(c.src, c.format, []imgbatch.Variant{c.v})
				if err != nil {
					b.Fatal(err)
				}
				frames, size, q, format = rs[0].Frames, len(rs[0].Data), rs[0].Quality, rs[0].Format
			}
			cpu, probes := cpuTime()-cpu0, searchProbesMade()-probes0
			b.StopTimer()
			b.ReportMetric(float64(probes)/float64(b.N), "encodes/img")
			b.ReportMetric(float64(q), "q")
			b.Logf("%s: %s q%d", c.name, format, q)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/img")
			b.ReportMetric(float64(frames), "frames")
			b.ReportMetric(float64(size), "out-bytes")
		})
	}
}
