package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/placeholder"
)

// TestImageInfo: a succeeded item's result describes its source for the
// catalog (format, size, frames, orientation, ICC, space, alpha) with the
// recipe's placeholders; a failed or skipped one carries none.
func TestImageInfo(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{})
	run := testRun(t)
	run.Recipe.Placeholders = []string{"blurhash", "color", "phash", "thumbhash"}
	jpg := photo(t, 320, 240, false)
	pic, err := os.ReadFile("../placeholder/testdata/pic1.png") // a real photo, 316x178
	if err != nil {
		t.Fatal(err)
	}
	s.put(t, "src", "photo.png", pic)
	s.put(t, "src", "photo-small.jpg", halfJPEG(t, pic))
	s.put(t, "src", "cmyk.jpg", testutil.BadImage(t, "jpeg-cmyk-pil-sample.jpg"))
	s.put(t, "src", "rot6.jpg", testutil.BadImage(t, "jpeg-exif-orientation-6.jpg"))
	s.put(t, "src", "alpha.png", testutil.BadImage(t, "png-gray-alpha-8bit.png"))
	s.put(t, "src", "broken.jpg", jpg[:len(jpg)/2])
	keys := []string{"photo.png", "photo-small.jpg", "cmyk.jpg", "rot6.jpg", "alpha.png", "broken.jpg"}
	o := processAll(t, context.Background(), w, run, items("src", keys...))
	if o.err != nil {
		t.Fatal(o.err)
	}
	want := []imgbatch.ImageInfo{
		{Format: "png", Width: 316, Height: 178, Frames: 1, ICC: true, Space: "srgb", Alpha: true},
		{Format: "jpeg", Width: 158, Height: 89, Frames: 1, Space: "srgb"}, // no EXIF: orientation 0
		{Format: "jpeg", Width: 100, Height: 100, Frames: 1, Orientation: 1, Space: "cmyk"},
		{Format: "jpeg", Width: 308, Height: 231, Frames: 1, Orientation: 6, ICC: true, Space: "srgb"},
		{Format: "png", Width: 200, Height: 150, Frames: 1, Space: "b-w", Alpha: true},
	}
	for i, w := range want {
		r := o.results[i]
		if r.Status != imgbatch.StatusSucceeded || r.Image == nil {
			t.Errorf("%s: %s %s, image %v", keys[i], r.Status, r.Message, r.Image)
			continue
		}
		got := *r.Image
		if got.BlurHash == "" || got.ThumbHash == "" || len(got.Color) != 7 || len(got.PHash) != 16 {
			t.Errorf("%s: placeholders %+v", keys[i], got)
		}
		got.BlurHash, got.ThumbHash, got.Color, got.PHash = "", "", "", ""
		if got != w {
			t.Errorf("%s: %+v, want %+v", keys[i], got, w)
		}
	}
	// The same photo at half the size, as a JPEG, is a near-duplicate.
	a, _ := placeholder.ParsePHash(o.results[0].Image.PHash)
	b, _ := placeholder.ParsePHash(o.results[1].Image.PHash)
	c, _ := placeholder.ParsePHash(o.results[3].Image.PHash)
	if d := placeholder.Hamming(a, b); d > 6 {
		t.Errorf("photo at 316 and 158 px: pHash distance %d", d)
	}
	if d := placeholder.Hamming(a, c); d < 16 {
		t.Errorf("photo and another picture: pHash distance %d", d)
	}
	if r := o.results[5]; r.Status != imgbatch.StatusFailed || r.Image != nil {
		t.Errorf("broken.jpg: %s image %v", r.Status, r.Image)
	}

	// Without placeholders in the recipe: the facts alone. Skipped items
	// (outputs current) were not decoded: no image.
	plain := testRun(t)
	o = processAll(t, context.Background(), newTestWorker(s, Config{}), plain, items("src", "alpha.png"))
	if img := o.results[0].Image; img == nil || img.Space != "b-w" || img.BlurHash != "" || img.PHash != "" {
		t.Errorf("no placeholders: %+v", img)
	}
	o = processAll(t, context.Background(), newTestWorker(s, Config{Incremental: true}), plain, items("src", "alpha.png"))
	if r := o.results[0]; r.Status != imgbatch.StatusSkipped || r.Image != nil {
		t.Errorf("skipped: %s image %v", r.Status, r.Image)
	}
}

// halfJPEG is the PNG src at half its size (2x2 box), as a JPEG of q50.
func halfJPEG(t *testing.T, src []byte) []byte {
	img, err := png.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	half := image.NewRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	for y := range b.Dy() / 2 {
		for x := range b.Dx() / 2 {
			var sum [3]uint32
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, bl, _ := img.At(b.Min.X+2*x+d[0], b.Min.Y+2*y+d[1]).RGBA()
				sum[0], sum[1], sum[2] = sum[0]+r>>8, sum[1]+g>>8, sum[2]+bl>>8
			}
			half.SetRGBA(x, y, color.RGBA{uint8(sum[0] / 4), uint8(sum[1] / 4), uint8(sum[2] / 4), 255})
		}
	}
	return testutil.JPEG(t, half, 50)
}

// TestImageInfoHEIC: a HEIC the helper decodes has its facts and
// placeholders from the TIFF libvips renders: the Display P3 profile kept,
// the small copy upright (the ThumbHash records the aspect: portrait).
func TestImageInfoHEIC(t *testing.T) {
	needHEIC(t)
	s := newTestS3(t, "src", "out")
	run := testRun(t)
	run.Recipe.Placeholders = []string{"thumbhash", "color"}
	s.put(t, "src", "iphone.heic", heicTestdata(t, "iphone-p3-rot90-64x96.heic"))
	s.put(t, "src", "alpha.heic", heicTestdata(t, "alpha-48x32.heic"))
	o := processAll(t, context.Background(), newTestWorker(s, Config{}), run, items("src", "iphone.heic", "alpha.heic"))
	if o.err != nil {
		t.Fatal(o.err)
	}
	ip, al := o.results[0].Image, o.results[1].Image
	if ip == nil || ip.Format != "heif" || !ip.ICC || ip.Space != "srgb" || ip.ThumbHash == "" || ip.Color == "" {
		t.Fatalf("iphone.heic: %+v", ip)
	}
	// ThumbHash's header: bit 15 of bytes 3-4 says landscape.
	th, err := base64.StdEncoding.DecodeString(ip.ThumbHash)
	if err != nil || len(th) < 5 || th[4]&0x80 != 0 {
		t.Errorf("iphone.heic: thumbhash %q (%v) says landscape; upright it is portrait", ip.ThumbHash, err)
	}
	if al == nil || !al.Alpha {
		t.Errorf("alpha.heic: %+v", al)
	}
}
