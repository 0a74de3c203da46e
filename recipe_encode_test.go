package imgbatch

import (
	"reflect"
	"strings"
	"testing"
)

func encEffort(n int) *int { return &n }

// encVariant is a variant of format with encoder options e, normalized.
func encVariant(format string, e *EncoderOptions) (Variant, error) {
	r := Recipe{Name: "r", Variants: []Variant{{Name: "v", Width: 640, Format: format, Encoder: e}}}
	err := r.Normalize()
	return r.Variants[0], err
}

// The hashes of recipes without encoder options, computed at 4f8f761
// (before the issue 16 fields): incremental runs depend on them staying.
func TestRecipeWithoutEncoderKeepsHash(t *testing.T) {
	def := DefaultRecipe
	def.Variants = append([]Variant(nil), def.Variants...)
	if err := def.Normalize(); err != nil {
		t.Fatal(err)
	}
	if h := def.Hash(); h != "2a87aef0bcf14041" {
		t.Errorf("DefaultRecipe hash %s, want 2a87aef0bcf14041 (as before encoder options)", h)
	}
	r := Recipe{Name: "x", Variants: []Variant{
		{Name: "a", Width: 100, Format: "webp"},
		{Name: "b", Width: 100, Format: "avif", Quality: 50},
		{Name: "c", Width: 64, Format: "png"},
	}}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if h := r.Hash(); h != "3d02d0a9faf18eb2" {
		t.Errorf("webp/avif/png recipe hash %s, want 3d02d0a9faf18eb2", h)
	}
	// Options that mean today's outputs normalize away: the same hash.
	for _, c := range []struct {
		format string
		e      EncoderOptions
	}{
		{FormatJPEG, EncoderOptions{}},
		{FormatJPEG, EncoderOptions{ICC: "srgb"}},
		{FormatJPEG, EncoderOptions{Subsample: "on"}}, // 4:2:0 is libvips' choice at q80
		{FormatAVIF, EncoderOptions{Subsample: "on"}},
		{FormatWebP, EncoderOptions{Effort: encEffort(4), Subsample: "on"}},
		{FormatAVIF, EncoderOptions{Effort: encEffort(2)}},
		{FormatPNG, EncoderOptions{Effort: encEffort(6), Lossless: true}},
	} {
		e := c.e
		v, err := encVariant(c.format, &e)
		if err != nil || v.Encoder != nil {
			t.Errorf("%s %+v: encoder %+v, err %v; want nil (today's outputs)", c.format, c.e, v.Encoder, err)
		}
	}
}

func TestEncoderOptionsChangeHash(t *testing.T) {
	hash := func(format string, e *EncoderOptions) string {
		r := Recipe{Name: "r", Variants: []Variant{{Name: "v", Width: 640, Format: format, Encoder: e}}}
		if err := r.Normalize(); err != nil {
			t.Fatalf("%s %+v: %v", format, e, err)
		}
		return r.Hash()
	}
	seen := map[string]string{}
	for _, c := range []struct {
		name, format string
		e            EncoderOptions
	}{
		{"jpeg", FormatJPEG, EncoderOptions{}},
		{"jpeg progressive", FormatJPEG, EncoderOptions{Progressive: true}},
		{"jpeg 4:4:4", FormatJPEG, EncoderOptions{Subsample: "off"}},
		{"jpeg trellis", FormatJPEG, EncoderOptions{Trellis: true}},
		{"jpeg table 3", FormatJPEG, EncoderOptions{QuantTable: 3}},
		{"jpeg keep", FormatJPEG, EncoderOptions{ICC: "keep"}},
		{"jpeg p3", FormatJPEG, EncoderOptions{ICC: "p3"}},
		{"webp", FormatWebP, EncoderOptions{}},
		{"webp lossless", FormatWebP, EncoderOptions{Lossless: true}},
		{"webp effort 6", FormatWebP, EncoderOptions{Effort: encEffort(6)}},
		{"webp effort 0", FormatWebP, EncoderOptions{Effort: encEffort(0)}},
		{"webp smart", FormatWebP, EncoderOptions{Subsample: "off"}},
		{"avif", FormatAVIF, EncoderOptions{}},
		{"avif effort 4", FormatAVIF, EncoderOptions{Effort: encEffort(4)}},
		{"avif lossless", FormatAVIF, EncoderOptions{Lossless: true}},
		{"avif 4:4:4", FormatAVIF, EncoderOptions{Subsample: "off"}},
		{"avif lossless effort 4", FormatAVIF, EncoderOptions{Lossless: true, Effort: encEffort(4)}},
		{"png", FormatPNG, EncoderOptions{}},
		{"png interlaced", FormatPNG, EncoderOptions{Progressive: true}},
		{"png level 9", FormatPNG, EncoderOptions{Effort: encEffort(9)}},
	} {
		e := c.e
		h := hash(c.format, &e)
		if other, dup := seen[h]; dup {
			t.Errorf("%s hashes as %s: %s", c.name, other, h)
		}
		seen[h] = c.name
	}
}

func TestEncoderOptionsRefused(t *testing.T) {
	for _, c := range []struct {
		format string
		e      EncoderOptions
		want   string
	}{
		{FormatWebP, EncoderOptions{Trellis: true}, "trellis is for jpeg, not webp"},
		{FormatPNG, EncoderOptions{QuantTable: 2}, "quantTable is for jpeg, not png"},
		{FormatJPEG, EncoderOptions{QuantTable: 9}, "quantTable 9 is outside 0..8"},
		{FormatJPEG, EncoderOptions{QuantTable: -1}, "quantTable -1 is outside 0..8"},
		{FormatJPEG, EncoderOptions{Lossless: true}, "lossless is for webp, avif, png, not jpeg"},
		{FormatJPEG, EncoderOptions{Effort: encEffort(3)}, "effort is for webp, avif, png, not jpeg"},
		{FormatAVIF, EncoderOptions{Progressive: true}, "progressive is for jpeg, png, not avif"},
		{FormatPNG, EncoderOptions{Subsample: "off"}, "subsample is for jpeg, webp, avif, not png"},
		{FormatJPEG, EncoderOptions{Subsample: "444"}, `subsample "444" is not one of on (4:2:0), off (4:4:4)`},
		{FormatJPEG, EncoderOptions{ICC: "adobe-rgb"}, `icc "adobe-rgb" is not one of srgb (the default), keep, p3`},
		{FormatWebP, EncoderOptions{Effort: encEffort(7)}, "effort 7 is outside webp's 0..6 (default 4)"},
		{FormatAVIF, EncoderOptions{Effort: encEffort(10)}, "effort 10 is outside avif's 0..9 (default 2)"},
		{FormatPNG, EncoderOptions{Effort: encEffort(-1)}, "effort -1 is outside png's 0..9 (default 6)"},
		{FormatAVIF, EncoderOptions{Lossless: true, Subsample: "on"}, "lossless keeps every pixel's colour: subsample does not apply"},
		{FormatGIF, EncoderOptions{ICC: "p3"}, "icc is for jpeg, png, webp, avif, not gif"},
	} {
		e := c.e
		_, err := encVariant(c.format, &e)
		if err == nil || !strings.HasPrefix(err.Error(), `variant "v": encoder: `) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: %v; want an error naming the variant and saying %q", c.format, c.e, err, c.want)
		}
	}
	r := Recipe{Name: "r", Variants: []Variant{{Name: "v", Width: 64, Format: FormatWebP,
		Target: &QualityTarget{SSIM: 0.98}, Encoder: &EncoderOptions{Lossless: true}}}}
	if err := r.Normalize(); err == nil || !strings.Contains(err.Error(), "lossless has no quality to search") {
		t.Errorf("lossless with a target: %v; want refused", err)
	}
}

// A FormatAuto variant takes an option that fits at least one candidate,
// and an effort only within every candidate's range.
func TestEncoderOptionsForAutoFormat(t *testing.T) {
	auto := func(formats []string, e EncoderOptions) (Variant, error) {
		r := Recipe{Name: "r", Variants: []Variant{{Name: "v", Width: 64, Format: FormatAuto, Formats: formats, Encoder: &e}}}
		err := r.Normalize()
		return r.Variants[0], err
	}
	if v, err := auto([]string{FormatWebP, FormatAVIF}, EncoderOptions{Lossless: true, Effort: encEffort(5)}); err != nil || v.Encoder == nil || !v.Encoder.Lossless {
		t.Errorf("webp+avif lossless effort 5: %+v, %v", v.Encoder, err)
	}
	if _, err := auto([]string{FormatWebP, FormatAVIF}, EncoderOptions{Effort: encEffort(8)}); err == nil || !strings.Contains(err.Error(), "outside webp's 0..6") {
		t.Errorf("webp+avif effort 8: %v; want webp's range named", err)
	}
	if _, err := auto([]string{FormatWebP, FormatAVIF}, EncoderOptions{Trellis: true}); err == nil || !strings.Contains(err.Error(), "trellis is for jpeg, not webp, avif") {
		t.Errorf("webp+avif trellis: %v; want refused", err)
	}
	if v, err := auto([]string{FormatJPEG, FormatWebP}, EncoderOptions{Trellis: true, Subsample: "on"}); err != nil || !v.Encoder.Trellis || v.Encoder.Subsample != "on" {
		t.Errorf("jpeg+webp trellis: %+v, %v", v.Encoder, err)
	}
}

func TestParseRecipeEncoder(t *testing.T) {
	want := EncoderOptions{Progressive: true, Subsample: "off", Trellis: true, QuantTable: 3, ICC: "p3"}
	for name, text := range map[string]string{
		"json": `{"name": "r", "variants": [{"name": "v", "width": 640, "format": "jpeg",
			"encoder": {"progressive": true, "subsample": "off", "trellis": true, "quantTable": 3, "icc": "p3"}}]}`,
		"yaml":       "name: r\nvariants:\n  - name: v\n    width: 640\n    format: jpeg\n    encoder: {progressive: true, subsample: \"off\", trellis: true, quantTable: 3, icc: p3}\n",
		"yaml block": "name: r\nvariants:\n  - name: v\n    width: 640\n    format: jpeg\n    encoder:\n      progressive: true\n      subsample: off\n      trellis: true\n      quantTable: 3\n      icc: p3\n",
	} {
		r, err := BuildRecipe(name, []byte(text), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := r.Variants[0].Encoder; got == nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: encoder %+v, want %+v", name, got, want)
		}
	}
	w, err := BuildRecipe("webp.yaml", []byte("name: r\nvariants:\n  - {name: v, width: 64, format: webp, encoder: {lossless: true, effort: 0}}\n"), nil)
	if err != nil || w.Variants[0].Encoder == nil || w.Variants[0].Encoder.Effort == nil || *w.Variants[0].Encoder.Effort != 0 {
		t.Errorf("webp effort 0: %+v, %v; want effort 0 kept (not the default 4)", w.Variants[0].Encoder, err)
	}
	if _, err := BuildRecipe("bad.yaml", []byte("name: r\nvariants:\n  - {name: v, width: 64, encoder: {progresive: true}}\n"), nil); err == nil || !strings.Contains(err.Error(), "progresive") {
		t.Errorf("misspelt option: %v; want the unknown field named", err)
	}
	if _, err := BuildRecipe("bad.yaml", []byte("name: r\nvariants:\n  - {name: v, width: 64, encoder: {effort: fast}}\n"), nil); err == nil || !strings.Contains(err.Error(), "effort") {
		t.Errorf("effort: fast: %v; want the field named", err)
	}
}

// Normalizing does not change the options it was given (a recipe built
// from another's may share them).
func TestNormalizeEncoderCopies(t *testing.T) {
	e := &EncoderOptions{ICC: "srgb", Effort: encEffort(4)}
	v, err := encVariant(FormatWebP, e)
	if err != nil || v.Encoder != nil {
		t.Fatalf("%+v, %v", v.Encoder, err)
	}
	if e.ICC != "srgb" || e.Effort == nil {
		t.Errorf("the caller's options changed: %+v", *e)
	}
}

// At q90 and above libvips writes 4:4:4 unless told: there "off" is the
// default and "on" an option.
func TestSubsampleCanonicalAtHighQuality(t *testing.T) {
	q95 := func(e EncoderOptions, target *QualityTarget) *EncoderOptions {
		q := 95
		if target != nil {
			q = 0 // a target replaces the quality
		}
		r := Recipe{Name: "r", Variants: []Variant{{Name: "v", Width: 64, Format: FormatJPEG, Quality: q, Target: target, Encoder: &e}}}
		if err := r.Normalize(); err != nil {
			t.Fatal(err)
		}
		return r.Variants[0].Encoder
	}
	if e := q95(EncoderOptions{Subsample: "off"}, nil); e != nil {
		t.Errorf("q95 off: %+v, want nil", e)
	}
	if e := q95(EncoderOptions{Subsample: "on"}, nil); e == nil || e.Subsample != "on" {
		t.Errorf("q95 on: %+v, want kept", e)
	}
	if e := q95(EncoderOptions{Subsample: "off"}, &QualityTarget{SSIM: 0.98}); e == nil || e.Subsample != "off" {
		t.Errorf("q95 off with a target: %+v, want kept (the search moves q)", e)
	}
}
