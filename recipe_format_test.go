package imgbatch

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// normalized is the one variant of a recipe after Normalize.
func normalized(t *testing.T, v Variant) (Variant, error) {
	t.Helper()
	r := Recipe{Name: "r", Variants: []Variant{v}}
	err := r.Normalize()
	return r.Variants[0], err
}

func TestFormatAutoDefaults(t *testing.T) {
	v, err := normalized(t, Variant{Name: "web", Width: 1280, Format: FormatAuto})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Formats, DefaultFormats) || v.Quality != 0 ||
		v.Target == nil || v.Target.SSIM != DefaultSSIM || v.Target.MinQuality != DefaultMinQuality || v.Target.MaxQuality != DefaultMaxQuality {
		t.Errorf("auto = %+v (target %+v); want the default candidates and target", v, v.Target)
	}
	// A q given: every candidate at that q, no target.
	v, err = normalized(t, Variant{Name: "web", Width: 1280, Format: FormatAuto, Formats: []string{"webp", "jpg"}, Quality: 70})
	if err != nil || v.Target != nil || v.Quality != 70 || !reflect.DeepEqual(v.Formats, []string{"webp", "jpeg"}) {
		t.Errorf("auto q70 = %+v, %v", v, err)
	}
}

func TestFormatAutoOfOneIsThatFormat(t *testing.T) {
	one, err := normalized(t, Variant{Name: "w", Width: 100, Format: FormatAuto, Formats: []string{"webp"}, Target: &QualityTarget{SSIM: 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := normalized(t, Variant{Name: "w", Width: 100, Format: FormatWebP, Target: &QualityTarget{SSIM: 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, fixed) {
		t.Errorf("auto [webp] = %+v; want %+v", one, fixed)
	}
	r1, r2 := Recipe{Variants: []Variant{one}}, Recipe{Variants: []Variant{fixed}}
	if r1.Hash() != r2.Hash() {
		t.Error("auto [webp] and webp hash apart")
	}
	png, err := normalized(t, Variant{Name: "w", Width: 100, Format: FormatAuto, Formats: []string{"png"}})
	if err != nil || png.Format != FormatPNG || png.Target != nil || png.Quality != 0 {
		t.Errorf("auto [png] = %+v, %v; want png, no target", png, err)
	}
	// GIF is a candidate when listed (for animations, beside WebP); alone
	// it is the fixed GIF variant, which has no q to search.
	both, err := normalized(t, Variant{Name: "w", Width: 100, Format: FormatAuto, Formats: []string{"webp", "gif"}})
	if err != nil || both.Format != FormatAuto || !slices.Equal(both.Formats, []string{"webp", "gif"}) || both.Target == nil {
		t.Errorf("auto [webp gif] = %+v, %v; want both candidates under the default target", both, err)
	}
	gif, err := normalized(t, Variant{Name: "w", Width: 100, Format: FormatAuto, Formats: []string{"gif"}})
	if err != nil || gif.Format != FormatGIF || gif.Target != nil || gif.Quality != 0 {
		t.Errorf("auto [gif] = %+v, %v; want gif, no target", gif, err)
	}
}

func TestFormatAutoRefusals(t *testing.T) {
	for why, v := range map[string]Variant{
		"cannot be a candidate":   {Format: FormatAuto, Formats: []string{"webp", "tiff"}},
		`"bmp" cannot be`:         {Format: FormatAuto, Formats: []string{"bmp"}},
		"listed twice":            {Format: FormatAuto, Formats: []string{"webp", "jpeg", "jpg"}},
		"candidates for format":   {Format: FormatWebP, Formats: []string{"webp", "jpeg"}},
		"over webp's limit":       {Format: FormatAuto, Formats: []string{"avif", "webp"}, Width: 20000},
		"auto: nothing in a list": {Format: "auto|x"},
	} {
		v.Name = "v"
		if v.Width == 0 {
			v.Width = 100
		}
		_, err := normalized(t, v)
		want := why
		if strings.HasPrefix(why, "auto: ") {
			want = "is not one of"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err = %v; want %q", v, err, want)
		}
	}
}

func TestParseFormatShorthands(t *testing.T) {
	want := Variant{Name: "web", Width: 1280, Format: FormatAuto, Formats: []string{"avif", "webp", "jpeg"}, Target: &QualityTarget{SSIM: 0.985}}
	for name, doc := range map[string]string{
		"yaml list":   "name: r\nvariants:\n  - name: web\n    width: 1280\n    format: [avif, webp, jpeg]\n    quality: {ssim: 0.985}\n",
		"json list":   `{"name":"r","variants":[{"name":"web","width":1280,"format":["avif","webp","jpeg"],"quality":{"ssim":0.985}}]}`,
		"json fields": `{"name":"r","variants":[{"name":"web","width":1280,"format":"auto","formats":["avif","webp","jpeg"],"target":{"ssim":0.985}}]}`,
	} {
		r, err := ParseRecipe([]byte(doc))
		if err != nil || !reflect.DeepEqual(r.Variants[0], want) {
			t.Errorf("%s: %+v, %v; want %+v", name, r.Variants, err, want)
		}
	}
	for doc, why := range map[string]string{
		"name: r\nvariants:\n  - name: a\n    width: 1\n    format: [webp, 3]\n":                             "not a format name",
		"name: r\nvariants:\n  - name: a\n    width: 1\n    format: [webp]\n    formats: [jpeg]\n":           "not both",
		"name: r\nvariants:\n  - name: a\n    width: 1\n    quality: {ssim: 0.9}\n    target: {ssim: 0.9}\n": "not both",
		"name: r\nvariants:\n  - name: a\n    width: 1\n    quality: {psnr: 40}\n":                           "psnr",
	} {
		if _, err := ParseRecipe([]byte(doc)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: err = %v; want %q", doc, err, why)
		}
	}
}

func TestParseVariantAuto(t *testing.T) {
	for spec, want := range map[string]Variant{
		"web:1280x:auto":                  {Name: "web", Width: 1280, Format: FormatAuto},
		"web:1280x:avif|webp|jpeg":        {Name: "web", Width: 1280, Format: FormatAuto, Formats: []string{"avif", "webp", "jpeg"}},
		"web:1280x:auto:ssim=0.99":        {Name: "web", Width: 1280, Format: FormatAuto, Target: &QualityTarget{SSIM: 0.99}},
		"web:1280x:jpeg:ssim=0.98:inside": {Name: "web", Width: 1280, Format: FormatJPEG, Target: &QualityTarget{SSIM: 0.98}, Fit: "inside"},
	} {
		got, err := ParseVariant(spec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseVariant(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	if _, err := ParseVariant("web:1280x:auto:ssim=high"); err == nil || !strings.Contains(err.Error(), `ssim "high" is not a number`) {
		t.Errorf("ssim=high: %v", err)
	}
	r, err := BuildRecipe("", nil, []string{"web:1280x:auto"})
	if err != nil || r.Variants[0].Target == nil || len(r.Variants[0].Formats) != 3 {
		t.Errorf("--variant web:1280x:auto = %+v, %v", r.Variants, err)
	}
}
