package vips

import (
	"fmt"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// BenchmarkProbeCost is the CPU of one search probe (encode, decode,
// score) per output megapixel, per format at its default effort: what
// the search's work budget weighs probes by (probe_cost, search.c).
// 2560x1600 photos, a target that every format searches for.
//
//	go test ./vips -run '^$' -bench ProbeCost -benchtime 3x
func BenchmarkProbeCost(b *testing.B) {
	srcs := searchPhotos(b, 3)
	for _, side := range []int{1280, 2560} {
		for _, f := range []string{imgbatch.FormatJPEG, imgbatch.FormatWebP, imgbatch.FormatAVIF} {
			b.Run(fmt.Sprintf("%s-%d", f, side), func(b *testing.B) {
				v := imgbatch.Variant{Name: "p", Width: side, Height: side, Format: f, Target: target(imgbatch.DefaultSSIM)}
				var px float64
				probes := searchProbesMade()
				cpu := processCPU()
				for i := 0; i < b.N; i++ {
					rs, err := Render(srcs[i%len(srcs)], sniff.JPEG, []imgbatch.Variant{v})
					if err != nil {
						b.Fatal(err)
					}
					px = float64(rs[0].Width*rs[0].Height) / 1e6
				}
				n := float64(searchProbesMade() - probes)
				ms := float64((processCPU() - cpu).Milliseconds())
				b.ReportMetric(n/float64(b.N), "probes/img")
				b.ReportMetric(ms/n/px, "cpu-ms/probe/MP")
			})
		}
	}
}

// BenchmarkSearchWorst is the search's cost per output megapixel, format
// auto (AVIF, WebP, JPEG) on photos: under a strict target (most probes
// per format) and a looser one at 1280 px, and under the default target
// at 2560 px; work/MP is the search's own count (search.c probe_work).
//
//	go test ./vips -run '^$' -bench SearchWorst -benchtime 2x
func BenchmarkSearchWorst(b *testing.B) {
	srcs := searchPhotos(b, 2)
	for _, c := range []struct {
		name string
		side int
		ssim float64
	}{{"strict-1280", 1280, 0.995}, {"loose-1280", 1280, 0.95}, {"default-2560", 2560, imgbatch.DefaultSSIM}} {
		b.Run(c.name, func(b *testing.B) {
			v := imgbatch.Variant{Name: "w", Width: c.side, Height: c.side, Format: imgbatch.FormatAuto,
				Formats: imgbatch.DefaultFormats, Target: target(c.ssim)}
			var px, work float64
			probes := searchProbesMade()
			cpu := processCPU()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				rs, err := Render(srcs[i%len(srcs)], sniff.JPEG, []imgbatch.Variant{v})
				if err != nil {
					b.Fatal(err)
				}
				px += float64(rs[0].Width*rs[0].Height) / 1e6
				work += rs[0].Work
			}
			b.ReportMetric(float64(searchProbesMade()-probes)/float64(b.N), "probes/img")
			b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/px, "cpu-ms/MP")
			b.ReportMetric(float64(time.Since(start).Milliseconds())/px, "wall-ms/MP")
			b.ReportMetric(work/px, "work/MP")
		})
	}
}
