package bench

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/vips"
)

// BenchmarkProcessOne is process mode's per-image path: read, guard,
// vips.Render, write (a 1600x1200 JPEG to 512 px q80; 400x300 in short
// mode), with a fresh and with a reused read buffer.
func BenchmarkProcessOne(b *testing.B) {
	vips.Start(vips.Config{Log: slog.New(slog.DiscardHandler)})
	w, h := 1600, 1200
	if testing.Short() {
		w, h = 400, 300
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "src.jpg")
	testutil.WriteFile(b, src, photo(b, w, h, false))
	spec := ChildSpec{Variant: StandardVariant, MaxPixels: DefaultMaxPixels, OutDir: dir}
	if err := os.MkdirAll(filepath.Join(dir, StandardVariant.Name), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, reuse := range []bool{false, true} {
		b.Run(fmt.Sprintf("%dx%d/reuse=%v", w, h, reuse), func(b *testing.B) {
			st := newStageTimes()
			var buf []byte
			for b.Loop() {
				var r *[]byte
				if reuse {
					r = &buf
				}
				if _, _, err := processOne(src, 0, spec, st, r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(st.summary()["render"].P50, "render-p50-ms")
		})
	}
}

// BenchmarkSummarize sorts and reads the percentiles of 10,000 latencies
// (the item stage of a 10,000-image soak).
func BenchmarkSummarize(b *testing.B) {
	src := make([]time.Duration, 10_000)
	for i := range src {
		src[i] = time.Duration(rand.N(500_000)) * time.Microsecond
	}
	ds := make([]time.Duration, len(src))
	for b.Loop() {
		copy(ds, src)
		Summarize(ds)
	}
}

// BenchmarkRSSSample reads /proc/<pid>/status of this process, as the
// sampler does for every process every 50 ms.
func BenchmarkRSSSample(b *testing.B) {
	s := &rssSampler{start: time.Now(), pids: map[int]bool{os.Getpid(): true}}
	for b.Loop() {
		s.sample()
		s.samples = s.samples[:0]
	}
}

// BenchmarkSVG draws a chart of 8 series over 4 pool sizes.
func BenchmarkSVG(b *testing.B) {
	rep := &Report{Name: "b", Machine: Machine{UsableCPUs: 2}}
	for _, impl := range []string{ImplProcess, ImplPipeline, ImplVipsthumbnail, ImplSharp} {
		for _, levers := range [][]string{nil, {LeverTrim}} {
			for p := 1; p <= 4; p++ {
				rep.Results = append(rep.Results, Result{Case: Case{Impl: impl, Pool: p, Levers: levers}, Label: Case{Impl: impl, Levers: levers}.Label(),
					ImgPerSec: float64(10 * p), PeakRSS: int64(p) << 26})
			}
		}
	}
	for b.Loop() {
		_ = rep.SVG()
	}
}
