package vips

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// The benchmarks run the default recipe (256 and 1280 JPEG) on real photos:
// Debian's plasma-workspace-wallpapers, 5120x2880 JPEGs (14.7 MP) and
// 3840x2160 PNGs (8.3 MP), as-is. Get them with
//
//	cd /tmp && apt-get download plasma-workspace-wallpapers && dpkg -x plasma-workspace-wallpapers_*.deb /tmp/wp/x
//
// or point IMGBATCH_WALLPAPERS at a wallpapers directory. Without them the
// photo benchmarks are skipped in -short mode and fail otherwise;
// BenchmarkRenderSynthetic always runs. Each benchmark op is one image
// (every variant), processed by two goroutines as the worker's CPU pool does
// on a 2-core box; img/s is the figure to compare.
//
//	go test ./vips/ -run '^$' -bench Render -benchtime 24x
func wallpaperDir() string {
	if d := os.Getenv("IMGBATCH_WALLPAPERS"); d != "" {
		return d
	}
	return "/tmp/wp/x/usr/share/wallpapers"
}

var photoCache sync.Map // glob -> [][]byte

// photos loads the wallpapers matching glob (relative to wallpaperDir).
func photos(b *testing.B, glob string) [][]byte {
	if v, ok := photoCache.Load(glob); ok {
		return v.([][]byte)
	}
	names, _ := filepath.Glob(filepath.Join(wallpaperDir(), glob))
	sort.Strings(names)
	if len(names) == 0 {
		if testing.Short() {
			b.Skipf("no photos at %s (set IMGBATCH_WALLPAPERS); skipped in -short mode", filepath.Join(wallpaperDir(), glob))
		}
		b.Fatalf("no photos at %s: see the comment on wallpaperDir for how to get them", filepath.Join(wallpaperDir(), glob))
	}
	var out [][]byte
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	photoCache.Store(glob, out)
	return out
}

// cameraLike re-encodes the 5120x2880 wallpapers (JPEG and PNG) as
// 4608x2592 (11.9 MP) baseline 4:2:0 JPEGs at quality 88: what phones and
// cameras write. Two of the six wallpaper JPEGs are progressive 4:4:4,
// which decode several times slower and get little from shrink-on-load.
func cameraLike(b *testing.B) [][]byte {
	const key = "camera-like"
	if v, ok := photoCache.Load(key); ok {
		return v.([][]byte)
	}
	var out [][]byte
	for _, glob := range []string{"*/contents/images*/5120x2880.jpg", "*/contents/images*/5120x2880.png"} {
		for _, src := range photos(b, glob) {
			info, err := sniff.Inspect(src)
			if err != nil {
				b.Fatal(err)
			}
			rs, err := Render(src, info.Format, []imgbatch.Variant{{Name: "12mp", Width: 4608, Height: 4608, Format: imgbatch.FormatJPEG, Quality: 88}})
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, rs[0].Data)
		}
	}
	photoCache.Store(key, out)
	return out
}

var benchRecipe = imgbatch.DefaultRecipe.Variants // 256 and 1280 JPEG

type renderFunc func(src []byte, f sniff.Format, vs []imgbatch.Variant) ([]Result, error)

func with(o options) renderFunc {
	return func(src []byte, f sniff.Format, vs []imgbatch.Variant) ([]Result, error) {
		return render(src, f, vs, o)
	}
}

// govipsBaseline is what vips.Thumbnail did before Render: one
// vips_thumbnail_buffer (libvips' format detection) per variant through
// govips, then a govips export. No ICC handling, so it is a lower bound on
// that code's cost.
func govipsBaseline(src []byte, _ sniff.Format, vs []imgbatch.Variant) ([]Result, error) {
	var out []Result
	for _, v := range vs {
		img, err := govips.NewThumbnailWithSizeFromBuffer(src, v.Width, v.Height, govips.InterestingNone, govips.SizeDown)
		if err != nil {
			return nil, err
		}
		p := govips.NewJpegExportParams()
		p.Quality = v.Quality
		p.StripMetadata = true
		data, _, err := img.ExportJpeg(p)
		w, h := img.Width(), img.Height()
		img.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, Result{Data: data, Width: w, Height: h})
	}
	return out, nil
}

// runPool renders b.N images from set with goroutines workers and reports
// img/s.
func runPool(b *testing.B, set [][]byte, format sniff.Format, fn renderFunc, goroutines int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if _, err := fn(set[i%len(set)], format, benchRecipe); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "img/s")
	// CPU time per image is steadier than wall time on a shared machine:
	// a saturated 2-core box does about 2000/cpu-ms img/s.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/img")
}

// cpuTime is the user + system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minPSNR is, per variant of benchRecipe, the worst PSNR over set between
// o's output and a reference made without any shrink-on-load (full decode,
// lanczos3 all the way, one decode per variant).
func minPSNR(b *testing.B, set [][]byte, format sniff.Format, o options) []float64 {
	ref := options{failOn: o.failOn, strategy: PerVariant, shrink: shrinkNone}
	worst := make([]float64, len(benchRecipe))
	for i := range worst {
		worst[i] = math.Inf(1)
	}
	for _, src := range set {
		want, err := render(src, format, benchRecipe, ref)
		if err != nil {
			b.Fatal(err)
		}
		got, err := render(src, format, benchRecipe, o)
		if err != nil {
			b.Fatal(err)
		}
		for i := range got {
			worst[i] = math.Min(worst[i], psnr(b, want[i].Data, got[i].Data))
		}
	}
	return worst
}

func setConcurrency(b *testing.B, n int) {
	old := Concurrency()
	setVipsConcurrency(n)
	b.Cleanup(func() { setVipsConcurrency(old) })
}

type benchConfig struct {
	name     string
	fn       renderFunc
	o        options // for the quality check; zero for the baseline
	jpegOnly bool    // differs from another config only for JPEG input
}

var benchConfigs = []benchConfig{
	{"per-variant", with(options{FailOnTruncated, PerVariant, shrinkLibvips}), options{FailOnTruncated, PerVariant, shrinkLibvips}, false},
	{"shared-decode", with(options{FailOnTruncated, SharedDecode, shrinkLibvips}), options{FailOnTruncated, SharedDecode, shrinkLibvips}, false},
	{"per-variant-fine-shrink", with(options{FailOnTruncated, PerVariant, shrinkFine}), options{FailOnTruncated, PerVariant, shrinkFine}, true},
	{"shared-decode-fine-shrink", with(options{FailOnTruncated, SharedDecode, shrinkFine}), options{FailOnTruncated, SharedDecode, shrinkFine}, true},
	{"per-variant-sharp-rule", with(options{FailOnTruncated, PerVariant, shrinkFast}), options{FailOnTruncated, PerVariant, shrinkFast}, true},
	{"shared-decode-sharp-rule", with(options{FailOnTruncated, SharedDecode, shrinkFast}), options{FailOnTruncated, SharedDecode, shrinkFast}, true}, // = Render
	{"govips-baseline", govipsBaseline, options{}, false},
}

// BenchmarkRender compares, on photos, one shrink-on-load decode per variant
// with one shared decode, libvips' JPEG shrink-on-load rule (leave 2x to
// lanczos3) with faster ones (leave 1.5x; sharp's fastShrinkOnLoad), and the govips code this
// package replaced, at libvips concurrency 1 and 2, two goroutines. The quality sub-benchmarks report
// each config's worst PSNR per variant against a no-shrink-on-load
// reference.
func BenchmarkRender(b *testing.B) {
	sets := []struct {
		name   string
		load   func(*testing.B) [][]byte
		format sniff.Format
	}{
		{"jpeg-11.9MP-baseline", cameraLike, sniff.JPEG},
		{"jpeg-14.7MP-as-is", func(b *testing.B) [][]byte { return photos(b, "*/contents/images*/5120x2880.jpg") }, sniff.JPEG},
		{"png-8.3MP-as-is", func(b *testing.B) [][]byte { return photos(b, "*/contents/images*/3840x2160.png") }, sniff.PNG},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			imgs := set.load(b)
			for _, c := range benchConfigs {
				if c.jpegOnly && set.format != sniff.JPEG {
					continue
				}
				if c.o != (options{}) {
					b.Run("quality/"+c.name, func(b *testing.B) {
						// Measured once whatever b.N: ns/op means nothing here.
						for i, p := range minPSNR(b, imgs, set.format, c.o) {
							b.ReportMetric(p, fmt.Sprintf("psnr-%d-dB", benchRecipe[i].Width))
						}
					})
				}
				for _, conc := range []int{1, 2} {
					b.Run(fmt.Sprintf("%s/vips-threads=%d", c.name, conc), func(b *testing.B) {
						setConcurrency(b, conc)
						runPool(b, imgs, set.format, c.fn, 2)
					})
				}
			}
		})
	}
}

// BenchmarkRenderSynthetic needs no photo set: a 3000x2000 JPEG made in Go.
func BenchmarkRenderSynthetic(b *testing.B) {
	src := encodeJPEG(b, scene(3000, 2000, 1200, 800, 400))
	for _, c := range []benchConfig{benchConfigs[0], {name: "render-default", fn: Render}} {
		b.Run(c.name, func(b *testing.B) {
			runPool(b, [][]byte{src}, sniff.JPEG, c.fn, 2)
		})
	}
}
