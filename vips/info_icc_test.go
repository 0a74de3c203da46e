package vips

import (
	"encoding/base64"
	"fmt"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/placeholder"
)

// toP3 re-encodes an image as a JPEG at q in Display P3, its profile embedded.
func toP3(t *testing.T, src []byte, q int) []byte {
	t.Helper()
	img, err := govips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.TransformICCProfile("p3"); err != nil {
		t.Fatalf("to P3: %v", err)
	}
	p := govips.NewJpegExportParams()
	p.Quality = q
	b, _, err := img.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The same on real photos made P3, where a copy made in another order (the
// resize first, the conversion to sRGB after it) moved pixels by up to 27
// and one photo's dominant colour to another bin (#faf0ab for #f4cfae).
func TestPlaceholderSmallCopyIsSRGBPhotos(t *testing.T) {
	recipes := map[string][]imgbatch.Variant{
		"default": imgbatch.DefaultRecipe.Variants,     // the shared decode
		"thumb":   imgbatch.DefaultRecipe.Variants[:1], // the copy from the variant
	}
	for i, photo := range searchPhotos(t, 6) {
		src := toP3(t, photo, 90)
		for name, vs := range recipes {
			_, ref := renderFacts(t, src, true, withICC(vs, imgbatch.ICCSRGB)...)
			want := smallPlaceholders(t, ref)
			for _, icc := range []string{imgbatch.ICCKeep, imgbatch.ICCP3} {
				_, info := renderFacts(t, src, true, withICC(vs, icc)...)
				if d := maxDiff(ref.Small.Pix, info.Small.Pix); d > 0 || smallPlaceholders(t, info) != want {
					t.Errorf("photo %d, %s, icc %s: small copy %d units from the sRGB recipe's, placeholders %+v, want %+v",
						i, name, icc, d, smallPlaceholders(t, info), want)
				}
			}
		}
	}
}

// p3Scene is scene(w, h, ...) converted to Display P3 with its profile
// embedded: the same colours as the sRGB scene, other stored numbers.
func p3Scene(t *testing.T, w, h int) []byte {
	t.Helper()
	return toP3(t, encodePNG(t, scene(w, h, w/4, h/4, h/2)), 95)
}

// withICC gives every variant of vs colour policy icc ("" the default).
func withICC(vs []imgbatch.Variant, icc string) []imgbatch.Variant {
	out := make([]imgbatch.Variant, len(vs))
	for i, v := range vs {
		v.Encoder = &imgbatch.EncoderOptions{ICC: icc}
		out[i] = v
	}
	return out
}

// The placeholders are for browsers: the small copy is sRGB whatever
// colour policy the variants ask for, so "keep" and "p3" give the
// default's dominant colour and ThumbHash, however the copy is made (from
// a lone variant, the shared decode of several, or of one cover variant,
// or a decode of its own for a tiny variant).
func TestPlaceholderSmallCopyIsSRGB(t *testing.T) {
	big := imgbatch.Variant{Name: "big", Width: 320, Height: 320, Format: imgbatch.FormatJPEG, Quality: 90}
	sq := imgbatch.Variant{Name: "sq", Width: 200, Height: 200, Fit: imgbatch.FitCover, Format: imgbatch.FormatWebP, Quality: 90}
	tiny := imgbatch.Variant{Name: "icon", Width: 32, Height: 32, Format: imgbatch.FormatPNG}
	recipes := []struct {
		name string
		vs   []imgbatch.Variant
	}{
		{"one inside", []imgbatch.Variant{big}},
		{"several", []imgbatch.Variant{big, sq}},
		{"one cover", []imgbatch.Variant{sq}},
		{"one tiny", []imgbatch.Variant{tiny}},
	}
	// The copy is the sRGB recipe's to the byte, except from a lone P3
	// variant of an untagged source: sRGB to 8-bit P3 and back moves an
	// edge pixel by up to 2 and a ThumbHash coefficient by a unit.
	sources := []struct {
		name      string
		data      []byte
		roundTrip int
	}{{"p3 jpeg", p3Scene(t, 640, 480), 0}, {"untagged png", encodePNG(t, scene(640, 480, 160, 120, 240)), 2}}
	for _, src := range sources {
		for _, rc := range recipes {
			_, ref := renderFacts(t, src.data, true, withICC(rc.vs, imgbatch.ICCSRGB)...)
			want := smallPlaceholders(t, ref)
			for _, icc := range []string{imgbatch.ICCKeep, imgbatch.ICCP3} {
				what := src.name + ", " + rc.name + ", icc " + icc
				_, info := renderFacts(t, src.data, true, withICC(rc.vs, icc)...)
				got := smallPlaceholders(t, info)
				tol := 0
				if icc == imgbatch.ICCP3 {
					tol = src.roundTrip
				}
				if d := maxDiff(ref.Small.Pix, info.Small.Pix); d > tol {
					t.Errorf("%s: small copy %d units from the sRGB recipe's", what, d)
				}
				if !sameColor(got.Color, want.Color, 1) || !sameNibbles(t, got.ThumbHash, want.ThumbHash, min(tol, 1)) {
					t.Errorf("%s: colour %s ThumbHash %s, want the sRGB recipe's %s %s",
						what, got.Color, got.ThumbHash, want.Color, want.ThumbHash)
				}
			}
		}
	}
}

func smallPlaceholders(t *testing.T, info *Info) placeholder.Set {
	t.Helper()
	s := info.Small
	if s == nil {
		t.Fatal("no small copy")
	}
	set, err := placeholder.Compute(placeholder.Image{Width: s.Width, Height: s.Height, Bands: s.Bands, Pix: s.Pix},
		[]string{placeholder.NameColor, placeholder.NameThumbHash})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// maxDiff is the largest difference of two same-sized pixel buffers, or
// 255 when their sizes differ.
func maxDiff(a, b []byte) int {
	if len(a) != len(b) {
		return 255
	}
	d := 0
	for i := range a {
		d = max(d, abs(int(a[i])-int(b[i])))
	}
	return d
}

// sameNibbles compares two ThumbHashes (standard base64) nibble by nibble
// within tol: a ThumbHash stores its coefficients as 4-bit numbers.
func sameNibbles(t *testing.T, a, b string, tol int) bool {
	t.Helper()
	da, err := base64.StdEncoding.DecodeString(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(da) != len(db) {
		return false
	}
	for i := range da {
		if abs(int(da[i]>>4)-int(db[i]>>4)) > tol || abs(int(da[i]&15)-int(db[i]&15)) > tol {
			return false
		}
	}
	return true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// sameColor compares two #rrggbb colours channel by channel within tol.
func sameColor(a, b string, tol int) bool {
	if len(a) != 7 || len(b) != 7 {
		return a == b
	}
	var ra, ga, ba, rb, gb, bb int
	if _, err := fmt.Sscanf(a, "#%02x%02x%02x", &ra, &ga, &ba); err != nil {
		return false
	}
	if _, err := fmt.Sscanf(b, "#%02x%02x%02x", &rb, &gb, &bb); err != nil {
		return false
	}
	return abs(ra-rb) <= tol && abs(ga-gb) <= tol && abs(ba-bb) <= tol
}
