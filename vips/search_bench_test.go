package vips

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// BenchmarkSearch is the cost of a quality target and of format auto
// against a fixed JPEG q82, one 1280 px variant of 2560x1600 photos (six
// of the wallpapers, in turn), one goroutine: CPU ms (user + system of the
// process: libvips' and the AV1 encoder's threads count), encodes and
// output bytes per image.
//
//	go test ./vips -run '^$' -bench Search -benchtime 12x
func BenchmarkSearch(b *testing.B) {
	srcs := searchPhotos(b, 6)
	web := imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Fit: imgbatch.FitInside}
	cases := []struct {
		name   string
		format string
		q      int
		ssim   float64
	}{
		{"jpeg-q82", imgbatch.FormatJPEG, 82, 0},
		{"jpeg-ssim", imgbatch.FormatJPEG, 0, imgbatch.DefaultSSIM},
		{"webp-ssim", imgbatch.FormatWebP, 0, imgbatch.DefaultSSIM},
		{"avif-ssim", imgbatch.FormatAVIF, 0, imgbatch.DefaultSSIM},
		{"auto-ssim", imgbatch.FormatAuto, 0, imgbatch.DefaultSSIM},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			v := web
			v.Format, v.Quality = c.format, c.q
			if c.ssim > 0 {
				v.Target = target(c.ssim)
			}
			if c.format == imgbatch.FormatAuto {
				v.Formats = imgbatch.DefaultFormats
			}
			var bytes int64
			probes := searchProbesMade()
			cpu := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rs, err := Render(srcs[i%len(srcs)], sniff.JPEG, []imgbatch.Variant{v})
				if err != nil {
					b.Fatal(err)
				}
				bytes += int64(len(rs[0].Data))
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/img")
			b.ReportMetric(float64(searchProbesMade()-probes)/float64(b.N), "encodes/img")
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/img")
		})
	}
}

// processCPU is the user + system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	runtime.GC()
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
