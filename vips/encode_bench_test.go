package vips

import (
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// encoderCase is one encoder setting BenchmarkEncoderOptions measures.
type encoderCase struct {
	name   string
	format string
	e      *imgbatch.EncoderOptions
	tagged bool // on the P3-tagged photos (colour policies)
}

var encoderCases = []encoderCase{
	{"jpeg/default", imgbatch.FormatJPEG, nil, false},
	{"jpeg/progressive", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{Progressive: true}, false},
	{"jpeg/subsample-off", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{Subsample: imgbatch.SubsampleOff}, false},
	{"jpeg/trellis", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{Trellis: true}, false},
	{"jpeg/quant-table-3", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{QuantTable: 3}, false},
	{"jpeg/progressive-trellis-table-3", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{Progressive: true, Trellis: true, QuantTable: 3}, false},
	{"jpeg/icc-p3", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{ICC: imgbatch.ICCP3}, false},
	{"jpeg/tagged-default", imgbatch.FormatJPEG, nil, true},
	{"jpeg/tagged-icc-keep", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{ICC: imgbatch.ICCKeep}, true},
	{"jpeg/tagged-icc-p3", imgbatch.FormatJPEG, &imgbatch.EncoderOptions{ICC: imgbatch.ICCP3}, true},
	{"webp/default-effort-4", imgbatch.FormatWebP, nil, false},
	{"webp/effort-0", imgbatch.FormatWebP, &imgbatch.EncoderOptions{Effort: effortp(0)}, false},
	{"webp/effort-6", imgbatch.FormatWebP, &imgbatch.EncoderOptions{Effort: effortp(6)}, false},
	{"webp/subsample-off-smart", imgbatch.FormatWebP, &imgbatch.EncoderOptions{Subsample: imgbatch.SubsampleOff}, false},
	{"webp/lossless", imgbatch.FormatWebP, &imgbatch.EncoderOptions{Lossless: true}, false},
	{"avif/default-effort-2", imgbatch.FormatAVIF, nil, false},
	{"avif/effort-0", imgbatch.FormatAVIF, &imgbatch.EncoderOptions{Effort: effortp(0)}, false},
	{"avif/effort-4", imgbatch.FormatAVIF, &imgbatch.EncoderOptions{Effort: effortp(4)}, false},
	{"avif/subsample-off", imgbatch.FormatAVIF, &imgbatch.EncoderOptions{Subsample: imgbatch.SubsampleOff}, false},
	{"avif/lossless", imgbatch.FormatAVIF, &imgbatch.EncoderOptions{Lossless: true}, false},
	{"png/default-level-6", imgbatch.FormatPNG, nil, false},
	{"png/level-1", imgbatch.FormatPNG, &imgbatch.EncoderOptions{Effort: effortp(1)}, false},
	{"png/level-9", imgbatch.FormatPNG, &imgbatch.EncoderOptions{Effort: effortp(9)}, false},
	{"png/interlaced", imgbatch.FormatPNG, &imgbatch.EncoderOptions{Progressive: true}, false},
}

// BenchmarkEncoderOptions measures what each encoder option costs: one
// 11.9 MP camera-like JPEG (cameraLike) to a 1280 px variant per op, one
// goroutine at libvips concurrency 1, so cpu-ms/img is one core's time
// per image (decode and resize included: compare a case with its
// format's default). bytes/img is the mean output size. The tagged cases
// run on the same photos converted to Display P3 with the profile
// embedded: the default converts them to sRGB, keep skips that.
//
//	IMGBATCH_WALLPAPERS=… go test ./vips -run '^$' -bench EncoderOptions -benchtime 10x
func BenchmarkEncoderOptions(b *testing.B) {
	for _, c := range encoderCases {
		b.Run(c.name, func(b *testing.B) {
			set := cameraLike(b)
			if c.tagged {
				set = p3Tagged(b)
			}
			setConcurrency(b, 1)
			v := []imgbatch.Variant{{Name: "web", Width: 1280, Height: 1280, Format: c.format, Quality: 80, Encoder: c.e}}
			var out int64
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				rs, err := render(set[i%len(set)], sniff.JPEG, v, defaults)
				if err != nil {
					b.Fatal(err)
				}
				out += int64(len(rs[0].Data))
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/img")
			b.ReportMetric(float64(out)/float64(b.N), "bytes/img")
		})
	}
}

// p3Tagged is cameraLike converted to Display P3 (govips), the profile
// embedded, baseline JPEG q88.
func p3Tagged(b *testing.B) [][]byte {
	const key = "p3-tagged"
	if v, ok := photoCache.Load(key); ok {
		return v.([][]byte)
	}
	var out [][]byte
	for _, src := range cameraLike(b) {
		img, err := govips.NewImageFromBuffer(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := img.TransformICCProfile("p3"); err != nil {
			b.Fatal(err)
		}
		p := govips.NewJpegExportParams()
		p.Quality = 88
		p.Interlace = false // govips' default is progressive: slower to decode
		data, _, err := img.ExportJpeg(p)
		img.Close()
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	photoCache.Store(key, out)
	return out
}
