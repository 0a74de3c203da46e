package placeholder

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/jpeg"
	"strings"
	"testing"
)

// The BlurHash vectors are the reference C encoder's (woltapp/blurhash,
// C/blurhash_encoder) on the reference's own test pictures; the first is
// the one its C/Readme.md prints.
func TestBlurHashReference(t *testing.T) {
	for _, c := range []struct {
		file   string
		xc, yc int
		want   string
	}{
		{"pic1.png", 4, 3, "LaJHjmVu8_~po#smR+a~xaoLWCRj"},
		{"pic1.png", 5, 4, "VaJHjmVu8_~pXAo#smR+a~tRxaoLWCRjxtt8ofRjWYRj"},
		{"pic1.png", 1, 1, "00JHjm"},
		{"pic4.png", 4, 3, "L08ia?o|fQo|tkfQfQfQfQfQfQfQ"},
		{"pic5.png", 4, 3, "L%HV9wj[fQj[~qfQfQfQ%MfQfQfQ"},
	} {
		if c.want == "" {
			continue
		}
		got, err := BlurHash(load(t, "testdata/"+c.file), c.xc, c.yc)
		if err != nil || got != c.want {
			t.Errorf("%s %dx%d: %q %v, want %q", c.file, c.xc, c.yc, got, err, c.want)
		}
	}
}

// The ThumbHash vectors are the reference JavaScript encoder's
// (evanw/thumbhash js/thumbhash.js, rgbaToThumbHash, run with node) on
// the same pixels: an opaque photo and a photo under an elliptical alpha
// mask. (A synthetic linear gradient is no good vector: its symmetric DCT
// terms land on 7.5 exactly, where the last bit of cos decides.)
func TestThumbHashReference(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"pic1-100.png", "oBgODIInj2KId3mJZ4mT0P5bvA=="},
		{"alpha-pic2.png", "4HmCA4Al0CuaVcYvaPYDlwd4h3iAinc="},
	} {
		b, err := ThumbHash(load(t, "testdata/"+c.file))
		if got := base64.StdEncoding.EncodeToString(b); err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.file, got, err, c.want)
		}
	}
	if _, err := ThumbHash(load(t, "testdata/pic1.png")); err == nil || !strings.Contains(err.Error(), "100x100") {
		t.Errorf("316x178: %v, want a refusal", err)
	}
}

func TestDominantColor(t *testing.T) {
	flat := solid(40, 30, 3, 12, 200, 99)
	if got, _ := DominantColor(flat); got != "#0cc863" {
		t.Errorf("flat: %s", got)
	}
	// Two thirds red, one third blue, a few stray greens: red.
	m := solid(30, 30, 4, 250, 10, 10)
	for i := range 300 {
		copy(m.Pix[i*4:], []byte{10, 10, 250, 255})
	}
	for i := 300; i < 320; i++ {
		copy(m.Pix[i*4:], []byte{0, 255, 0, 255})
	}
	if got, _ := DominantColor(m); got != "#fa0a0a" {
		t.Errorf("mostly red: %s", got)
	}
	// Transparent pixels do not count, however many.
	for i := 0; i < 800; i++ {
		m.Pix[i*4+3] = 0
	}
	if got, _ := DominantColor(m); got != "#fa0a0a" {
		t.Errorf("red under transparency: %s", got)
	}
	for i := range 900 {
		m.Pix[i*4+3] = 0
	}
	if got, err := DominantColor(m); got != "" || err != nil {
		t.Errorf("all transparent: %q %v", got, err)
	}
	if got, _ := DominantColor(load(t, "testdata/pic2.jpg")); got == "" {
		t.Error("photo: no colour")
	}
}

// Near-duplicates: the same photo resized and recompressed keeps its pHash
// within a few bits; other pictures differ in many.
func TestPHashNearDuplicates(t *testing.T) {
	orig := load(t, "testdata/pic1.png")
	h := mustPHash(t, orig)
	for _, c := range []struct {
		name string
		m    Image
	}{
		{"fit 100", fit(orig, 100)},
		{"fit 64", fit(orig, 64)},
		{"fit 200, JPEG q30", recompress(t, fit(orig, 200), 30)},
		{"JPEG q10", recompress(t, orig, 10)},
	} {
		d := Hamming(h, mustPHash(t, c.m))
		t.Logf("%s: distance %d", c.name, d)
		if d > 6 {
			t.Errorf("%s: distance %d to the original, want <= 6", c.name, d)
		}
	}
	for _, other := range []string{"pic2.jpg", "pic5.png", "pic4.png"} {
		d := Hamming(h, mustPHash(t, load(t, "testdata/"+other)))
		t.Logf("%s: distance %d", other, d)
		if d < 20 {
			t.Errorf("%s: distance %d to pic1, want >= 20", other, d)
		}
	}
	if s := PHashHex(h); len(s) != 16 {
		t.Errorf("hex %q", s)
	} else if back, err := ParsePHash(s); err != nil || back != h {
		t.Errorf("parse %q: %x %v", s, back, err)
	}
}

func TestComputeAndBadInput(t *testing.T) {
	m := load(t, "testdata/pic1.png") // larger than MaxSide: reduced first
	s, err := Compute(m, []string{NameBlurHash, NameThumbHash, NameColor, NamePHash})
	if err != nil || s.BlurHash == "" || s.ThumbHash == "" || len(s.Color) != 7 || len(s.PHash) != 16 {
		t.Fatalf("%+v %v", s, err)
	}
	if only, _ := Compute(m, []string{NameColor}); only.Color != s.Color || only.BlurHash != "" || only.PHash != "" {
		t.Errorf("color only: %+v", only)
	}
	for _, bad := range []Image{
		{},
		{Width: 2, Height: 2, Bands: 1, Pix: make([]byte, 4)},
		{Width: 2, Height: 2, Bands: 3, Pix: make([]byte, 5)},
	} {
		if _, err := Compute(bad, []string{NamePHash}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := Compute(solid(4, 4, 3, 1, 2, 3), []string{"lqip"}); err == nil {
		t.Error("unknown name: no error")
	}
	if _, err := BlurHash(solid(4, 4, 3, 1, 2, 3), 10, 3); err == nil {
		t.Error("10 components: no error")
	}
	// A 1x1 image and a 1-pixel-high strip still hash.
	for _, tiny := range []Image{solid(1, 1, 3, 9, 9, 9), solid(100, 1, 4, 9, 9, 9)} {
		if _, err := Compute(tiny, []string{NameBlurHash, NameThumbHash, NameColor, NamePHash}); err != nil {
			t.Errorf("%dx%d: %v", tiny.Width, tiny.Height, err)
		}
	}
}

func mustPHash(t *testing.T, m Image) uint64 {
	t.Helper()
	h, err := PHash(m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func solid(w, h, bands int, r, g, b byte) Image {
	m := Image{Width: w, Height: h, Bands: bands, Pix: make([]byte, w*h*bands)}
	for i := range w * h {
		p := m.Pix[i*bands:]
		p[0], p[1], p[2] = r, g, b
		if bands == 4 {
			p[3] = 255
		}
	}
	return m
}

// recompress encodes m as a JPEG of quality q and decodes it again.
func recompress(t *testing.T, m Image, q int) Image {
	img := image.NewNRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := range m.Width * m.Height {
		r, g, b, _ := m.rgba(i)
		copy(img.Pix[i*4:], []byte{r, g, b, 255})
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	back, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return fromImage(back)
}
