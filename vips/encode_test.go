package vips

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

func effortp(n int) *int { return &n }

// encoded renders one variant of format from src with encoder options e.
func encoded(t *testing.T, src []byte, format string, q, width int, e *imgbatch.EncoderOptions) Result {
	t.Helper()
	return renderOne(t, src, imgbatch.Variant{Name: "v", Width: width, Height: width, Format: format, Quality: q, Encoder: e})
}

// jpegFrame is what a JPEG's start-of-frame segment says.
type jpegFrame struct {
	marker   byte     // 0xC0 baseline, 0xC2 progressive, ...
	sampling [][2]int // per component: horizontal, vertical factors
	tables   [][]byte // the DQT segments' payloads, in order
}

// readJPEGFrame walks a JPEG's segments up to the first scan.
func readJPEGFrame(b []byte) (jpegFrame, error) {
	var f jpegFrame
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return f, errors.New("no SOI")
	}
	for off := 2; off+4 <= len(b); {
		if b[off] != 0xFF {
			return f, fmt.Errorf("no marker at %d", off)
		}
		m := b[off+1]
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if off+2+n > len(b) || n < 2 {
			return f, fmt.Errorf("segment %X runs past the end", m)
		}
		seg := b[off+4 : off+2+n]
		switch {
		case m == 0xDA:
			return f, nil
		case m == 0xDB:
			f.tables = append(f.tables, seg)
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			f.marker = m
			for c := 0; c < int(seg[5]); c++ {
				hv := seg[6+3*c+1]
				f.sampling = append(f.sampling, [2]int{int(hv >> 4), int(hv & 15)})
			}
		}
		off += 2 + n
	}
	return f, errors.New("no scan")
}

func mustFrame(t *testing.T, r Result) jpegFrame {
	t.Helper()
	f, err := readJPEGFrame(r.Data)
	if err != nil {
		t.Fatalf("output JPEG: %v", err)
	}
	return f
}

func TestEncodeJPEGProgressive(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(640, 480, 1))
	base := mustFrame(t, encoded(t, src, imgbatch.FormatJPEG, 80, 320, nil))
	prog := encoded(t, src, imgbatch.FormatJPEG, 80, 320, &imgbatch.EncoderOptions{Progressive: true})
	decode(t, prog, imgbatch.FormatJPEG)
	if base.marker != 0xC0 {
		t.Errorf("default JPEG has SOF%X, want baseline SOF0", base.marker&15)
	}
	if f := mustFrame(t, prog); f.marker != 0xC2 {
		t.Errorf("progressive JPEG has SOF%X, want SOF2", f.marker&15)
	}
}

// Chroma subsampling shows in the luma component's sampling factors: 2x2
// is 4:2:0, 1x1 (like the chroma components) 4:4:4. libjpeg's decoder
// says the same (jpegload's jpeg-chroma-subsample).
func TestEncodeJPEGSubsample(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(640, 480, 2))
	for _, c := range []struct {
		q         int
		subsample string
		luma      [2]int
		libjpeg   string
	}{
		{80, "", [2]int{2, 2}, "4:2:0"},
		{95, "", [2]int{1, 1}, "4:4:4"},
		{80, "off", [2]int{1, 1}, "4:4:4"},
		{95, "on", [2]int{2, 2}, "4:2:0"},
	} {
		r := encoded(t, src, imgbatch.FormatJPEG, c.q, 320, &imgbatch.EncoderOptions{Subsample: c.subsample})
		f := mustFrame(t, r)
		if len(f.sampling) != 3 || f.sampling[0] != c.luma || f.sampling[1] != [2]int{1, 1} || f.sampling[2] != [2]int{1, 1} {
			t.Errorf("q%d subsample %q: sampling %v, want luma %v, chroma 1x1", c.q, c.subsample, f.sampling, c.luma)
		}
		if got := decode(t, r, imgbatch.FormatJPEG).img.GetString("jpeg-chroma-subsample"); got != c.libjpeg {
			t.Errorf("q%d subsample %q: jpegload says %q, want %q", c.q, c.subsample, got, c.libjpeg)
		}
	}
}

// Trellis quantisation changes the coefficients (not the tables); a
// mozjpeg quant table changes the tables.
func TestEncodeJPEGTrellisAndQuantTable(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(640, 480, 3))
	plain := encoded(t, src, imgbatch.FormatJPEG, 80, 320, nil)
	trellis := encoded(t, src, imgbatch.FormatJPEG, 80, 320, &imgbatch.EncoderOptions{Trellis: true})
	table := encoded(t, src, imgbatch.FormatJPEG, 80, 320, &imgbatch.EncoderOptions{QuantTable: 3})
	for name, r := range map[string]Result{"trellis": trellis, "quantTable 3": table} {
		decode(t, r, imgbatch.FormatJPEG)
		if bytes.Equal(r.Data, plain.Data) {
			t.Errorf("%s: the same bytes as without it", name)
		}
		if p := psnr(t, plain.Data, r.Data); p < 25 {
			t.Errorf("%s: %.1f dB from the plain JPEG, want a close image", name, p)
		}
	}
	pf, tf, qf := mustFrame(t, plain), mustFrame(t, trellis), mustFrame(t, table)
	if !equalTables(pf.tables, tf.tables) {
		t.Errorf("trellis changed the quantisation tables")
	}
	if equalTables(pf.tables, qf.tables) {
		t.Errorf("quantTable 3 left the quantisation tables as they were")
	}
	t.Logf("bytes: plain %d, trellis %d, quantTable 3 %d", len(plain.Data), len(trellis.Data), len(table.Data))
}

func equalTables(a, b [][]byte) bool {
	return bytes.Equal(bytes.Join(a, nil), bytes.Join(b, nil))
}

// pixels are an image's samples, decoded by libvips.
func pixels(t *testing.T, img *govips.ImageRef) []byte {
	t.Helper()
	b, err := img.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Lossless WebP and AVIF give back the pixels they were given: a PNG at
// its own size (no resampling) round-trips exactly.
func TestEncodeLossless(t *testing.T) {
	src := encodePNG(t, testutil.Photo(96, 64, 4))
	want := pixels(t, decode(t, encoded(t, src, imgbatch.FormatPNG, 0, 96, nil), imgbatch.FormatPNG).img)
	in, err := govips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if !bytes.Equal(pixels(t, in), want) {
		t.Fatal("the PNG variant at the source's size is not the source's pixels: the test needs no resampling")
	}
	for _, format := range []string{imgbatch.FormatWebP, imgbatch.FormatAVIF} {
		lossy := encoded(t, src, format, 80, 96, nil)
		r := encoded(t, src, format, 80, 96, &imgbatch.EncoderOptions{Lossless: true})
		if got := pixels(t, decode(t, r, format).img); !bytes.Equal(got, want) {
			t.Errorf("%s lossless: pixels differ from the source's", format)
		}
		if bytes.Equal(pixels(t, decode(t, lossy, format).img), want) {
			t.Errorf("%s lossy: pixels equal the source's; the test proves nothing", format)
		}
		t.Logf("%s: lossy %d bytes, lossless %d", format, len(lossy.Data), len(r.Data))
	}
	w := encoded(t, src, imgbatch.FormatWebP, 80, 96, &imgbatch.EncoderOptions{Lossless: true})
	if !bytes.Contains(w.Data[:40], []byte("VP8L")) {
		t.Errorf("lossless WebP has no VP8L chunk: % x", w.Data[:40])
	}
}

// av1Chroma reads an AVIF's av1C box: chroma subsampled in x and y.
func av1Chroma(t *testing.T, b []byte) (x, y int) {
	t.Helper()
	i := bytes.Index(b, []byte("av1C"))
	if i < 0 || i+7 > len(b) {
		t.Fatal("AVIF has no av1C box")
	}
	c := b[i+6]
	return int(c >> 3 & 1), int(c >> 2 & 1)
}

func TestEncodeAVIFSubsample(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(320, 240, 5))
	for _, c := range []struct {
		q         int
		subsample string
		lossless  bool
		want      int // 1: 4:2:0, 0: 4:4:4
	}{
		{60, "", false, 1},
		{92, "", false, 0},
		{60, "off", false, 0},
		{92, "on", false, 1},
		{60, "", true, 0},
	} {
		r := encoded(t, src, imgbatch.FormatAVIF, c.q, 160, &imgbatch.EncoderOptions{Subsample: c.subsample, Lossless: c.lossless})
		decode(t, r, imgbatch.FormatAVIF)
		if x, y := av1Chroma(t, r.Data); x != c.want || y != c.want {
			t.Errorf("q%d subsample %q lossless %v: av1C subsampling %d,%d, want %d,%d", c.q, c.subsample, c.lossless, x, y, c.want, c.want)
		}
	}
}

// Effort (WebP method, AVIF speed, PNG zlib level) and WebP's smart
// subsampling change the bytes; the images stay close.
func TestEncodeEffortChangesBytes(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(640, 480, 6))
	for _, c := range []struct {
		format string
		a, b   *imgbatch.EncoderOptions
	}{
		{imgbatch.FormatWebP, &imgbatch.EncoderOptions{Effort: effortp(0)}, &imgbatch.EncoderOptions{Effort: effortp(6)}},
		{imgbatch.FormatWebP, nil, &imgbatch.EncoderOptions{Subsample: "off"}},
		{imgbatch.FormatAVIF, &imgbatch.EncoderOptions{Effort: effortp(0)}, &imgbatch.EncoderOptions{Effort: effortp(5)}},
		{imgbatch.FormatPNG, &imgbatch.EncoderOptions{Effort: effortp(1)}, &imgbatch.EncoderOptions{Effort: effortp(9)}},
	} {
		ra := encoded(t, src, c.format, 75, 240, c.a)
		rb := encoded(t, src, c.format, 75, 240, c.b)
		a, b := decode(t, ra, c.format), decode(t, rb, c.format)
		if bytes.Equal(ra.Data, rb.Data) {
			t.Errorf("%s %+v and %+v: the same bytes", c.format, c.a, c.b)
		}
		if c.format == imgbatch.FormatPNG && !bytes.Equal(pixels(t, a.img), pixels(t, b.img)) {
			t.Errorf("png: compression levels changed the pixels")
		}
		t.Logf("%s: %d bytes vs %d", c.format, len(ra.Data), len(rb.Data))
	}
}

func TestEncodePNGInterlaced(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(320, 240, 7))
	for _, p := range []bool{false, true} {
		r := encoded(t, src, imgbatch.FormatPNG, 0, 160, &imgbatch.EncoderOptions{Progressive: p})
		decode(t, r, imgbatch.FormatPNG)
		// IHDR: 8 signature, 8 length+type, then width 4, height 4,
		// depth, colour type, compression, filter, interlace.
		if got, want := r.Data[28], map[bool]byte{false: 0, true: 1}[p]; got != want {
			t.Errorf("progressive %v: IHDR interlace %d, want %d", p, got, want)
		}
	}
}

// An effort outside the encoder's range (a recipe that skipped Normalize)
// is refused: libvips would ignore it with a warning.
func TestEncodeBadEffortIsAnError(t *testing.T) {
	src := encodeJPEG(t, testutil.Photo(64, 48, 8))
	_, err := Render(src, "jpeg", []imgbatch.Variant{{Name: "v", Width: 32, Format: imgbatch.FormatWebP, Quality: 80,
		Encoder: &imgbatch.EncoderOptions{Effort: effortp(42)}}})
	if err == nil || !strings.Contains(err.Error(), `variant "v": effort 42 outside webp's 0..6`) {
		t.Errorf("webp effort 42: %v; want refused", err)
	}
}

func TestDefaultEffortsAgree(t *testing.T) {
	if avifEffort != imgbatch.DefaultEffort(imgbatch.FormatAVIF) || webpEffort != imgbatch.DefaultEffort(imgbatch.FormatWebP) {
		t.Errorf("vips efforts avif %d webp %d; the recipe's defaults (which normalize away) are %d, %d",
			avifEffort, webpEffort, imgbatch.DefaultEffort(imgbatch.FormatAVIF), imgbatch.DefaultEffort(imgbatch.FormatWebP))
	}
}
