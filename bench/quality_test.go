package bench

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/vips"
)

// testRGB is a w x h picture with gradients and texture.
func testRGB(w, h int) RGB {
	pix := make([]byte, 3*w*h)
	for y := range h {
		for x := range w {
			i := 3 * (y*w + x)
			pix[i] = uint8(x * 255 / w)
			pix[i+1] = uint8(y * 255 / h)
			pix[i+2] = uint8((x*x + 7*y) % 256)
		}
	}
	return NewRGB(w, h, pix)
}

// noisy adds uniform noise of ±amp to every sample (deterministic).
func noisy(a RGB, amp int) RGB {
	r := rand.New(rand.NewPCG(1, 2))
	pix := slices.Clone(a.pix)
	for i, p := range pix {
		v := int(p) + r.IntN(2*amp+1) - amp
		pix[i] = uint8(max(0, min(255, v)))
	}
	return NewRGB(a.w, a.h, pix)
}

func TestPSNRAndSSIM(t *testing.T) {
	a := testRGB(64, 48)
	if p := PSNR(a, a); !math.IsInf(p, 1) {
		t.Errorf("PSNR of an image with itself = %v, want +Inf", p)
	}
	if s := SSIM(a, a); math.Abs(s-1) > 1e-9 {
		t.Errorf("SSIM of an image with itself = %v, want 1", s)
	}
	light, heavy := noisy(a, 4), noisy(a, 40)
	pl, ph := PSNR(a, light), PSNR(a, heavy)
	sl, sh := SSIM(a, light), SSIM(a, heavy)
	// ±4 uniform: MSE ≈ (9²-1)/12 ≈ 6.7 → ≈ 39.9 dB; ±40: MSE ≈ 547 → ≈ 20.8 dB (less with clipping).
	if pl < 38 || pl > 42 || ph < 18 || ph > 23 {
		t.Errorf("PSNR light %.2f dB (want ≈ 40), heavy %.2f dB (want ≈ 21)", pl, ph)
	}
	if !(sl < 1 && sl > 0.9 && sh < sl && sh > 0.05 && sh < 0.7) {
		t.Errorf("SSIM light %.4f, heavy %.4f: want 0.9 < light < 1 and heavy well below", sl, sh)
	}
	// A shift of the mean leaves structure alone: SSIM stays high, PSNR drops.
	shifted := NewRGB(a.w, a.h, slices.Clone(a.pix))
	for i := range shifted.pix {
		shifted.pix[i] = uint8(min(255, int(shifted.pix[i])+10))
	}
	if s := SSIM(a, shifted); s < 0.95 {
		t.Errorf("SSIM of a brightened copy %.4f, want ≥ 0.95", s)
	}
	if !math.IsNaN(PSNR(a, testRGB(32, 48))) || !math.IsNaN(SSIM(a, testRGB(32, 48))) {
		t.Error("sizes differ: want NaN")
	}
	tiny := testRGB(8, 6) // smaller than one window
	if s := SSIM(tiny, tiny); math.Abs(s-1) > 1e-9 {
		t.Errorf("tiny SSIM %v", s)
	}
	if s := SSIM(tiny, noisy(tiny, 40)); s >= 1 || s <= 0 {
		t.Errorf("tiny noisy SSIM %v", s)
	}
}

// TestReference: the reference of a JPEG has exactly the asked size, is
// close to the source downscaled, and a blurred, low-quality version of
// the same size scores lower against it than a good one.
func TestReference(t *testing.T) {
	vips.Start(vips.Config{Log: slog.New(slog.DiscardHandler)})
	src := photo(t, 900, 600, false)
	for _, wh := range [][2]int{{512, 341}, {512, 342}, {300, 200}, {900, 600}} {
		ref, err := Reference(src, wh[0], wh[1])
		if err != nil {
			t.Fatalf("%v: %v", wh, err)
		}
		if ref.w != wh[0] || ref.h != wh[1] || len(ref.pix) != 3*wh[0]*wh[1] {
			t.Errorf("reference %dx%d (%d bytes), want %v", ref.w, ref.h, len(ref.pix), wh)
		}
	}
	ref, err := Reference(src, 300, 200)
	if err != nil {
		t.Fatal(err)
	}
	// imgbatch's render of the same source at 300 px, decoded back.
	rs, err := vips.Render(src, "jpeg", []imgbatch.Variant{{Name: "t", Width: 300, Height: 300, Fit: imgbatch.FitInside, Format: imgbatch.FormatJPEG, Quality: 90}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jpg")
	testutil.WriteFile(t, good, rs[0].Data)
	out, err := decodeRGB(good)
	if err != nil {
		t.Fatal(err)
	}
	pg, sg := PSNR(out, ref), SSIM(out, ref)
	if pg < 28 || sg < 0.9 {
		t.Errorf("imgbatch's q90 render against the reference: PSNR %.2f dB, SSIM %.4f; want ≥ 28 dB, ≥ 0.9", pg, sg)
	}
	// The same render at 1/4 size blown back up, saved at q20: worse.
	small := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for y := range 200 {
		for x := range 300 {
			i := 3 * ((y/4*4)*300 + x/4*4)
			small.Set(x, y, color.RGBA{out.pix[i], out.pix[i+1], out.pix[i+2], 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: 20}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.jpg")
	testutil.WriteFile(t, bad, buf.Bytes())
	worse, err := decodeRGB(bad)
	if err != nil {
		t.Fatal(err)
	}
	pb, sb := PSNR(worse, ref), SSIM(worse, ref)
	if pb >= pg-3 || sb >= sg-0.05 || pb < 10 {
		t.Errorf("degraded: PSNR %.2f dB, SSIM %.4f; good: %.2f dB, %.4f — want the degraded clearly lower (and plausible)", pb, sb, pg, sg)
	}
	t.Logf("good %.2f dB / %.4f, degraded %.2f dB / %.4f", pg, sg, pb, sb)
}

// TestSharpBestSetting: of the two sharp settings, the faster one is
// "sharp" for the ratios, at each pool size, and the report says which
// won with both figures.
func TestSharpBestSetting(t *testing.T) {
	res := func(c Case, imgps, cpu float64) Result {
		return Result{Case: c, Label: c.Label(), Images: 100, Succeeded: 100, ImgPerSec: imgps, MPPerSec: 12 * imgps, Seconds: 100 / imgps, CPUSeconds: cpu, CPUMsPerImage: 10 * cpu}
	}
	rep := &Report{Results: []Result{
		res(Case{Impl: ImplProcess, Pool: 2}, 60, 3.0),
		res(Case{Impl: ImplSharp, Pool: 2, Sharp: SharpConc1}, 55, 3.3),
		res(Case{Impl: ImplSharp, Pool: 2, Sharp: SharpDefault}, 50, 3.6),
		res(Case{Impl: ImplProcess, Pool: 1}, 30, 3.0),
		res(Case{Impl: ImplSharp, Pool: 1, Sharp: SharpConc1}, 24, 3.4),
		res(Case{Impl: ImplSharp, Pool: 1, Sharp: SharpDefault}, 25, 3.5),
		res(Case{Impl: ImplProcess, Pool: 2, Recipe: RecipeDefault}, 30, 6.0),
		res(Case{Impl: ImplSharp, Pool: 2, Recipe: RecipeDefault, Sharp: SharpConc1}, 20, 7.0),
	}}
	rep.computeRatios()
	var best []string
	for _, r := range rep.Results {
		if r.SharpBest {
			best = append(best, r.Key())
		}
	}
	if want := []string{"sharp(c1)@2", "sharp(default)@1", "default: sharp(c1)@2"}; !slices.Equal(best, want) {
		t.Errorf("best sharp %v, want %v", best, want)
	}
	if r := rep.Results[0]; math.Abs(r.VsSharp-60.0/55) > 1e-9 || math.Abs(r.VsSharpCPU-3.3/3.0) > 1e-9 {
		t.Errorf("process@2 vs sharp %.4f / %.4f, want %.4f / %.4f (against concurrency(1))", r.VsSharp, r.VsSharpCPU, 60.0/55, 3.3/3.0)
	}
	if r := rep.Results[3]; math.Abs(r.VsSharp-30.0/25) > 1e-9 {
		t.Errorf("process@1 vs sharp %.4f, want %.4f (against the default setting)", r.VsSharp, 30.0/25)
	}
	if r := rep.Results[6]; math.Abs(r.VsSharp-30.0/20) > 1e-9 {
		t.Errorf("default recipe vs sharp %.4f: must compare within the recipe", r.VsSharp)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"sharp's best setting (pool 2): concurrency(1) won — concurrency(1) (libvips threads 0) 55.0 img/s, 33.0 CPU ms/img vs default concurrency (libvips threads 0) 50.0 img/s, 36.0 CPU ms/img",
		"sharp's best setting (pool 1): default concurrency won",
		"sharp's best setting (recipe default, pool 2): concurrency(1) won",
		"| **sharp(c1)** (best sharp) | 2 |",
		"| sharp(default) | 2 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestParseRecipe(t *testing.T) {
	r, err := ParseRecipe(RecipeDefault, StandardVariant)
	if err != nil || r.Name != RecipeDefault || len(r.Variants) != 2 || r.Variants[0].Width != 256 || r.Variants[1].Width != 1280 {
		t.Errorf("default: %+v %v", r, err)
	}
	r, err = ParseRecipe(RecipeSingle, imgbatch.Variant{})
	if err != nil || len(r.Variants) != 1 || !reflect.DeepEqual(r.Variants[0], StandardVariant) {
		t.Errorf("single: %+v %v", r, err)
	}
	p := filepath.Join(t.TempDir(), "webby.json")
	testutil.WriteFile(t, p, []byte(`{"variants":[{"name":"w","width":800,"format":"webp","quality":70}]}`))
	r, err = ParseRecipe(p, StandardVariant)
	if err != nil || r.Name != "webby" || r.Variants[0].Fit != imgbatch.FitInside {
		t.Errorf("file: %+v %v", r, err)
	}
	// The shorthands imgbatch work accepts (a quality target as quality, a
	// format list), in YAML too.
	y := filepath.Join(t.TempDir(), "auto.yaml")
	testutil.WriteFile(t, y, []byte("variants:\n  - {name: w, width: 1280, format: [webp, jpeg], quality: {ssim: 0.97}, keepSmallerSource: true}\n"))
	r, err = ParseRecipe(y, StandardVariant)
	if err != nil || r.Name != "auto" || r.Variants[0].Target == nil || r.Variants[0].Target.SSIM != 0.97 ||
		!slices.Equal(r.Variants[0].Formats, []string{"webp", "jpeg"}) || !r.Variants[0].KeepSmallerSource {
		t.Errorf("yaml with shorthands: %+v %v", r, err)
	}
	testutil.WriteFile(t, p, []byte(`{"variants":[{"name":"w","width":800,"format":"bmp"}]}`))
	if _, err := ParseRecipe(p, StandardVariant); err == nil {
		t.Error("a bmp variant was accepted")
	}
	if _, err := ParseRecipe("no-such-recipe", StandardVariant); err == nil || !strings.Contains(err.Error(), "neither single, default") {
		t.Errorf("unknown recipe: %v", err)
	}
}

func TestQualitySample(t *testing.T) {
	var fs []File
	for i := range 10 {
		fs = append(fs, File{Rel: string(rune('a' + i))})
	}
	got := qualitySample(fs, 4)
	var rels []string
	for _, f := range got {
		rels = append(rels, f.Rel)
	}
	if !slices.Equal(rels, []string{"a", "c", "f", "h"}) {
		t.Errorf("sample %v", rels)
	}
	if len(qualitySample(fs, 30)) != 10 {
		t.Error("a sample larger than the set is the set")
	}
}

// TestRecipeAndQuality runs the default recipe and the single variant in
// process and pipeline mode and with vipsthumbnail on the tiny dataset,
// with the quality pass: every case makes every variant of every good
// image, each variant's outputs are compared with their references, and
// the quality columns reach the table, the CSVs and the JSON.
func TestRecipeAndQuality(t *testing.T) {
	o := selfOptions(t)
	needVipsthumbnail(t, o)
	o.Dataset = tinyDataset(t)
	o.Modes = []string{ImplProcess, ImplPipeline}
	o.Compare = []string{ImplVipsthumbnail}
	o.Pools = []int{2}
	o.Quality = 3
	for _, name := range []string{RecipeSingle, RecipeDefault} {
		r, err := ParseRecipe(name, StandardVariant)
		if err != nil {
			t.Fatal(err)
		}
		o.Recipes = append(o.Recipes, r)
	}
	o.ResultsDir = t.TempDir()
	o.Name = "recipes"
	// Also catch output made by the quality pass: the work dir is removed.
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rep.Results {
		keys = append(keys, r.Key())
		wantOK := 5
		if r.Succeeded != wantOK || r.Error != "" {
			t.Errorf("%s: %d ok (want %d), error %q, errors %v", r.Key(), r.Succeeded, wantOK, r.Error, r.Errors)
		}
		if r.QualityN == 0 || r.PSNRMean < 25 || r.SSIMMean < 0.8 || r.SSIMWorst > r.SSIMMean || r.PSNRWorst > r.PSNRMean {
			t.Errorf("%s: quality n %d, PSNR %.2f (worst %.2f), SSIM %.4f (worst %.4f)", r.Key(), r.QualityN, r.PSNRMean, r.PSNRWorst, r.SSIMMean, r.SSIMWorst)
		}
	}
	want := []string{"process@2", "pipeline@2", "vipsthumbnail@2", "default: process@2", "default: pipeline@2", "default: vipsthumbnail@2"}
	if !slices.Equal(keys, want) {
		t.Errorf("cases %v, want %v", keys, want)
	}
	// The default recipe makes more bytes per image than the 512 px variant alone.
	if rep.Results[3].BytesOut <= rep.Results[0].BytesOut {
		t.Errorf("default recipe wrote %d bytes, single %d", rep.Results[3].BytesOut, rep.Results[0].BytesOut)
	}
	var rows []string
	for _, q := range rep.Quality {
		rows = append(rows, q.Label+"/"+q.Variant)
		if q.Error != "" || q.N != 3 || q.Missing != 0 || q.MeanBytes <= 0 || q.PSNRMean < 25 || q.SSIMMean < 0.8 {
			t.Errorf("quality %s %s: %+v", q.Label, q.Variant, q)
		}
	}
	wantRows := []string{"process/bench", "pipeline/bench", "vipsthumbnail/bench",
		"default: process/thumb", "default: process/web", "default: pipeline/thumb", "default: pipeline/web", "default: vipsthumbnail/thumb", "default: vipsthumbnail/web"}
	if !slices.Equal(rows, wantRows) {
		t.Errorf("quality rows %v, want %v", rows, wantRows)
	}
	// process and pipeline run the same render: the same pixels.
	if rep.Quality[0].PSNRMean != rep.Quality[1].PSNRMean || rep.Quality[3].SSIMMean != rep.Quality[5].SSIMMean {
		t.Errorf("process and pipeline outputs differ: %+v vs %+v", rep.Quality[0], rep.Quality[1])
	}

	dir := filepath.Join(o.ResultsDir, "recipes")
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"| case | pool | img/s | CPU ms/img | img/CPU-s |", "PSNR dB mean (worst)", "\n| default: process | 2 | ",
		"- recipe default: thumb: fit inside 256x256 jpeg q80; web: fit inside 1280x1280 jpeg q82", "| default: pipeline | web | 3 |", "Output quality against the reference"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("results.md lacks %q", w)
		}
	}
	qrows := testutil.ReadCSV(t, filepath.Join(dir, "quality.csv"))
	if len(qrows) != 1+len(wantRows) || !slices.Contains(qrows[0], "ssim_worst") || !slices.Contains(qrows[0], "mean_bytes") {
		t.Errorf("quality.csv: %d rows, header %v", len(qrows), qrows[0])
	}
	// References are cached per source and size.
	refs, _ := filepath.Glob(filepath.Join(o.CacheDir, "quality-refs", "*", "*.rgb"))
	// a.jpg, b.jpg at 3 sizes each; e.jpg (300x200) is not enlarged, so bench and web are both 300x200.
	if len(refs) != 8 {
		t.Errorf("%d cached references, want 8 (3 images x 3 sizes, one size shared): %v", len(refs), refs)
	}
}
