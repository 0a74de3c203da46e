package vips

import (
	"bytes"
	"image"
	"image/color"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// renderFacts sniffs src and renders variants with RenderWith.
func renderFacts(t *testing.T, src []byte, small bool, vs ...imgbatch.Variant) ([]Result, *Info) {
	t.Helper()
	si, err := sniff.Inspect(src)
	if err != nil {
		t.Fatal(err)
	}
	rs, info, err := RenderWith(src, si.Format, vs, small)
	if err != nil {
		t.Fatalf("RenderWith: %v", err)
	}
	return rs, info
}

var thumb256 = imgbatch.Variant{Name: "thumb", Width: 256, Height: 256, Format: imgbatch.FormatJPEG, Quality: 80}

func TestRenderWithFacts(t *testing.T) {
	for _, c := range []struct {
		file        string
		space       string
		icc, alpha  bool
		orientation int
		w, h        int // the small copy, upright
		bands       int
	}{
		{"jpeg-cmyk-pil-sample.jpg", "cmyk", false, false, 1, 100, 100, 3},
		// Stored 308x231 with Orientation=6 and an ICC profile.
		{"jpeg-exif-orientation-6.jpg", "srgb", true, false, 6, 75, 100, 3},
		{"png-gray-alpha-8bit.png", "b-w", false, true, 0, 100, 75, 4},
		{"png-16bit-rgb.png", "rgb16", false, false, 0, 100, 75, 3},
	} {
		_, info := renderFacts(t, readCorpus(t, c.file), true, thumb256)
		if info.Space != c.space || info.ICC != c.icc || info.Alpha != c.alpha || info.Orientation != c.orientation || info.Pages != 1 {
			t.Errorf("%s: %+v, want space %s icc %v alpha %v orientation %d", c.file, info, c.space, c.icc, c.alpha, c.orientation)
		}
		s := info.Small
		if s == nil || s.Width != c.w || s.Height != c.h || s.Bands != c.bands || len(s.Pix) != s.Width*s.Height*s.Bands {
			t.Errorf("%s: small %+v, want %dx%dx%d", c.file, s, c.w, c.h, c.bands)
		}
	}
}

// The small copy is the picture itself, upright and in sRGB: a red left
// half stays red on the left.
func TestRenderWithSmallPixels(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 400, 200))
	for y := range 200 {
		for x := range 400 {
			c := color.RGBA{0, 0, 255, 255}
			if x < 200 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	src := encodePNG(t, img)
	rs, info := renderFacts(t, src, true, thumb256)
	s := info.Small
	if s == nil || s.Width != 100 || s.Height != 50 || s.Bands != 3 {
		t.Fatalf("small %+v", s)
	}
	left, right := s.Pix[(25*100+10)*3:], s.Pix[(25*100+90)*3:]
	if left[0] < 240 || left[2] > 15 || right[2] < 240 || right[0] > 15 {
		t.Errorf("left %v right %v: want red | blue", left[:3], right[:3])
	}
	// Without the small copy: the facts, and the same outputs.
	rs2, info2 := renderFacts(t, src, false, thumb256)
	if info2.Small != nil || info2.Space != "srgb" {
		t.Errorf("no small: %+v", info2)
	}
	sameOutput(t, "PNG", rs[0], rs2[0])
	// One inside variant gives the small copy itself: a JPEG shrunk on
	// load comes out the same. One cover variant takes the shared decode:
	// the same size, pixels a resize apart.
	jpg := encodeJPEG(t, scene(1600, 1200, 400, 300, 40))
	sq := imgbatch.Variant{Name: "sq", Width: 200, Height: 200, Fit: imgbatch.FitCover, Format: imgbatch.FormatJPEG, Quality: 90}
	for _, v := range []imgbatch.Variant{thumb256, sq} {
		with, info := renderFacts(t, jpg, true, v)
		without, _ := renderFacts(t, jpg, false, v)
		if v.Fit == imgbatch.FitCover {
			if with[0].Width != 200 || with[0].Height != 200 || psnr(t, with[0].Data, without[0].Data) < 35 {
				t.Errorf("cover: %dx%d, %.1f dB from Render's", with[0].Width, with[0].Height, psnr(t, with[0].Data, without[0].Data))
			}
		} else {
			sameOutput(t, "JPEG "+v.Name, with[0], without[0])
		}
		if s := info.Small; s == nil || s.Width != 100 || s.Height != 75 {
			t.Errorf("JPEG %s: small %v, want 100x75", v.Name, s)
		}
	}
}

func sameOutput(t *testing.T, what string, a, b Result) {
	t.Helper()
	if a.Width != b.Width || a.Height != b.Height || !bytes.Equal(a.Data, b.Data) {
		t.Errorf("%s: asking for the small copy changed the output: %dx%d %d bytes vs %dx%d %d bytes",
			what, a.Width, a.Height, len(a.Data), b.Width, b.Height, len(b.Data))
	}
}

// A source smaller than the small copy stays at its size; a corrupt one
// fails as Render fails.
func TestRenderWithEdges(t *testing.T) {
	_, info := renderFacts(t, encodeJPEG(t, scene(40, 30, 10, 10, 5)), true, thumb256)
	if s := info.Small; s == nil || s.Width != 40 || s.Height != 30 {
		t.Errorf("40x30 source: small %+v", s)
	}
	bad := readCorpus(t, "jpeg-truncated-50pct.jpg")
	if _, _, err := RenderWith(bad, sniff.JPEG, []imgbatch.Variant{thumb256}, true); err == nil {
		t.Error("truncated JPEG: no error")
	}
}

// TestRenderWithReleasesEverything: the small copy and the facts leave no
// libvips object behind, whichever way the copy is made or the render
// fails.
func TestRenderWithReleasesEverything(t *testing.T) {
	good := encodeJPEG(t, scene(600, 400, 100, 100, 50))
	truncated := readCorpus(t, "jpeg-truncated-50pct.jpg")
	cover := imgbatch.Variant{Name: "sq", Width: 80, Height: 80, Fit: imgbatch.FitCover, Format: imgbatch.FormatPNG}
	run := func() {
		for _, vs := range [][]imgbatch.Variant{{thumb256}, {cover}, {thumb256, cover}} {
			if _, info, err := RenderWith(good, sniff.JPEG, vs, true); err != nil || info.Small == nil {
				t.Fatalf("%d variants: %v %v", len(vs), info, err)
			}
			if _, _, err := RenderWith(truncated, sniff.JPEG, vs, true); err == nil {
				t.Fatal("truncated file rendered")
			}
		}
	}
	run()
	before := liveObjects()
	for range 3 {
		run()
	}
	if after := liveObjects(); after != before {
		t.Errorf("%d libvips objects alive after, %d before", after, before)
	}
}

// A one-variant recipe smaller than the small copy gets the copy from a
// decode of its own, at the copy's size, not from the tiny variant.
func TestRenderWithTinyVariant(t *testing.T) {
	tiny := imgbatch.Variant{Name: "icon", Width: 32, Height: 32, Format: imgbatch.FormatPNG}
	rs, info := renderFacts(t, encodeJPEG(t, scene(800, 600, 200, 150, 40)), true, tiny)
	if rs[0].Width != 32 || info.Small == nil || info.Small.Width != 100 || info.Small.Height != 75 {
		t.Errorf("output %dx%d, small %v; want 32x24 and 100x75", rs[0].Width, rs[0].Height, info.Small)
	}
}
