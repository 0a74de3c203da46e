package vips

import (
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/sniff"
)

// searchPhotos are n real photos (2560x1600 JPEG wallpapers of Debian's
// plasma-workspace-wallpapers), from IMGBATCH_WALLPAPERS, /tmp/wp/x or the
// repository's .cache (make bench; make demo-data, which make test runs).
func searchPhotos(t testing.TB, n int) [][]byte {
	t.Helper()
	var names []string
	for _, dir := range []string{wallpaperDir(), "../.cache/wallpapers/usr/share/wallpapers", "../.cache/bench/wallpapers/usr/share/wallpapers"} {
		names, _ = filepath.Glob(filepath.Join(dir, "*", "contents", "images", "2560x1600.jpg"))
		if len(names) >= n {
			break
		}
	}
	if len(names) < n {
		names, _ = filepath.Glob("../.cache/demo/photos/*/images-2560x1600.jpg")
	}
	var err error
	if len(names) < n {
		err = errors.New("no 2560x1600 wallpapers: set IMGBATCH_WALLPAPERS or run make demo-data")
	}
	testutil.Need(t, "real photos", err)
	sort.Strings(names)
	out := make([][]byte, n)
	for i := range out {
		// Spread over the set: dark, busy and smooth pictures.
		b, err := os.ReadFile(names[i*len(names)/n])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// target is a normalized quality target.
func target(ssim float64) *imgbatch.QualityTarget {
	return &imgbatch.QualityTarget{SSIM: ssim, MinQuality: imgbatch.DefaultMinQuality, MaxQuality: imgbatch.DefaultMaxQuality}
}

// planes are an image's luma over white and alpha (nil if opaque), as
// float64, decoded by govips: the test's own path to the pixels.
type planes struct {
	w, h int
	y, a []float64
}

func planesOf(t *testing.T, data []byte) planes {
	t.Helper()
	img, err := govips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	defer img.Close()
	pix, err := img.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	p := planes{w: img.Width(), h: img.Height()}
	bands := img.Bands()
	for i := 0; i < p.w*p.h; i++ {
		s := pix[i*bands : (i+1)*bands]
		y := float64(s[0])
		if bands >= 3 {
			y = 0.299*float64(s[0]) + 0.587*float64(s[1]) + 0.114*float64(s[2])
		}
		if bands == 2 || bands == 4 {
			a := float64(s[bands-1])
			y = (y*a + 255*(255-a)) / 255
			p.a = append(p.a, a)
		}
		p.y = append(p.y, y)
	}
	return p
}

// ssimOf is SSIM as Wang et al. define it (11x11 gaussian, σ 1.5, valid
// windows; one uniform window for an image smaller than that), written
// apart from search.c: direct 2-D windows in float64.
func ssimOf(x, y []float64, w, h int) float64 {
	const c1, c2 = 6.5025, 58.5225
	one := func(mx, my, sxx, syy, sxy float64) float64 {
		return ((2*mx*my + c1) * (2*(sxy-mx*my) + c2)) / ((mx*mx + my*my + c1) * (sxx - mx*mx + syy - my*my + c2))
	}
	if w < 11 || h < 11 {
		var mx, my, sxx, syy, sxy float64
		n := float64(len(x))
		for i := range x {
			mx, my = mx+x[i]/n, my+y[i]/n
			sxx, syy, sxy = sxx+x[i]*x[i]/n, syy+y[i]*y[i]/n, sxy+x[i]*y[i]/n
		}
		return one(mx, my, sxx, syy, sxy)
	}
	var k [11][11]float64
	var ks float64
	for i := range 11 {
		for j := range 11 {
			k[i][j] = math.Exp(-float64((i-5)*(i-5)+(j-5)*(j-5)) / (2 * 1.5 * 1.5))
			ks += k[i][j]
		}
	}
	var total float64
	for r := 0; r+11 <= h; r++ {
		for c := 0; c+11 <= w; c++ {
			var mx, my, sxx, syy, sxy float64
			for i := range 11 {
				o := (r+i)*w + c
				for j := range 11 {
					kk := k[i][j] / ks
					xv, yv := x[o+j], y[o+j]
					mx, my = mx+kk*xv, my+kk*yv
					sxx, syy, sxy = sxx+kk*xv*xv, syy+kk*yv*yv, sxy+kk*xv*yv
				}
			}
			total += one(mx, my, sxx, syy, sxy)
		}
	}
	return total / float64((w-10)*(h-10))
}

// measure is the SSIM of out against ref (both encoded), the lesser of
// luma's and alpha's.
func measure(t *testing.T, out, ref []byte) float64 {
	t.Helper()
	a, b := planesOf(t, ref), planesOf(t, out)
	if a.w != b.w || a.h != b.h {
		t.Fatalf("output %dx%d, reference %dx%d", b.w, b.h, a.w, a.h)
	}
	s := ssimOf(a.y, b.y, a.w, a.h)
	if a.a != nil || b.a != nil {
		opaque := make([]float64, a.w*a.h)
		for i := range opaque {
			opaque[i] = 255
		}
		aa, ba := a.a, b.a
		if aa == nil {
			aa = opaque
		}
		if ba == nil {
			ba = opaque
		}
		s = min(s, ssimOf(aa, ba, a.w, a.h))
	}
	return s
}

// reference is the variant rendered losslessly (PNG): the image the
// search compared its outputs with.
func reference(t *testing.T, src []byte, v imgbatch.Variant) []byte {
	t.Helper()
	v.Format, v.Formats, v.Target, v.Quality = imgbatch.FormatPNG, nil, nil, 0
	return renderOne(t, src, v).Data
}

// atQ renders v as format at a fixed q.
func atQ(t *testing.T, src []byte, v imgbatch.Variant, format string, q int) []byte {
	t.Helper()
	v.Format, v.Formats, v.Target, v.Quality = format, nil, nil, q
	return renderOne(t, src, v).Data
}

// TestSearchMeetsTarget: for each lossy format, on real photos, the
// output meets the target as this test measures it, the score Render
// reports is that measure, and one q less (two for AVIF, whose search
// stops a step short of exact) misses the target: the q is the smallest
// within the search's tolerance.
func TestSearchMeetsTarget(t *testing.T) {
	testutil.Long(t, "short mode: searches q on real photos")
	const ssim = 0.965
	srcs := searchPhotos(t, 3)
	for _, format := range []string{imgbatch.FormatJPEG, imgbatch.FormatWebP, imgbatch.FormatAVIF} {
		for i, src := range srcs {
			v := imgbatch.Variant{Name: "t", Width: 480, Height: 480, Fit: imgbatch.FitInside, Format: format, Target: target(ssim)}
			before := searchProbesMade()
			r := renderOne(t, src, v)
			probes := searchProbesMade() - before
			ref := reference(t, src, v)
			got := measure(t, r.Data, ref)
			t.Logf("%s photo %d: q%d, %d bytes, score %.4f, measured %.4f, %d probes", format, i, r.Quality, len(r.Data), r.Score, got, probes)
			decode(t, r, format)
			if r.Format != format || r.Quality < v.Target.MinQuality || r.Quality > v.Target.MaxQuality {
				t.Errorf("%s photo %d: %s q%d; want %s within %d..%d", format, i, r.Format, r.Quality, format, v.Target.MinQuality, v.Target.MaxQuality)
			}
			if math.Abs(got-r.Score) > 1e-3 || got < ssim-1e-3 {
				t.Errorf("%s photo %d: score %.5f, measured %.5f; want them equal and >= %.3f", format, i, r.Score, got, ssim)
			}
			if probes < 1 || probes > searchProbes {
				t.Errorf("%s photo %d: %d probes; want 1..%d", format, i, probes, searchProbes)
			}
			tol := 1
			if format == imgbatch.FormatAVIF {
				tol = 2
			}
			if q := r.Quality - tol; q >= v.Target.MinQuality {
				if below := measure(t, atQ(t, src, v, format, q), ref); below >= ssim {
					t.Errorf("%s photo %d: q%d already scores %.4f >= %.3f: q%d is not the smallest", format, i, q, below, ssim, r.Quality)
				}
			}
		}
	}
}

// TestAutoPicksSmallest: auto's output is the smallest of its candidates
// searched one by one (within a q step: the searches start apart), meets
// the target, and costs at most max probes per format.
func TestAutoPicksSmallest(t *testing.T) {
	testutil.Long(t, "short mode: searches three formats on real photos")
	const ssim = 0.965
	for i, src := range searchPhotos(t, 2) {
		v := imgbatch.Variant{Name: "a", Width: 480, Height: 480, Fit: imgbatch.FitInside, Format: imgbatch.FormatAuto,
			Formats: []string{imgbatch.FormatAVIF, imgbatch.FormatWebP, imgbatch.FormatJPEG}, Target: target(ssim)}
		before := searchProbesMade()
		auto := renderOne(t, src, v)
		probes := searchProbesMade() - before
		if probes > 3*searchProbes {
			t.Errorf("photo %d: %d probes for 3 formats; want <= %d", i, probes, 3*searchProbes)
		}
		if auto.Score < ssim {
			t.Errorf("photo %d: auto scores %.4f < %.3f", i, auto.Score, ssim)
		}
		smallest := math.MaxInt
		for _, f := range v.Formats {
			one := v
			one.Format, one.Formats = f, nil
			r := renderOne(t, src, one)
			t.Logf("photo %d: %s alone q%d %d bytes (%.4f)", i, f, r.Quality, len(r.Data), r.Score)
			smallest = min(smallest, len(r.Data))
		}
		t.Logf("photo %d: auto %s q%d %d bytes (%.4f), %d probes", i, auto.Format, auto.Quality, len(auto.Data), auto.Score, probes)
		if float64(len(auto.Data)) > 1.05*float64(smallest) {
			t.Errorf("photo %d: auto wrote %d bytes of %s; a candidate alone made %d", i, len(auto.Data), auto.Format, smallest)
		}
	}
}

// alphaPhoto is a photo-like RGBA picture whose alpha falls from opaque
// at the top to clear at the bottom (opaque: 255 everywhere).
func alphaPhoto(w, h int, opaque bool) *image.NRGBA {
	p := testutil.Photo(w, h, 3)
	img := image.NewNRGBA(p.Bounds())
	for y := range h {
		for x := range w {
			c := p.RGBAAt(x, y)
			a := uint8(255)
			if !opaque {
				a = uint8(255 - y*255/h)
			}
			img.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
		}
	}
	return img
}

// TestAutoAlpha: JPEG cannot hold alpha, so an image with alpha skips it
// (and keeps its alpha, scored too); an alpha band that is opaque
// everywhere is dropped and JPEG competes.
func TestAutoAlpha(t *testing.T) {
	v := imgbatch.Variant{Name: "a", Width: 200, Height: 200, Fit: imgbatch.FitInside, Format: imgbatch.FormatAuto,
		Formats: []string{imgbatch.FormatJPEG, imgbatch.FormatWebP}, Target: target(0.95)}
	src := testutil.PNG(t, alphaPhoto(300, 200, false))
	r := renderOne(t, src, v)
	if r.Format != imgbatch.FormatWebP {
		t.Fatalf("alpha: auto wrote %s; want webp (jpeg has no alpha)", r.Format)
	}
	if out := decode(t, r, r.Format); !out.img.HasAlpha() {
		t.Error("alpha: the webp lost its alpha")
	}
	if got := measure(t, r.Data, reference(t, src, v)); got < 0.95-1e-3 || math.Abs(got-r.Score) > 1e-3 {
		t.Errorf("alpha: score %.4f, measured %.4f; want >= 0.95", r.Score, got)
	}

	// Opaque alpha, and a candidate list where JPEG is the cheap one.
	v.Formats = []string{imgbatch.FormatJPEG, imgbatch.FormatPNG}
	r = renderOne(t, testutil.PNG(t, alphaPhoto(300, 200, true)), v)
	if r.Format != imgbatch.FormatJPEG {
		t.Errorf("opaque alpha: auto wrote %s (%d bytes); want jpeg", r.Format, len(r.Data))
	}
}

// TestAutoWithoutTarget: candidates at one q, the smallest kept, no score
// (nothing was measured).
func TestAutoWithoutTarget(t *testing.T) {
	src := testutil.PhotoFile(t, 400, 300, false)
	v := imgbatch.Variant{Name: "a", Width: 200, Fit: imgbatch.FitInside, Format: imgbatch.FormatAuto,
		Formats: []string{imgbatch.FormatPNG, imgbatch.FormatJPEG}, Quality: 60}
	r := renderOne(t, src, v)
	jpg := atQ(t, src, v, imgbatch.FormatJPEG, 60)
	if r.Format != imgbatch.FormatJPEG || r.Quality != 60 || r.Score != 0 || len(r.Data) != len(jpg) {
		t.Errorf("auto png|jpeg q60 = %s q%d score %g, %d bytes; want the jpeg q60 (%d bytes), unscored", r.Format, r.Quality, r.Score, len(r.Data), len(jpg))
	}
	// A fixed q is not measured either.
	if r := renderOne(t, src, imgbatch.Variant{Name: "f", Width: 200, Format: imgbatch.FormatWebP, Quality: 70}); r.Score != 0 || r.Quality != 70 || r.Format != imgbatch.FormatWebP {
		t.Errorf("fixed webp q70 = %s q%d score %g", r.Format, r.Quality, r.Score)
	}
}

// TestSearchTinyAndAnimated: images smaller than an SSIM window (one
// uniform window) and an animated GIF of 10,000 1x1 frames (its first
// frame, asked for with animated false; an animated auto variant is
// TestAnimatedAutoSmallest's) search like any other.
func TestSearchTinyAndAnimated(t *testing.T) {
	off := false
	v := imgbatch.Variant{Name: "t", Width: 64, Height: 64, Fit: imgbatch.FitInside, Format: imgbatch.FormatAuto,
		Formats: []string{imgbatch.FormatAVIF, imgbatch.FormatWebP, imgbatch.FormatJPEG}, Target: target(0.9), Animated: &off}
	for name, src := range map[string][]byte{
		"1x1 png":          testutil.PNG(t, testutil.Photo(1, 1, 0)),
		"7x5 jpeg":         testutil.JPEG(t, testutil.Photo(7, 5, 0), 90),
		"10000-frame gif":  readCorpus(t, "gif-10000-frames-1x1.gif"),
		"64x40 photo jpeg": testutil.JPEG(t, testutil.Photo(64, 40, 1), 90),
	} {
		r := renderOne(t, src, v)
		if r.Score < 0.9 || r.Frames != 1 || len(r.Data) == 0 {
			t.Errorf("%s: %s q%d score %.4f frames %d, %d bytes; want a scored single frame", name, r.Format, r.Quality, r.Score, r.Frames, len(r.Data))
		}
		decode(t, r, r.Format)
		if got := measure(t, r.Data, reference(t, src, v)); math.Abs(got-r.Score) > 1e-3 {
			t.Errorf("%s: score %.4f, measured %.4f", name, r.Score, got)
		}
	}
}

// TestSearchUnreachable: a target no q in bounds reaches writes the
// closest output (the highest q) with its honest, lower score, after one
// probe (its first, at the bound, already fails).
func TestSearchUnreachable(t *testing.T) {
	src := testutil.JPEG(t, testutil.Photo(300, 200, 0), 95)
	v := imgbatch.Variant{Name: "u", Width: 200, Format: imgbatch.FormatJPEG,
		Target: &imgbatch.QualityTarget{SSIM: 0.9999, MinQuality: 20, MaxQuality: 40}}
	before := searchProbesMade()
	r := renderOne(t, src, v)
	if probes := searchProbesMade() - before; r.Quality != 40 || r.Score >= 0.9999 || r.Score <= 0.5 || probes != 1 {
		t.Errorf("unreachable: q%d score %.4f after %d probes; want q40, its score, 1 probe", r.Quality, r.Score, probes)
	}
}

// TestSearchErrors: a corrupt source under a target fails as any render
// does (a typed load error), and a target the recipe did not normalize
// is refused before libvips.
func TestSearchErrors(t *testing.T) {
	v := imgbatch.Variant{Name: "t", Width: 64, Format: imgbatch.FormatAuto, Formats: []string{imgbatch.FormatWebP, imgbatch.FormatJPEG}, Target: target(0.97)}
	bad := testutil.JPEG(t, testutil.Photo(300, 200, 0), 90)
	_, err := Render(bad[:len(bad)/2], sniff.JPEG, []imgbatch.Variant{v})
	var ve *Error
	if !errors.As(err, &ve) || ve.Kind != ErrLoad {
		t.Errorf("truncated source: %v; want a *vips.Error of kind ErrLoad", err)
	}
	huge := imgbatch.Variant{Name: "h", Width: 6000, Height: 4100, Fit: imgbatch.FitFill, Upscale: true, Format: imgbatch.FormatJPEG, Target: target(0.97)}
	if _, err := Render(bad, sniff.JPEG, []imgbatch.Variant{huge}); !errors.As(err, &ve) || ve.Kind != ErrEncode || !strings.Contains(err.Error(), "over the search's limit") {
		t.Errorf("a 6000x4100 output under a target: %v; want an ErrEncode naming the search's limit", err)
	}
	v.Target = &imgbatch.QualityTarget{SSIM: 1.5}
	if _, err := Render(bad, sniff.JPEG, []imgbatch.Variant{v}); err == nil || errors.As(err, &ve) {
		t.Errorf("ssim 1.5: %v; want a plain error", err)
	}
	v.Target, v.Formats = target(0.97), []string{imgbatch.FormatJPEG, "bmp"}
	if _, err := Render(bad, sniff.JPEG, []imgbatch.Variant{v}); err == nil {
		t.Error("candidate bmp: no error")
	}
}
