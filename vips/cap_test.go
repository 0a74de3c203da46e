package vips

import (
	"bytes"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
)

// capSource is issue 16's case: a 1360x1020 JPEG of q60, whose 1280 px
// JPEG at q82 comes out bigger than itself.
func capSource(t *testing.T) []byte {
	t.Helper()
	return testutil.JPEG(t, testutil.Photo(1360, 1020, 3), 60)
}

func normalized(t *testing.T, v imgbatch.Variant) imgbatch.Variant {
	t.Helper()
	r := imgbatch.Recipe{Name: "cap", Variants: []imgbatch.Variant{v}}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	return r.Variants[0]
}

// TestCapFixedQuality: a fixed-q variant over its byte cap is searched
// down to the highest q that fits, and its SSIM measured; without a cap
// (or within it) the output is the one encode, byte for byte.
func TestCapFixedQuality(t *testing.T) {
	src := capSource(t)
	v := normalized(t, imgbatch.Variant{Name: "web", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Quality: 82})
	plain := renderOne(t, src, v)
	if len(plain.Data) <= len(src) {
		t.Fatalf("precondition: q82 output %d bytes, source %d: not bigger", len(plain.Data), len(src))
	}
	if r := renderCap(t, src, v, int64(len(plain.Data))); !bytes.Equal(r.Data, plain.Data) || r.Capped || r.Quality != 82 {
		t.Errorf("a cap the output meets changed it: %d bytes q%d capped %v, want %d q82", len(r.Data), r.Quality, r.Capped, len(plain.Data))
	}
	maxBytes := int64(len(src))
	r := renderCap(t, src, v, maxBytes)
	t.Logf("source %d bytes; q82 %d; capped q%d %d bytes, SSIM %.4f", len(src), len(plain.Data), r.Quality, len(r.Data), r.Score)
	if int64(len(r.Data)) > maxBytes || !r.Capped || r.Quality >= 82 || r.Quality < 30 {
		t.Errorf("capped output %d bytes (cap %d), q%d, capped %v", len(r.Data), maxBytes, r.Quality, r.Capped)
	}
	if r.Score < 0.5 || r.Score > 1 || r.Format != imgbatch.FormatJPEG {
		t.Errorf("capped output: %s, SSIM %v not measured", r.Format, r.Score)
	}
	decode(t, r, imgbatch.FormatJPEG)
}

// TestCapAutoTarget: the cap wins over the quality target, for format
// auto as for one format.
func TestCapAutoTarget(t *testing.T) {
	src := capSource(t)
	for _, v := range []imgbatch.Variant{
		{Name: "auto", Width: 1280, Height: 1280, Format: imgbatch.FormatAuto, Formats: []string{"webp", "jpeg"}, Target: &imgbatch.QualityTarget{SSIM: 0.995}},
		{Name: "jpeg", Width: 1280, Height: 1280, Format: imgbatch.FormatJPEG, Target: &imgbatch.QualityTarget{SSIM: 0.995}},
	} {
		v = normalized(t, v)
		plain := renderOne(t, src, v)
		maxBytes := int64(len(src))
		r := renderCap(t, src, v, maxBytes)
		t.Logf("%s: source %d bytes; target %s q%d %d bytes SSIM %.4f; capped %s q%d %d bytes SSIM %.4f",
			v.Name, len(src), plain.Format, plain.Quality, len(plain.Data), plain.Score, r.Format, r.Quality, len(r.Data), r.Score)
		if len(plain.Data) <= len(src) {
			t.Errorf("%s: precondition: target output %d bytes, not bigger than the source", v.Name, len(plain.Data))
			continue
		}
		if int64(len(r.Data)) > maxBytes || !r.Capped || r.Score <= 0 || r.Score >= plain.Score {
			t.Errorf("%s: capped output %d bytes (cap %d), capped %v, SSIM %v", v.Name, len(r.Data), maxBytes, r.Capped, r.Score)
		}
	}
}

// TestCapNoQuality: PNG has no q: an output over the cap is left as it
// is (the worker copies the source or says so).
func TestCapNoQuality(t *testing.T) {
	src := testutil.PNG(t, testutil.Photo(400, 300, 1))
	v := normalized(t, imgbatch.Variant{Name: "p", Width: 300, Height: 300, Format: imgbatch.FormatPNG})
	plain := renderOne(t, src, v)
	r := renderCap(t, src, v, int64(len(plain.Data))/2)
	if !bytes.Equal(r.Data, plain.Data) || r.Capped {
		t.Errorf("PNG under a cap it cannot meet: %d bytes, capped %v; want the plain %d", len(r.Data), r.Capped, len(plain.Data))
	}
}

// renderCap renders v from src within a byte cap (a render option per
// variant, as the worker's keepSmallerSource sets it).
func renderCap(t *testing.T, src []byte, v imgbatch.Variant, maxBytes int64) Result {
	t.Helper()
	rs, _, err := RenderCapped(src, sniffed(t, src), []imgbatch.Variant{v}, []int64{maxBytes}, false)
	if err != nil {
		t.Fatalf("render %+v within %d bytes: %v", v, maxBytes, err)
	}
	return rs[0]
}

func sniffed(t *testing.T, src []byte) sniff.Format {
	t.Helper()
	info, err := sniff.Inspect(src)
	if err != nil {
		t.Fatal(err)
	}
	return info.Format
}
