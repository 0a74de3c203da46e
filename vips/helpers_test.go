package vips

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
)

// TestMain starts libvips, then govips (which the tests use to decode
// outputs and make inputs) on it with the same settings: govips' first
// call would otherwise start it with an operation cache, which
// TestRenderReleasesEverything would count as leaks. govips' log handler
// replaces Start's and drops libvips' messages (Start's went to the
// default logger at debug level, below what it prints).
func TestMain(m *testing.M) {
	Start(Config{})
	govips.LoggingSettings(func(string, govips.LogLevel, string) {}, govips.LogLevelWarning)
	govips.Startup(&govips.Config{ConcurrencyLevel: Concurrency()}) // MaxCache*: 0, no operation cache
	os.Exit(m.Run())
}

// readCorpus reads a file of the hostile-image corpus
// (testutil.BadImagesDir).
func readCorpus(tb testing.TB, name string) []byte {
	tb.Helper()
	return testutil.BadImage(tb, name)
}

// manifestRow is one line of MANIFEST.tsv.
type manifestRow struct{ file, expectation, description string }

func readManifest(tb testing.TB) []manifestRow {
	tb.Helper()
	var rows []manifestRow
	for _, r := range testutil.BadImageRows(tb) {
		rows = append(rows, manifestRow{file: r["file"], expectation: r["expectation"], description: r["description"]})
	}
	return rows
}

// renderOne renders one variant of src with the default strategy.
func renderOne(t *testing.T, src []byte, v imgbatch.Variant) Result {
	t.Helper()
	info, err := sniff.Inspect(src)
	if err != nil {
		t.Fatalf("sniff source: %v", err)
	}
	rs, err := Render(src, info.Format, []imgbatch.Variant{v})
	if err != nil {
		t.Fatalf("Render %+v: %v", v, err)
	}
	return rs[0]
}

// output is a decoded variant.
type output struct {
	info sniff.Info
	img  *govips.ImageRef
}

var outFormat = map[string]sniff.Format{
	imgbatch.FormatJPEG: sniff.JPEG,
	imgbatch.FormatPNG:  sniff.PNG,
	imgbatch.FormatWebP: sniff.WebP,
	imgbatch.FormatAVIF: sniff.AVIF,
	imgbatch.FormatGIF:  sniff.GIF,
}

// decode checks that r is a well-formed image of the variant's format whose
// header, sniffed in pure Go and decoded by libvips, agrees with the size
// Render reported, and returns it decoded.
func decode(t *testing.T, r Result, format string) output {
	t.Helper()
	info, err := sniff.Inspect(r.Data)
	if err != nil {
		t.Fatalf("output does not sniff: %v", err)
	}
	if info.Format != outFormat[format] {
		t.Fatalf("output format %s, want %s", info.Format, format)
	}
	if info.Width != r.Width || info.Height != r.Height {
		t.Fatalf("output header says %dx%d, Render said %dx%d", info.Width, info.Height, r.Width, r.Height)
	}
	img, err := govips.NewImageFromBuffer(r.Data)
	if err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	t.Cleanup(img.Close)
	if img.Width() != r.Width || img.Height() != r.Height {
		t.Fatalf("output decodes to %dx%d, Render said %dx%d", img.Width(), img.Height(), r.Width, r.Height)
	}
	if img.BandFormat() != govips.BandFormatUchar {
		t.Fatalf("output band format %v, want 8-bit", img.BandFormat())
	}
	return output{info: info, img: img}
}

func pixel(t *testing.T, img *govips.ImageRef, x, y int) []float64 {
	t.Helper()
	p, err := img.GetPoint(x, y)
	if err != nil {
		t.Fatalf("pixel %d,%d: %v", x, y, err)
	}
	return p
}

// hasField reports whether a decoded image carries metadata field name.
func hasField(img *govips.ImageRef, name string) bool {
	for _, f := range img.GetFields() {
		if f == name {
			return true
		}
	}
	return false
}

// scene draws a w x h test picture: a grey-blue gradient with a saturated
// red square of side sq at (sx, sy).
func scene(w, h, sx, sy, sq int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(60 + 80*x/w), uint8(70 + 80*y/h), 150, 255}
			if x >= sx && x < sx+sq && y >= sy && y < sy+sq {
				c = color.RGBA{230, 20, 20, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	return testutil.JPEG(t, img, 90)
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	return testutil.PNG(t, img)
}

// withXMP inserts an APP1 XMP segment after a JPEG's SOI marker.
func withXMP(t *testing.T, jpg []byte) []byte {
	const ns = "http://ns.adobe.com/xap/1.0/\x00"
	packet := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
		`<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/jpeg"/></rdf:RDF></x:xmpmeta>`
	payload := ns + packet
	if len(jpg) < 2 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		t.Fatal("not a JPEG")
	}
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	seg = append(seg, payload...)
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, jpg[2:]...)
}

// psnr compares two JPEGs of the same size, in dB over the RGB channels.
func psnr(t testing.TB, a, b []byte) float64 {
	ia, err := jpeg.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ia.Bounds() != ib.Bounds() {
		t.Fatalf("sizes differ: %v vs %v", ia.Bounds(), ib.Bounds())
	}
	var sum float64
	var n int
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			for _, d := range []float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				sum += d * d
				n++
			}
		}
	}
	if sum == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(sum/float64(n)))
}
