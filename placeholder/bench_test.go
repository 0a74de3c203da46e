package placeholder

import "testing"

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
			for b.Loop() {
				if _, err := Compute(m, c.names); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
