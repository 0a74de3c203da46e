package vips

import (
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// BenchmarkRenderWithSmall is the cost of the catalog's facts and small
// copy: each op renders one wallpaper JPEG (5120x2880) with Render and
// with RenderWith(small), interleaved so that a busy machine slows both
// alike, and reports the CPU time of each and their difference.
//
//	IMGBATCH_WALLPAPERS=... go test ./vips/ -run '^$' -bench RenderWithSmall -benchtime 60x
func BenchmarkRenderWithSmall(b *testing.B) {
	set := photos(b, "*/contents/images*/5120x2880.jpg")
	for _, c := range []struct {
		name string
		vs   []imgbatch.Variant
	}{
		{"default", imgbatch.DefaultRecipe.Variants},   // shared decode
		{"thumb", imgbatch.DefaultRecipe.Variants[:1]}, // the copy from the variant
		{"cover", []imgbatch.Variant{{Name: "sq", Width: 256, Height: 256, Fit: imgbatch.FitCover, Format: imgbatch.FormatJPEG, Quality: 80}}}, // a decode of its own
	} {
		b.Run(c.name, func(b *testing.B) {
			var plain, with time.Duration
			i := 0
			for b.Loop() {
				src := set[i%len(set)]
				i++
				t0 := cpuTime()
				if _, err := Render(src, sniff.JPEG, c.vs); err != nil {
					b.Fatal(err)
				}
				t1 := cpuTime()
				if _, info, err := RenderWith(src, sniff.JPEG, c.vs, true); err != nil || info.Small == nil {
					b.Fatal(err)
				}
				plain, with = plain+t1-t0, with+cpuTime()-t1
			}
			n := float64(b.N)
			b.ReportMetric(float64(plain.Microseconds())/1e3/n, "render-cpu-ms/img")
			b.ReportMetric(float64(with.Microseconds())/1e3/n, "with-small-cpu-ms/img")
			b.ReportMetric(float64((with-plain).Microseconds())/1e3/n, "extra-cpu-ms/img")
		})
	}
}
