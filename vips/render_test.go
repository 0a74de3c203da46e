package vips

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// configs are the ways of rendering that must all meet the recipe.
var configs = []struct {
	name string
	o    options
}{
	{"per-variant", options{FailOnTruncated, PerVariant, shrinkLibvips}},
	{"shared-decode", options{FailOnTruncated, SharedDecode, shrinkLibvips}},
	{"shared-decode-fine-shrink", options{FailOnTruncated, SharedDecode, shrinkFine}},
	{"shared-decode-sharp-rule", options{FailOnTruncated, SharedDecode, shrinkFast}},
}

// renderAll renders variants in every config and checks every output
// decodes as its format at the reported size.
func renderAll(t *testing.T, src []byte, variants []imgbatch.Variant) map[string][]Result {
	t.Helper()
	info, err := sniff.Inspect(src)
	if err != nil {
		t.Fatalf("sniff source: %v", err)
	}
	out := map[string][]Result{}
	for _, st := range configs {
		rs, err := render(src, info.Format, variants, st.o)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(rs) != len(variants) {
			t.Fatalf("%s: %d results for %d variants", st.name, len(rs), len(variants))
		}
		for i, r := range rs {
			decode(t, r, variants[i].Format)
		}
		out[st.name] = rs
	}
	return out
}

func TestRenderFits(t *testing.T) {
	src := encodeJPEG(t, scene(480, 360, 200, 140, 80))
	jpg := func(name string, w, h int, fit string, upscale, smart bool) imgbatch.Variant {
		return imgbatch.Variant{Name: name, Width: w, Height: h, Fit: fit, Format: imgbatch.FormatJPEG, Quality: 80, Upscale: upscale, SmartCrop: smart}
	}
	cases := []struct {
		v    imgbatch.Variant
		w, h int
	}{
		{jpg("inside", 256, 256, imgbatch.FitInside, false, false), 256, 192},
		{jpg("width-only", 200, 0, imgbatch.FitInside, false, false), 200, 150},
		{jpg("height-only", 0, 90, imgbatch.FitInside, false, false), 120, 90},
		{jpg("inside-no-upscale", 1000, 1000, imgbatch.FitInside, false, false), 480, 360},
		{jpg("width-only-no-upscale", 1000, 0, imgbatch.FitInside, false, false), 480, 360},
		{jpg("inside-upscale", 960, 960, imgbatch.FitInside, true, false), 960, 720},
		{jpg("cover", 100, 100, imgbatch.FitCover, false, false), 100, 100},
		{jpg("cover-wide", 300, 100, imgbatch.FitCover, false, false), 300, 100},
		{jpg("cover-smart", 100, 100, imgbatch.FitCover, false, true), 100, 100},
		// Covering 1000x500 would enlarge: the largest 2:1 crop instead.
		{jpg("cover-no-upscale", 1000, 500, imgbatch.FitCover, false, false), 480, 240},
		{jpg("cover-upscale", 1000, 500, imgbatch.FitCover, true, false), 1000, 500},
		{jpg("contain", 300, 300, imgbatch.FitContain, false, false), 300, 300},
		{jpg("contain-no-upscale", 1000, 600, imgbatch.FitContain, false, false), 1000, 600},
		{jpg("fill", 100, 300, imgbatch.FitFill, false, false), 100, 300},
		{jpg("fill-no-upscale", 1000, 100, imgbatch.FitFill, false, false), 480, 100},
		{jpg("fill-upscale", 1000, 100, imgbatch.FitFill, true, false), 1000, 100},
	}
	var variants []imgbatch.Variant
	for _, c := range cases {
		variants = append(variants, c.v)
	}
	// All at once (the shared decode serves every fit) and one by one.
	for name, rs := range renderAll(t, src, variants) {
		for i, c := range cases {
			if rs[i].Width != c.w || rs[i].Height != c.h {
				t.Errorf("%s %s: got %dx%d, want %dx%d", name, c.v.Name, rs[i].Width, rs[i].Height, c.w, c.h)
			}
		}
	}
	for _, c := range cases {
		r := renderOne(t, src, c.v)
		if r.Width != c.w || r.Height != c.h {
			t.Errorf("alone %s: got %dx%d, want %dx%d", c.v.Name, r.Width, r.Height, c.w, c.h)
		}
	}
}

// redPixels counts strongly red pixels of a decoded image.
func redPixels(t *testing.T, img *govips.ImageRef) int {
	n := 0
	for y := 0; y < img.Height(); y += 4 {
		for x := 0; x < img.Width(); x += 4 {
			p := pixel(t, img, x, y)
			if p[0] > 170 && p[1] < 90 && p[2] < 90 {
				n++
			}
		}
	}
	return n
}

func TestRenderCoverCropsCentreOrAttention(t *testing.T) {
	// A 600x200 gradient with a red square near the right edge: the centre
	// crop misses it, the attention crop finds it.
	src := encodeJPEG(t, scene(600, 200, 500, 60, 80))
	centre := renderOne(t, src, imgbatch.Variant{Name: "c", Width: 200, Height: 200, Fit: imgbatch.FitCover, Format: imgbatch.FormatPNG})
	smart := renderOne(t, src, imgbatch.Variant{Name: "s", Width: 200, Height: 200, Fit: imgbatch.FitCover, SmartCrop: true, Format: imgbatch.FormatPNG})
	if n := redPixels(t, decode(t, centre, imgbatch.FormatPNG).img); n != 0 {
		t.Errorf("centre crop has %d red samples, want 0 (the square is off-centre)", n)
	}
	if n := redPixels(t, decode(t, smart, imgbatch.FormatPNG).img); n < 100 {
		t.Errorf("attention crop has %d red samples, want the whole square (~400)", n)
	}
}

func TestRenderContainPads(t *testing.T) {
	src := encodeJPEG(t, scene(480, 360, 200, 140, 80))
	for _, format := range []string{imgbatch.FormatJPEG, imgbatch.FormatPNG, imgbatch.FormatWebP} {
		t.Run(format, func(t *testing.T) {
			r := renderOne(t, src, imgbatch.Variant{Name: "c", Width: 300, Height: 300, Fit: imgbatch.FitContain, Format: format, Quality: 90})
			img := decode(t, r, format).img
			if r.Width != 300 || r.Height != 300 {
				t.Fatalf("got %dx%d, want 300x300", r.Width, r.Height)
			}
			// 480x360 fits as 300x225: 37 rows of padding above.
			corner, centre := pixel(t, img, 2, 2), pixel(t, img, 150, 150)
			if format == imgbatch.FormatJPEG {
				if img.HasAlpha() {
					t.Fatal("JPEG output has alpha")
				}
				for _, v := range corner {
					if v < 245 {
						t.Fatalf("JPEG padding %v, want white", corner)
					}
				}
				return
			}
			if !img.HasAlpha() {
				t.Fatalf("%s output has no alpha: padding cannot be transparent", format)
			}
			if a := corner[len(corner)-1]; a != 0 {
				t.Errorf("padding alpha %v, want 0 (transparent)", a)
			}
			if a := centre[len(centre)-1]; a != 255 {
				t.Errorf("image alpha %v, want 255", a)
			}
		})
	}
}

func TestRenderFillStretches(t *testing.T) {
	// The red square (80x80 of 480x360) becomes 20 wide and 80 tall when
	// stretched to 120x360: its aspect is not kept.
	src := encodePNG(t, scene(480, 360, 200, 140, 80))
	r := renderOne(t, src, imgbatch.Variant{Name: "f", Width: 120, Height: 360, Fit: imgbatch.FitFill, Format: imgbatch.FormatPNG})
	img := decode(t, r, imgbatch.FormatPNG).img
	redRow, redCol := 0, 0
	for x := 0; x < img.Width(); x++ {
		if p := pixel(t, img, x, 180); p[0] > 170 && p[1] < 90 {
			redRow++
		}
	}
	for y := 0; y < img.Height(); y++ {
		if p := pixel(t, img, 60, y); p[0] > 170 && p[1] < 90 {
			redCol++
		}
	}
	if redRow < 17 || redRow > 23 || redCol < 76 || redCol > 84 {
		t.Errorf("stretched square is %dx%d, want about 20x80", redRow, redCol)
	}
}

func TestRenderAutoRotatesByEXIF(t *testing.T) {
	// Stored 308x231 with Orientation=6: upright it is 231x308.
	src := readCorpus(t, "jpeg-exif-orientation-6.jpg")
	variants := []imgbatch.Variant{
		{Name: "full", Width: 1000, Height: 1000, Format: imgbatch.FormatJPEG},
		{Name: "small", Width: 154, Height: 154, Format: imgbatch.FormatJPEG},
		{Name: "wide", Width: 100, Height: 50, Fit: imgbatch.FitCover, Format: imgbatch.FormatPNG},
		{Name: "keep", Width: 1000, Height: 1000, Format: imgbatch.FormatJPEG, KeepMetadata: true},
	}
	for name, rs := range renderAll(t, src, variants) {
		if rs[0].Width != 231 || rs[0].Height != 308 {
			t.Errorf("%s: full size %dx%d, want 231x308", name, rs[0].Width, rs[0].Height)
		}
		if rs[1].Height != 154 || rs[1].Width < 115 || rs[1].Width > 116 {
			t.Errorf("%s: 154 box gave %dx%d, want 115-116x154 (portrait)", name, rs[1].Width, rs[1].Height)
		}
		if rs[2].Width != 100 || rs[2].Height != 50 {
			t.Errorf("%s: cover gave %dx%d, want 100x50", name, rs[2].Width, rs[2].Height)
		}
		// A kept EXIF block must not ask viewers to rotate again.
		kept := decode(t, rs[3], imgbatch.FormatJPEG)
		if !hasField(kept.img, "exif-data") {
			t.Errorf("%s: keepMetadata output lost its EXIF", name)
		}
		if o := kept.img.Orientation(); o > 1 {
			t.Errorf("%s: keepMetadata output says orientation %d; it is upright already", name, o)
		}
		if kept.info.Orientation > 1 {
			t.Errorf("%s: keepMetadata output EXIF block says orientation %d", name, kept.info.Orientation)
		}
	}
}

func TestRenderCMYKToSRGB(t *testing.T) {
	src := readCorpus(t, "jpeg-cmyk-pil-sample.jpg")
	for _, format := range []string{imgbatch.FormatJPEG, imgbatch.FormatPNG, imgbatch.FormatWebP} {
		r := renderOne(t, src, imgbatch.Variant{Name: "v", Width: 64, Height: 64, Format: format})
		img := decode(t, r, format).img
		if img.Bands() != 3 || img.Interpretation() != govips.InterpretationSRGB {
			t.Errorf("%s: %d bands, %v; want 3-band sRGB", format, img.Bands(), img.Interpretation())
		}
	}
}

func TestRender16BitPNGTo8Bit(t *testing.T) {
	src := readCorpus(t, "png-16bit-rgb.png")
	r := renderOne(t, src, imgbatch.Variant{Name: "v", Width: 128, Height: 128, Format: imgbatch.FormatPNG})
	decode(t, r, imgbatch.FormatPNG)
	// IHDR: bit depth at byte 24, colour type at 25.
	if depth, ct := r.Data[24], r.Data[25]; depth != 8 || ct != 2 {
		t.Errorf("PNG IHDR bit depth %d colour type %d, want 8-bit RGB (2)", depth, ct)
	}
	// The source is a red (top) to blue (bottom) gradient: a plain cast of
	// 16-bit values would clip to 255; shifted to 8 bits, the top is red
	// and the bottom blue.
	img := decode(t, r, imgbatch.FormatPNG).img
	if p := pixel(t, img, 64, 0); p[0] < 200 || p[2] > 60 {
		t.Errorf("top edge %v, want red", p)
	}
	if p := pixel(t, img, 64, img.Height()-1); p[0] > 60 || p[2] < 200 {
		t.Errorf("bottom edge %v, want blue", p)
	}
}

func TestRenderGreyAlphaPNG(t *testing.T) {
	src := readCorpus(t, "png-gray-alpha-8bit.png")
	vs := []imgbatch.Variant{
		{Name: "png", Width: 100, Height: 100, Format: imgbatch.FormatPNG},
		{Name: "webp", Width: 100, Height: 100, Format: imgbatch.FormatWebP},
		{Name: "jpeg", Width: 100, Height: 100, Format: imgbatch.FormatJPEG},
	}
	for name, rs := range renderAll(t, src, vs) {
		decode(t, rs[0], imgbatch.FormatPNG)
		// Grey + alpha stays grey + alpha (colour type 4, 8 bits).
		if depth, ct := rs[0].Data[24], rs[0].Data[25]; depth != 8 || ct != 4 {
			t.Errorf("%s: PNG bit depth %d colour type %d, want 8-bit grey+alpha (4)", name, depth, ct)
		}
		p, err := png.Decode(bytes.NewReader(rs[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		// Alpha is a radial gradient: opaque centre, transparent corners.
		_, _, _, ca := p.At(0, 0).RGBA()
		_, _, _, ma := p.At(50, 37).RGBA()
		if ca>>8 > 40 || ma>>8 < 200 {
			t.Errorf("%s: alpha corner %d centre %d, want transparent corner, opaque centre", name, ca>>8, ma>>8)
		}
		if !decode(t, rs[1], imgbatch.FormatWebP).img.HasAlpha() {
			t.Errorf("%s: WebP lost the alpha channel", name)
		}
		j := decode(t, rs[2], imgbatch.FormatJPEG).img
		if j.HasAlpha() {
			t.Errorf("%s: JPEG has alpha", name)
		}
		// Flattened on white: the transparent corner is white.
		if c := pixel(t, j, 0, 0); c[0] < 230 {
			t.Errorf("%s: JPEG corner %v, want white (flattened)", name, c)
		}
	}
}

// p3Red is a 64x64 sRGB red square converted to Display P3 with the P3
// profile embedded, plus EXIF (Orientation=1 set by libvips) and XMP.
func p3Red(t *testing.T) []byte {
	img, err := govips.NewImageFromBuffer(encodePNG(t, scene(64, 64, 0, 0, 64)))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.TransformICCProfile("p3"); err != nil {
		t.Fatalf("to P3: %v", err)
	}
	if err := img.SetOrientation(1); err != nil {
		t.Fatal(err)
	}
	p := govips.NewJpegExportParams()
	p.Quality = 95
	b, _, err := img.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	return withXMP(t, b)
}

func TestRenderConvertsEmbeddedProfileToSRGB(t *testing.T) {
	src := p3Red(t)
	in, err := govips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if !in.HasICCProfile() {
		t.Fatal("test source has no ICC profile")
	}
	// The stored values are P3 (about 216,54,41); read as sRGB they would be
	// visibly duller than the original red (230,20,20).
	if p := pixel(t, in, 32, 32); p[1] < 35 {
		t.Fatalf("test source %v does not look like P3 values", p)
	}
	r := renderOne(t, src, imgbatch.Variant{Name: "v", Width: 32, Height: 32, Format: imgbatch.FormatPNG})
	if p := pixel(t, decode(t, r, imgbatch.FormatPNG).img, 16, 16); p[0] < 222 || p[1] > 30 || p[2] > 30 {
		t.Errorf("output %v, want the original sRGB red (230,20,20)", p)
	}
}

func TestRenderStripsMetadata(t *testing.T) {
	src := p3Red(t)
	in, err := govips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, f := range []string{"exif-data", "xmp-data", "icc-profile-data"} {
		if !hasField(in, f) {
			t.Fatalf("test source lacks %s: fields %v", f, in.GetFields())
		}
	}
	var vs []imgbatch.Variant
	for _, format := range []string{imgbatch.FormatJPEG, imgbatch.FormatPNG, imgbatch.FormatWebP, imgbatch.FormatAVIF} {
		vs = append(vs, imgbatch.Variant{Name: format, Width: 32, Height: 32, Format: format})
	}
	vs = append(vs, imgbatch.Variant{Name: "keep", Width: 32, Height: 32, Format: imgbatch.FormatJPEG, KeepMetadata: true})
	for name, rs := range renderAll(t, src, vs) {
		for i, v := range vs[:4] {
			img := decode(t, rs[i], v.Format).img
			for _, f := range []string{"exif-data", "xmp-data", "icc-profile-data"} {
				if hasField(img, f) {
					t.Errorf("%s %s: output keeps %s", name, v.Format, f)
				}
			}
		}
		// JPEG APP1 (EXIF, XMP) and APP2 (ICC) markers, checked in the bytes.
		if j := rs[0].Data; bytes.Contains(j, []byte("Exif\x00\x00")) || bytes.Contains(j, []byte("http://ns.adobe.com/xap/1.0/")) || bytes.Contains(j, []byte("ICC_PROFILE")) {
			t.Errorf("%s: JPEG bytes still hold EXIF, XMP or ICC", name)
		}
		kept := decode(t, rs[4], imgbatch.FormatJPEG).img
		for _, f := range []string{"exif-data", "xmp-data", "icc-profile-data"} {
			if !hasField(kept, f) {
				t.Errorf("%s keepMetadata: output lost %s", name, f)
			}
		}
	}
}

func TestRenderOutputFormats(t *testing.T) {
	// AVIF encoding is slow: keep the image small.
	src := encodeJPEG(t, scene(320, 240, 100, 80, 60))
	for _, format := range []string{imgbatch.FormatJPEG, imgbatch.FormatPNG, imgbatch.FormatWebP, imgbatch.FormatAVIF} {
		for _, q := range []int{0, 50} {
			r := renderOne(t, src, imgbatch.Variant{Name: "v", Width: 160, Height: 160, Format: format, Quality: q})
			o := decode(t, r, format)
			if r.Width != 160 || r.Height != 120 {
				t.Errorf("%s q%d: %dx%d, want 160x120", format, q, r.Width, r.Height)
			}
			if o.img.Bands() != 3 {
				t.Errorf("%s q%d: %d bands, want 3", format, q, o.img.Bands())
			}
		}
	}
}

func TestRenderStrategiesAgree(t *testing.T) {
	// A photo-like source big enough for JPEG shrink-on-load to differ
	// between variants (8x for the 128 box, 2x for the 600 one).
	src := encodeJPEG(t, scene(2400, 1600, 1000, 600, 300))
	vs := []imgbatch.Variant{
		{Name: "big", Width: 600, Height: 600, Format: imgbatch.FormatJPEG, Quality: 90},
		{Name: "thumb", Width: 128, Height: 128, Format: imgbatch.FormatJPEG, Quality: 90},
		{Name: "square", Width: 200, Height: 200, Fit: imgbatch.FitCover, Format: imgbatch.FormatJPEG, Quality: 90},
		{Name: "pad", Width: 300, Height: 100, Fit: imgbatch.FitContain, Format: imgbatch.FormatJPEG, Quality: 90},
		{Name: "stretch", Width: 300, Height: 100, Fit: imgbatch.FitFill, Format: imgbatch.FormatJPEG, Quality: 90},
	}
	rs := renderAll(t, src, vs)
	a := rs["per-variant"]
	for _, c := range configs[1:] {
		b := rs[c.name]
		for i, v := range vs {
			if a[i].Width != b[i].Width || a[i].Height != b[i].Height {
				t.Errorf("%s %s: %dx%d, per-variant %dx%d", c.name, v.Name, b[i].Width, b[i].Height, a[i].Width, a[i].Height)
				continue
			}
			if p := psnr(t, a[i].Data, b[i].Data); p < 32 {
				t.Errorf("%s %s: PSNR %.1f dB against per-variant, want >= 32", c.name, v.Name, p)
			} else {
				t.Logf("%s %s: PSNR against per-variant %.1f dB", c.name, v.Name, p)
			}
		}
	}
}

func TestRenderFailOnTruncated(t *testing.T) {
	// Policy: a file that ends early fails (CorruptImage in the worker).
	for _, name := range []string{"jpeg-truncated-10pct.jpg", "jpeg-truncated-50pct.jpg", "jpeg-truncated-99pct.jpg", "png-truncated-pillow.png"} {
		t.Run(name, func(t *testing.T) {
			src := readCorpus(t, name)
			info, err := sniff.Inspect(src)
			if err != nil {
				t.Fatal(err)
			}
			vs := []imgbatch.Variant{{Name: "a", Width: 64, Height: 64, Format: imgbatch.FormatJPEG}, {Name: "b", Width: 300, Height: 300, Format: imgbatch.FormatJPEG}}
			for _, st := range configs {
				_, err := render(src, info.Format, vs, st.o)
				if err == nil {
					t.Fatalf("%s: truncated file rendered under FailOnTruncated", st.name)
				}
				low := strings.ToLower(err.Error())
				if !strings.Contains(low, "premature end") && !strings.Contains(low, "read error") {
					t.Errorf("%s: error %q does not say why", st.name, err)
				}
			}
			// The policy, not the decoder, decides: permissive mode renders.
			permissive := defaults
			permissive.failOn = FailOnNone
			if _, err := render(src, info.Format, vs, permissive); err != nil {
				t.Errorf("FailOnNone: %v", err)
			}
		})
	}
}

// TestRenderCorpus runs every corpus file that passes the worker's guards
// (sniff allow-list, 100 MP budget, 1,000 frames of an animation) through
// Render: `ok` files must render at sizes that follow from their header,
// `reject` files must fail with a message, `either` files must do one or
// the other.
func TestRenderCorpus(t *testing.T) {
	const budget = 100_000_000
	const frameBudget = 1000 // worker.DefaultMaxFrames, for animated GIF and WebP
	vs := []imgbatch.Variant{
		{Name: "thumb", Width: 128, Height: 128, Format: imgbatch.FormatJPEG},
		{Name: "web", Width: 320, Height: 320, Format: imgbatch.FormatWebP},
	}
	for _, row := range readManifest(t) {
		t.Run(row.file, func(t *testing.T) {
			src := readCorpus(t, row.file)
			info, err := sniff.Inspect(src)
			if err != nil || info.Pixels() > budget || (info.Animated && info.Format != sniff.TIFF && info.Pages > frameBudget) {
				if row.expectation == "ok" {
					t.Fatalf("an ok file is refused by the guards: %v (%d px)", err, info.Pixels())
				}
				t.Skipf("refused before libvips (sniff: %v, %d px): the worker's guard, not this package", err, info.Pixels())
			}
			if !Supported(info.Format) {
				t.Skipf("%s not supported by libvips %s", info.Format, Version())
			}
			rs, err := Render(src, info.Format, vs)
			switch row.expectation {
			case "ok":
				if err != nil {
					t.Fatalf("ok file failed: %v", err)
				}
				w, h := info.Width, info.Height
				if info.Orientation >= 5 {
					w, h = h, w
				}
				for i, r := range rs {
					decode(t, r, vs[i].Format)
					notBlackFromSource(t, src, info.Format, r, vs[i])
					box := vs[i].Width
					if max(r.Width, r.Height) > box || (max(w, h) >= box && max(r.Width, r.Height) != box) || (max(w, h) < box && (r.Width != w || r.Height != h)) {
						t.Errorf("%s: %dx%d from %dx%d in a %d box", vs[i].Name, r.Width, r.Height, w, h, box)
					}
					if (w > h) != (r.Width > r.Height) && w != h && r.Width != r.Height {
						t.Errorf("%s: %dx%d has not the orientation of %dx%d", vs[i].Name, r.Width, r.Height, w, h)
					}
				}
			case "reject":
				if err == nil {
					t.Fatalf("reject file rendered")
				}
				t.Logf("rejected: %v", err)
			default:
				if err != nil {
					t.Logf("either: failed: %v", err)
				} else {
					for i, r := range rs {
						decode(t, r, vs[i].Format)
						notBlackFromSource(t, src, info.Format, r, vs[i])
					}
					t.Logf("either: rendered")
				}
			}
		})
	}
}

// notBlackFromSource fails t when variant r is flat black but the source,
// decoded as stored (no colour management), is not flat: a render that
// lost the pixels (a bad ICC transform, strips that are not there) must
// never count as a success.
func notBlackFromSource(t *testing.T, src []byte, f sniff.Format, r Result, v imgbatch.Variant) {
	t.Helper()
	out, err := ImageStats(r.Data, outFormat[v.Format])
	if err != nil {
		t.Fatalf("%s: decode output: %v", v.Name, err)
	}
	in, err := ImageStats(src, f)
	if err != nil {
		t.Fatalf("decode source: %v", err)
	}
	if out.FlatBlack() && !in.Flat() {
		t.Errorf("%s: output is flat black (%+v) from a source that is not flat (%+v)", v.Name, out, in)
	}
}

// TestImageStats: a black image is flat black, a gradient neither flat nor
// black, and a corrupt ICC profile does not blacken the render.
func TestImageStats(t *testing.T) {
	black := encodePNG(t, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	s, err := ImageStats(black, sniff.PNG)
	if err != nil || !s.FlatBlack() || !s.Flat() {
		t.Errorf("black PNG: %+v %v", s, err)
	}
	icc := readCorpus(t, "tiff-corrupt-icc-profile.tif")
	in, err := ImageStats(icc, sniff.TIFF)
	if err != nil || in.Flat() || in.Max != 255 {
		t.Fatalf("gradient TIFF: %+v %v", in, err)
	}
	r := renderOne(t, icc, imgbatch.Variant{Name: "t", Width: 48, Height: 48, Format: imgbatch.FormatPNG})
	out, err := ImageStats(r.Data, sniff.PNG)
	if err != nil || out.Flat() || math.Abs(out.Mean-in.Mean) > 10 || math.Abs(out.StdDev-in.StdDev) > 10 {
		t.Errorf("render of a TIFF with a corrupt ICC profile: %+v, source %+v (%v)", out, in, err)
	}
	if _, err := ImageStats(nil, sniff.PNG); err == nil {
		t.Error("stats of no bytes")
	}
}

// TestRenderUsesOnlyTheNamedLoader hands files to Render under every
// allowed format they are not: each must fail fast in that format's loader.
// libvips' own detection would have probed every loader, and on 8.14 the
// SVGZ file below makes that probe loop forever.
func TestRenderUsesOnlyTheNamedLoader(t *testing.T) {
	v := []imgbatch.Variant{{Name: "v", Width: 64, Height: 64, Format: imgbatch.FormatJPEG}}
	for _, name := range []string{"svgz-truncated-gzip-trailing-garbage.svgz", "random-bytes.jpg", "text-matrix-named.png", "pdf-renamed.jpg"} {
		src := readCorpus(t, name)
		for _, f := range []sniff.Format{sniff.JPEG, sniff.PNG, sniff.GIF, sniff.WebP, sniff.TIFF, sniff.HEIF, sniff.AVIF} {
			if _, err := Render(src, f, v); err == nil {
				t.Errorf("%s as %s rendered", name, f)
			}
		}
	}
	// A real JPEG named as PNG is not sniffed again: the PNG loader refuses.
	jpg := readCorpus(t, "jpeg-named.png")
	if _, err := Render(jpg, sniff.PNG, v); err == nil {
		t.Error("JPEG rendered through the PNG loader")
	}
	if _, err := Render(jpg, sniff.JPEG, v); err != nil {
		t.Errorf("JPEG through the JPEG loader: %v", err)
	}
	if _, err := Render(jpg, sniff.BMP, v); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("BMP: %v, want unsupported format", err)
	}
}

func TestSupported(t *testing.T) {
	for _, f := range []sniff.Format{sniff.JPEG, sniff.PNG, sniff.GIF, sniff.WebP, sniff.TIFF} {
		if !Supported(f) {
			t.Errorf("%s not supported by libvips %s", f, Version())
		}
	}
	for _, f := range []sniff.Format{sniff.BMP, sniff.SVG, sniff.PDF, sniff.Unknown} {
		if Supported(f) {
			t.Errorf("%s reported supported", f)
		}
	}
	// HEIF and AVIF: Supported must match what Render actually does.
	v := []imgbatch.Variant{{Name: "v", Width: 8, Height: 8, Format: imgbatch.FormatJPEG}}
	for f, sample := range map[sniff.Format][]byte{sniff.HEIF: probeHEVC, sniff.AVIF: readCorpus(t, "avif-240x180-valid.avif")} {
		_, err := Render(sample, f, v)
		if Supported(f) != (err == nil) {
			t.Errorf("libvips %s: Supported(%s) = %v but Render error = %v", Version(), f, Supported(f), err)
		}
		t.Logf("libvips %s: %s supported: %v", Version(), f, Supported(f))
	}
}

func TestThumbnail(t *testing.T) {
	src := encodeJPEG(t, scene(480, 360, 200, 140, 80))
	v := imgbatch.Variant{Name: "t", Width: 100, Height: 100, Format: imgbatch.FormatWebP, Quality: 70}
	r, err := Thumbnail(src, v)
	if err != nil {
		t.Fatal(err)
	}
	if r.Width != 100 || r.Height != 75 {
		t.Errorf("got %dx%d, want 100x75", r.Width, r.Height)
	}
	decode(t, r, imgbatch.FormatWebP)
	for _, bad := range [][]byte{nil, []byte("<svg/>"), readCorpus(t, "bmp-16x16-valid.bmp")} {
		if _, err := Thumbnail(bad, v); err == nil {
			t.Errorf("Thumbnail(%q…) succeeded", fmt.Sprintf("%.8s", bad))
		}
	}
}

func TestRenderRejectsBadVariants(t *testing.T) {
	src := encodeJPEG(t, scene(64, 64, 0, 0, 0))
	for _, v := range []imgbatch.Variant{
		{Name: "none", Format: imgbatch.FormatJPEG},
		{Name: "fit", Width: 10, Fit: imgbatch.FitCover, Format: imgbatch.FormatJPEG},
		{Name: "fmt", Width: 10, Format: "bmp"},
		{Name: "q", Width: 10, Format: imgbatch.FormatJPEG, Quality: 101},
	} {
		if _, err := Render(src, sniff.JPEG, []imgbatch.Variant{v}); err == nil {
			t.Errorf("variant %+v accepted", v)
		}
	}
	if _, err := Render(src, sniff.JPEG, nil); err == nil {
		t.Error("no variants accepted")
	}
}

// TestRenderReleasesEverything renders, fails and refuses images in every
// config and checks that no libvips object outlives the calls.
func TestRenderReleasesEverything(t *testing.T) {
	good := encodeJPEG(t, scene(600, 400, 100, 100, 50))
	truncated := readCorpus(t, "jpeg-truncated-50pct.jpg")
	cmyk := readCorpus(t, "jpeg-cmyk-pil-sample.jpg")
	vs := []imgbatch.Variant{
		{Name: "a", Width: 100, Height: 100, Fit: imgbatch.FitContain, Format: imgbatch.FormatPNG},
		{Name: "b", Width: 300, Height: 200, Fit: imgbatch.FitCover, SmartCrop: true, Format: imgbatch.FormatWebP},
		{Name: "c", Width: 50, Format: imgbatch.FormatJPEG},
	}
	run := func() {
		for _, c := range configs {
			if _, err := render(good, sniff.JPEG, vs, c.o); err != nil {
				t.Fatal(err)
			}
			if _, err := render(cmyk, sniff.JPEG, vs, c.o); err != nil {
				t.Fatal(err)
			}
			if _, err := render(truncated, sniff.JPEG, vs, c.o); err == nil {
				t.Fatal("truncated file rendered")
			}
			if _, err := render(good, sniff.PNG, vs, c.o); err == nil {
				t.Fatal("JPEG rendered as PNG")
			}
		}
	}
	run() // first use creates libvips' long-lived objects (interpolators, profiles)
	before := liveObjects()
	for i := 0; i < 3; i++ {
		run()
	}
	if after := liveObjects(); after != before {
		t.Errorf("libvips objects alive: %d before, %d after 3 rounds", before, after)
	}
}

// TestRenderUnusualEncodings covers what photo pipelines meet less often:
// 16-bit and float TIFFs, Lab and CMYK TIFFs, 1-bit grey, palette PNG.
func TestRenderUnusualEncodings(t *testing.T) {
	base, err := govips.NewImageFromBuffer(encodePNG(t, scene(120, 90, 40, 30, 30)))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	build := func(f func(img *govips.ImageRef) ([]byte, error)) []byte {
		img, err := base.Copy()
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		b, err := f(img)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// tiffIn converts to interpretation in and writes a TIFF.
	tiffIn := func(in govips.Interpretation) func(img *govips.ImageRef) ([]byte, error) {
		return func(img *govips.ImageRef) ([]byte, error) {
			if err := img.ToColorSpace(in); err != nil {
				return nil, err
			}
			b, _, err := img.ExportTiff(govips.NewTiffExportParams())
			return b, err
		}
	}
	cases := map[string][]byte{
		"tiff-rgb16":     build(tiffIn(govips.InterpretationRGB16)),
		"tiff-grey16":    build(tiffIn(govips.InterpretationGrey16)),
		"tiff-lab-float": build(tiffIn(govips.InterpretationLAB)),
		"tiff-cmyk":      build(tiffIn(govips.InterpretationCMYK)),
		"png-1bit": build(func(img *govips.ImageRef) ([]byte, error) {
			p := govips.NewPngExportParams()
			p.Bitdepth = 1
			if err := img.ToColorSpace(govips.InterpretationBW); err != nil {
				return nil, err
			}
			b, _, err := img.ExportPng(p)
			return b, err
		}),
		"png-palette": build(func(img *govips.ImageRef) ([]byte, error) {
			p := govips.NewPngExportParams()
			p.Palette = true
			b, _, err := img.ExportPng(p)
			return b, err
		}),
	}
	vs := []imgbatch.Variant{
		{Name: "j", Width: 60, Height: 60, Format: imgbatch.FormatJPEG},
		{Name: "p", Width: 40, Height: 40, Fit: imgbatch.FitContain, Format: imgbatch.FormatPNG},
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			for cname, rs := range renderAll(t, src, vs) {
				if rs[0].Width != 60 || rs[0].Height != 45 || rs[1].Width != 40 || rs[1].Height != 40 {
					t.Errorf("%s: %dx%d and %dx%d, want 60x45 and 40x40", cname, rs[0].Width, rs[0].Height, rs[1].Width, rs[1].Height)
				}
				img := decode(t, rs[0], imgbatch.FormatJPEG).img
				if b := img.Bands(); b != 1 && b != 3 {
					t.Errorf("%s: JPEG with %d bands", cname, b)
				}
			}
		})
	}
}
