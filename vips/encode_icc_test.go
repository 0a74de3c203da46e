package vips

import (
	"bytes"
	"image"
	"math"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
)

var iccFormats = []string{imgbatch.FormatJPEG, imgbatch.FormatPNG, imgbatch.FormatWebP, imgbatch.FormatAVIF}

// iccVariants are one variant per format under colour policy icc, and a
// default JPEG beside them ("srgb", last), so the shared decode serves
// both kinds.
func iccVariants(icc string) []imgbatch.Variant {
	var vs []imgbatch.Variant
	for _, f := range iccFormats {
		vs = append(vs, imgbatch.Variant{Name: f, Width: 32, Height: 32, Format: f, Quality: 90, Encoder: &imgbatch.EncoderOptions{ICC: icc}})
	}
	return append(vs, imgbatch.Variant{Name: "srgb", Width: 32, Height: 32, Format: imgbatch.FormatJPEG, Quality: 90})
}

// near reports whether pixel p is within tol of want on every channel.
func near(p []float64, want []float64, tol float64) bool {
	for i := range want {
		if math.Abs(p[i]-want[i]) > tol {
			return false
		}
	}
	return true
}

// checkSRGB checks the default variant of iccVariants: sRGB red, no
// profile.
func checkSRGB(t *testing.T, name string, r Result) {
	t.Helper()
	img := decode(t, r, imgbatch.FormatJPEG).img
	if p := pixel(t, img, 16, 16); !near(p, []float64{230, 20, 20}, 8) {
		t.Errorf("%s srgb: pixel %v, want the sRGB red (230,20,20)", name, p)
	}
	if hasField(img, "icc-profile-data") {
		t.Errorf("%s srgb: output has a profile", name)
	}
}

// "keep" writes the source's stored colours and embeds its profile, byte
// for byte; the default variant beside it is still converted to sRGB.
func TestEncodeICCKeep(t *testing.T) {
	src := p3Red(t)
	in, err := govips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	profile, stored := in.GetICCProfile(), pixel(t, in, 32, 32)
	if len(profile) == 0 {
		t.Fatal("test source has no profile")
	}
	vs := iccVariants(imgbatch.ICCKeep)
	for name, rs := range renderAll(t, src, vs) {
		for i, f := range iccFormats {
			img := decode(t, rs[i], f).img
			if got := img.GetICCProfile(); !bytes.Equal(got, profile) {
				t.Errorf("%s %s: profile of %d bytes, want the source's %d", name, f, len(got), len(profile))
			}
			if p := pixel(t, img, 16, 16); !near(p, stored[:3], 8) {
				t.Errorf("%s %s: pixel %v, want the source's stored P3 values %v", name, f, p, stored)
			}
		}
		checkSRGB(t, name, rs[len(iccFormats)])
	}
}

// "p3" converts an untagged (sRGB) source to Display P3 and embeds
// libvips' P3 profile: a saturated red gets other numbers than sRGB's.
func TestEncodeICCP3(t *testing.T) {
	ref, err := govips.NewImageFromBuffer(p3Red(t)) // the same red, converted to P3 by govips
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	p3, p3Pixel := ref.GetICCProfile(), pixel(t, ref, 32, 32)
	// Its description: ASCII (ICC v2 desc) or UTF-16BE (v4 mluc).
	if !bytes.Contains(p3, []byte("P3")) && !bytes.Contains(p3, []byte("P\x003")) {
		t.Fatalf("reference profile does not name P3: %q", p3)
	}
	vs := iccVariants(imgbatch.ICCP3)
	for _, src := range []struct {
		name string
		data []byte
	}{{"untagged png", encodePNG(t, scene(64, 64, 0, 0, 64))}, {"p3 jpeg", p3Red(t)}} {
		for name, rs := range renderAll(t, src.data, vs) {
			for i, f := range iccFormats {
				img := decode(t, rs[i], f).img
				if got := img.GetICCProfile(); !bytes.Equal(got, p3) {
					t.Errorf("%s %s %s: profile of %d bytes, want libvips' P3 profile (%d)", src.name, name, f, len(got), len(p3))
				}
				if p := pixel(t, img, 16, 16); !near(p, p3Pixel[:3], 8) || near(p, []float64{230, 20, 20}, 15) {
					t.Errorf("%s %s %s: pixel %v, want P3's %v (not sRGB's 230,20,20)", src.name, name, f, p, p3Pixel)
				}
			}
			checkSRGB(t, src.name+" "+name, rs[len(iccFormats)])
		}
	}
}

// Without a profile there is nothing to keep (the default's pixels, no
// profile); untagged grey under "p3" stays grey without one.
func TestEncodeICCUntagged(t *testing.T) {
	src := encodePNG(t, scene(64, 64, 0, 0, 64))
	keep := renderOne(t, src, imgbatch.Variant{Name: "v", Width: 32, Format: imgbatch.FormatPNG, Encoder: &imgbatch.EncoderOptions{ICC: imgbatch.ICCKeep}})
	def := renderOne(t, src, imgbatch.Variant{Name: "v", Width: 32, Format: imgbatch.FormatPNG})
	if !bytes.Equal(keep.Data, def.Data) {
		t.Errorf("keep of an untagged source: not the default's bytes")
	}
	grey := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range grey.Pix {
		grey.Pix[i] = uint8(i)
	}
	g := renderOne(t, encodePNG(t, grey), imgbatch.Variant{Name: "v", Width: 32, Format: imgbatch.FormatPNG, Encoder: &imgbatch.EncoderOptions{ICC: imgbatch.ICCP3}})
	img := decode(t, g, imgbatch.FormatPNG).img
	if img.Bands() != 1 || hasField(img, "icc-profile-data") {
		t.Errorf("untagged grey as p3: %d bands, profile %v; want grey without one", img.Bands(), hasField(img, "icc-profile-data"))
	}
}

// A CMYK source cannot stay CMYK in WebP or AVIF: "keep" converts it to
// sRGB as the default does, embedding the sRGB profile it now is in; "p3"
// converts it to P3.
func TestEncodeICCFromCMYK(t *testing.T) {
	src := readCorpus(t, "jpeg-cmyk-pil-sample.jpg")
	ref, err := govips.NewImageFromBuffer(p3Red(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, icc := range []string{imgbatch.ICCKeep, imgbatch.ICCP3} {
		vs := []imgbatch.Variant{
			{Name: "v", Width: 48, Height: 48, Format: imgbatch.FormatWebP, Quality: 90, Encoder: &imgbatch.EncoderOptions{ICC: icc}},
			{Name: "srgb", Width: 48, Height: 48, Format: imgbatch.FormatWebP, Quality: 90},
		}
		for name, rs := range renderAll(t, src, vs) {
			img := decode(t, rs[0], imgbatch.FormatWebP).img
			profile := img.GetICCProfile()
			if img.Bands() != 3 || len(profile) == 0 {
				t.Errorf("%s %s: %d bands, profile of %d bytes; want RGB with a profile", icc, name, img.Bands(), len(profile))
			}
			if p3 := bytes.Equal(profile, ref.GetICCProfile()); p3 != (icc == imgbatch.ICCP3) {
				t.Errorf("%s %s: P3 profile %v", icc, name, p3)
			}
		}
	}
}
