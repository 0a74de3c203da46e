package vips

import (
	"fmt"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// BenchmarkProbeCost is the CPU of one search probe (encode, decode,
// score) per output megapixel, per format at its default effort: what
// the search's work budget weighs probes by (searchCost, search.c).
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
