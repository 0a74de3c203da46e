package worker

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/heic"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// TestMain lets the test binary be the HEIC helper: the worker starts
// os.Executable() heif-decode for HEIC sources when libvips cannot decode
// HEVC (heic.Decoder's default command).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "heif-decode" {
		os.Exit(heic.RunHelper(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func heicTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/heic/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func needHEIC(t *testing.T) {
	t.Helper()
	vips.Start(vips.Config{})
	if vips.Supported(sniff.HEIF) {
		return // this libvips decodes HEVC itself
	}
	_, err := (&heic.Decoder{}).Probe(context.Background())
	testutil.Need(t, "an HEVC decoder (libvips cannot decode HEVC; the HEIC helper needs libheif1, libde265-0)", err)
}

// TestHEIC: HEVC HEICs, an iPhone-style one among them (irot plus an EXIF
// orientation that must not be applied again, Display P3 ICC profile,
// thumbnail), produce every variant through the worker, upright.
func TestHEIC(t *testing.T) {
	needHEIC(t)
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{})
	run := testRun(t)
	keys := []string{"iphone.heic", "plain.heic", "alpha.heic", "grey.heic"}
	s.put(t, "src", "grey.heic", heicTestdata(t, "grey-4096x4096.heic")) // 16.8 MP: shrunk ×21 in the helper
	s.put(t, "src", "iphone.heic", heicTestdata(t, "iphone-p3-rot90-64x96.heic"))
	s.put(t, "src", "plain.heic", heicTestdata(t, "plain-64x48.heic"))
	s.put(t, "src", "alpha.heic", heicTestdata(t, "alpha-48x32.heic"))
	o := processAll(t, context.Background(), w, run, items("src", keys...))
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, k := range keys {
		r := o.results[i]
		if r.Status != imgbatch.StatusSucceeded || len(r.Outputs) != len(run.Recipe.Variants) {
			t.Fatalf("%s: %s %s %q, want succeeded", k, r.Status, r.ErrorCode, r.Message)
		}
		for _, out := range r.Outputs {
			info, err := sniff.Inspect(s.get(t, "out", out.Key))
			if err != nil || info.Width != out.Width || info.Height != out.Height {
				t.Errorf("%s: %s is %+v (%v), result says %dx%d", k, out.Key, info, err, out.Width, out.Height)
			}
		}
	}
	if g := o.results[3].Outputs; g[0].Width != 64 || g[0].Height != 64 || g[1].Width != 96 || g[1].Height != 96 {
		t.Errorf("grey 4096x4096: outputs %+v, want 64x64 and 96x96", g)
	}
	// The iPhone-style file is 64x96 upright (64x64 box: 43x64), its red
	// corner top right; its EXIF orientation applied again would turn it
	// back to landscape or put the corner elsewhere.
	r := o.results[0]
	if th := r.Outputs[0]; th.Width != 43 || th.Height != 64 {
		t.Fatalf("iphone thumb %dx%d, want 43x64", th.Width, th.Height)
	}
	img, err := jpeg.Decode(bytes.NewReader(s.get(t, "out", r.Outputs[0].Key)))
	if err != nil {
		t.Fatal(err)
	}
	red := func(x, y int) bool {
		c, _, _, _ := img.At(x, y).RGBA()
		_, g, b, _ := img.At(x, y).RGBA()
		return c>>8 > 180 && g>>8 < 90 && b>>8 < 90
	}
	b := img.Bounds()
	if !red(b.Max.X-3, 2) || red(2, 2) || red(2, b.Max.Y-3) || red(b.Max.X-3, b.Max.Y-3) {
		t.Errorf("iphone thumb: red corner not (only) top right: %v", corners(img))
	}
}

func corners(img image.Image) [4][3]uint32 {
	b := img.Bounds()
	var out [4][3]uint32
	for i, p := range []image.Point{{2, 2}, {b.Max.X - 3, 2}, {2, b.Max.Y - 3}, {b.Max.X - 3, b.Max.Y - 3}} {
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		out[i] = [3]uint32{r >> 8, g >> 8, bl >> 8}
	}
	return out
}

// TestHEICFailures: a truncated HEIC is CorruptImage, one over the pixel
// budget TooManyPixels (from its header, before any decoder runs), and with
// HEIC off a HEIC is UnsupportedFormat naming the switch — each one item's
// failure, the others succeed.
func TestHEICFailures(t *testing.T) {
	needHEIC(t)
	src := heicTestdata(t, "iphone-p3-rot90-64x96.heic")
	s := newTestS3(t, "src", "out")
	s.put(t, "src", "good.heic", src)
	s.put(t, "src", "truncated.heic", src[:len(src)*2/3])
	s.put(t, "src", "grey.heic", heicTestdata(t, "grey-4096x4096.heic"))
	run := testRun(t)
	w := newTestWorker(s, Config{MaxPixels: 10_000_000})
	o := processAll(t, context.Background(), w, run, items("src", "good.heic", "truncated.heic", "grey.heic"))
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i, want := range []string{"", CodeCorrupt, CodeTooManyPix} {
		r := o.results[i]
		if want == "" && r.Status != imgbatch.StatusSucceeded || want != "" && r.ErrorCode != want {
			t.Errorf("item %d: %s %s %q, want %q", i, r.Status, r.ErrorCode, r.Message, want)
		}
	}
	if vips.Supported(sniff.HEIF) {
		return // libvips decodes HEIC here: the switch does not apply
	}
	w = newTestWorker(s, Config{HEIC: &heic.Decoder{Off: true}})
	o = processAll(t, context.Background(), w, run, items("src", "good.heic"))
	if r := o.results[0]; r.ErrorCode != CodeUnsupported || !strings.Contains(r.Message, "IMGBATCH_HEIC") {
		t.Errorf("HEIC off: %s %s %q, want UnsupportedFormat naming IMGBATCH_HEIC", r.Status, r.ErrorCode, r.Message)
	}
}

// TestHEICErrorClasses: every kind of helper failure maps to an item
// error class (a crash is one item's CorruptImage, never the worker's).
func TestHEICErrorClasses(t *testing.T) {
	info := sniff.Info{Format: sniff.HEIF, Width: 4032, Height: 3024}
	for k, want := range map[heic.Kind]string{
		heic.KindCorrupt: CodeCorrupt, heic.KindCrashed: CodeCorrupt, heic.KindTooManyPixels: CodeTooManyPix,
		heic.KindMemory: CodeTooManyPix, heic.KindUnsupported: CodeUnsupported, heic.KindTimeout: CodeTimeout,
		heic.KindInternal: CodeInternal,
	} {
		err := renderErr(info, &heic.Error{Kind: k, Msg: "x"})
		ie, ok := err.(*ItemError)
		if !ok || ie.Code != want || !strings.Contains(ie.Msg, "4032x3024") {
			t.Errorf("%s: %v, want %s", k, err, want)
		}
	}
}

func TestHEICShrink(t *testing.T) {
	v := func(w, h int, fit string) imgbatch.Variant { return imgbatch.Variant{Width: w, Height: h, Fit: fit} }
	for _, c := range []struct {
		w, h int
		vs   []imgbatch.Variant
		want int
	}{
		{4032, 3024, []imgbatch.Variant{v(256, 256, imgbatch.FitInside)}, 7},                                    // 576x432 ≥ 2 × 256x192
		{4032, 3024, []imgbatch.Variant{v(256, 256, imgbatch.FitInside), v(1280, 1280, imgbatch.FitInside)}, 1}, // 1280 needs 2560 wide
		{8064, 6048, []imgbatch.Variant{v(1280, 1280, imgbatch.FitInside)}, 3},
		{4032, 3024, []imgbatch.Variant{v(256, 256, imgbatch.FitCover)}, 5},    // cover: 341x256 → ≥ 2× of 3024/256
		{4032, 3024, []imgbatch.Variant{v(0, 100, imgbatch.FitInside)}, 15},    // height only
		{4032, 3024, []imgbatch.Variant{v(100, 0, imgbatch.FitInside)}, 20},    // width only
		{4032, 3024, []imgbatch.Variant{v(8000, 8000, imgbatch.FitInside)}, 1}, // upscaling
		{4032, 3024, []imgbatch.Variant{{Width: 256, Height: 256, Fit: imgbatch.FitInside, ShrinkOnLoad: imgbatch.ShrinkOff}}, 1},
		{0, 0, []imgbatch.Variant{v(256, 256, imgbatch.FitInside)}, 1},
	} {
		if got := heicShrink(c.w, c.h, c.vs); got != c.want {
			t.Errorf("heicShrink(%dx%d, %+v) = %d, want %d", c.w, c.h, c.vs, got, c.want)
		}
	}
}
