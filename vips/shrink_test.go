package vips

import (
	"image"
	"math"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// TestJPEGShrinkRules pins the decode factor of each policy on the shapes
// of 12 MP camera photos made 512 wide, and sharp's rounding exception.
func TestJPEGShrinkRules(t *testing.T) {
	cases := []struct {
		shrink                  float64
		fast, fine, libvips, no int
	}{
		{1.0, 1, 1, 1, 1},
		{2.5, 1, 1, 1, 1}, // sharp: int(2.5) == 2, halved to 1
		{3.0, 2, 2, 1, 1}, // 1536 -> 512
		{2832.0 / 512, 4, 2, 2, 1},
		{3000.0 / 512, 4, 2, 2, 1},
		{4000.0 / 512, 4, 4, 2, 1},
		{4240.0 / 512, 4, 4, 4, 1}, // sharp: int(8.28) == 8, halved to 4
		{4608.0 / 512, 8, 4, 4, 1},
		{16, 8, 8, 8, 1},
	}
	for _, c := range cases {
		for _, p := range []struct {
			policy shrinkOnLoad
			want   int
		}{{shrinkFast, c.fast}, {shrinkFine, c.fine}, {shrinkLibvips, c.libvips}, {shrinkNone, c.no}} {
			if got := jpegShrink(c.shrink, p.policy); got != p.want {
				t.Errorf("shrink %.2f, policy %d: factor %d, want %d", c.shrink, p.policy, got, p.want)
			}
		}
	}
}

// TestVariantShrinkOnLoad checks that a variant's ShrinkOnLoad reaches the
// decoder: on a detailed 12 MP JPEG (4608 wide: fast decodes at 1/8, fine at 1/4), "off" and "fine" are closer to a
// full-size decode than the default (sharp's rule), and the default equals
// an explicit "fast".
func TestVariantShrinkOnLoad(t *testing.T) {
	src := encodeJPEG(t, texture(4608, 2592))
	out := map[string][]byte{}
	for _, s := range []string{"", imgbatch.ShrinkFast, imgbatch.ShrinkFine, imgbatch.ShrinkOff} {
		rs, err := Render(src, "jpeg", []imgbatch.Variant{{Name: "v", Width: 512, Format: imgbatch.FormatJPEG, Quality: 90, ShrinkOnLoad: s}})
		if err != nil {
			t.Fatalf("shrinkOnLoad %q: %v", s, err)
		}
		if rs[0].Width != 512 || rs[0].Height != 288 {
			t.Fatalf("shrinkOnLoad %q: %dx%d, want 512x288", s, rs[0].Width, rs[0].Height)
		}
		out[s] = rs[0].Data
	}
	if string(out[""]) != string(out[imgbatch.ShrinkFast]) {
		t.Error(`"fast" differs from the default`)
	}
	ref := out[imgbatch.ShrinkOff]
	fast, fine := psnr(t, ref, out[""]), psnr(t, ref, out[imgbatch.ShrinkFine])
	t.Logf("PSNR against a full-size decode: fast %.2f dB, fine %.2f dB", fast, fine)
	if string(out[imgbatch.ShrinkFine]) == string(out[""]) {
		t.Error(`"fine" made the same bytes as "fast": the policy did not reach the decoder`)
	}
	if !(fine > fast) {
		t.Errorf("fine (%.2f dB) should be closer to the full decode than fast (%.2f dB)", fine, fast)
	}
}

// texture is a w x h picture with detail at every scale: rings whose
// frequency rises towards the edges, on a diagonal gradient.
func texture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x-w/2), float64(y-h/2)
			v := 0.5 + 0.5*math.Sin((dx*dx+dy*dy)/9000)
			img.Pix[img.PixOffset(x, y)] = uint8(40 + 170*v)
			img.Pix[img.PixOffset(x, y)+1] = uint8(30 + 150*float64(x)/float64(w))
			img.Pix[img.PixOffset(x, y)+2] = uint8(200 - 150*v*float64(y)/float64(h))
			img.Pix[img.PixOffset(x, y)+3] = 255
		}
	}
	return img
}
