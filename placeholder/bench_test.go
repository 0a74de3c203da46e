package placeholder

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkCompute is the CPU cost of the placeholders of one image from
// the small image vips hands over (a 100x56 photo).
func BenchmarkCompute(b *testing.B) {
	m := load(b, "testdata/pic1-100.png")
	for _, c := range []struct {
		name  string
		names []string
	}{
		{"all", []string{NameBlurHash, NameThumbHash, NameColor, NamePHash}},
		{"blurhash", []string{NameBlurHash}},
		{"thumbhash", []string{NameThumbHash}},
		{"color", []string{NameColor}},
		{"phash", []string{NamePHash}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			t0 := cpuTime(b)
			for b.Loop() {
				if _, err := Compute(m, c.names); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-t0).Microseconds())/float64(b.N), "cpu-us/img")
		})
	}
}

// cpuTime is the process's CPU time (user + system): on a busy machine a
// steadier measure than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
