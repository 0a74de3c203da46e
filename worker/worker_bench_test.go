package worker

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// benchSources are the images the benchmarks process: generated photos,
// and real ones when the plasma-workspace wallpapers are unpacked under
// /tmp/wp (see the README's demo; IMGBATCH_BENCH_PHOTOS names another
// directory).
var benchSources = sync.OnceValues(func() ([]string, map[string][]byte) {
	srcs := map[string][]byte{}
	var t testing.T // photo only fails on encoder errors, which cannot happen here
	srcs["gen-3000x2000.jpg"] = photo(&t, 3000, 2000, false)
	srcs["gen-1600x1200.png"] = photo(&t, 1600, 1200, true)
	dir := os.Getenv("IMGBATCH_BENCH_PHOTOS")
	if dir == "" {
		dir = "/tmp/wp/x/usr/share/wallpapers"
	}
	for _, name := range []string{"Flow/contents/images/5120x2880.jpg", "Path/contents/images/2560x1600.jpg"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			srcs["wallpaper-"+filepath.Base(name)] = b
		}
	}
	var names []string
	for k := range srcs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, srcs
})

// BenchmarkProcess measures the process stage (guard + libvips render of
// every variant, with the item deadline) on one goroutine: ns/op is the CPU
// time of one image on one core, so a child with P processors makes about
// P × 1e9 / (ns/op) images per second when nothing else limits it.
func BenchmarkProcess(b *testing.B) {
	names, srcs := benchSources()
	recipes := []struct {
		name string
		vs   []imgbatch.Variant
	}{
		{"jpeg", []imgbatch.Variant{{Name: "v", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 82}}},
		{"png", []imgbatch.Variant{{Name: "v", Width: 1280, Height: 1280, Format: imgbatch.FormatPNG}}},
		{"webp", []imgbatch.Variant{{Name: "v", Width: 1280, Height: 1280, Format: imgbatch.FormatWebP, Quality: 80}}},
		{"avif", []imgbatch.Variant{{Name: "v", Width: 1280, Height: 1280, Format: imgbatch.FormatAVIF, Quality: 60}}},
		{"thumb+web", imgbatch.DefaultRecipe.Variants},
		{"4formats", []imgbatch.Variant{
			{Name: "j", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 82},
			{Name: "p", Width: 640, Height: 640, Format: imgbatch.FormatPNG},
			{Name: "w", Width: 1280, Height: 1280, Format: imgbatch.FormatWebP, Quality: 80},
			{Name: "a", Width: 1280, Height: 1280, Format: imgbatch.FormatAVIF, Quality: 60},
		}},
	}
	w := New(nil, Config{Processors: 1})
	for _, name := range names {
		src := srcs[name]
		for _, rc := range recipes {
			run := testRun(b, rc.vs...)
			b.Run(name+"/"+rc.name, func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				for b.Loop() {
					j, err := newJob(run, imgbatch.Task{Item: imgbatch.Item{Bucket: "b", Key: name}})
					if err != nil {
						b.Fatal(err)
					}
					j.data = src
					if err := w.process(context.Background(), run, j); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
			})
		}
	}
}

// BenchmarkProcessParallel runs the process stage on as many goroutines
// as the worker's processor pool would have (the CPUs this container may
// use): img/s is the stage's throughput on this machine.
func BenchmarkProcessParallel(b *testing.B) {
	names, srcs := benchSources()
	w := New(nil, Config{})
	run := testRun(b, imgbatch.DefaultRecipe.Variants...)
	for _, name := range names {
		src := srcs[name]
		b.Run(name+"/thumb+web", func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.SetParallelism(1)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					j, err := newJob(run, imgbatch.Task{Item: imgbatch.Item{Bucket: "b", Key: name}})
					if err == nil {
						j.data = src
						err = w.process(context.Background(), run, j)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
