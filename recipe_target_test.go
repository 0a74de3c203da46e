package imgbatch

import (
	"strings"
	"testing"
)

func TestQualityTarget(t *testing.T) {
	v, err := normalized(t, Variant{Name: "w", Width: 640, Format: FormatJPEG, Target: &QualityTarget{SSIM: 0.99}})
	if err != nil || v.Quality != 0 || v.Target.MinQuality != 30 || v.Target.MaxQuality != 95 {
		t.Errorf("jpeg ssim 0.99 = %+v (target %+v), %v; want q 0, bounds 30..95", v, v.Target, err)
	}
	v, err = normalized(t, Variant{Name: "w", Width: 640, Format: FormatWebP, Target: &QualityTarget{SSIM: 0.97, MinQuality: 50, MaxQuality: 90}})
	if err != nil || v.Target.MinQuality != 50 || v.Target.MaxQuality != 90 {
		t.Errorf("bounds given: %+v, %v", v.Target, err)
	}
	for why, tv := range map[string]Variant{
		"exclusive":             {Format: FormatJPEG, Quality: 80, Target: &QualityTarget{SSIM: 0.98}},
		"png is lossless":       {Format: FormatPNG, Target: &QualityTarget{SSIM: 0.98}},
		"not between 0.5 and 1": {Format: FormatJPEG, Target: &QualityTarget{SSIM: 1}},
		"ssim 0.4 is not":       {Format: FormatJPEG, Target: &QualityTarget{SSIM: 0.4}},
		"ssim 0 is not":         {Format: FormatWebP, Target: &QualityTarget{MinQuality: 40}},
		"bounds 90..50":         {Format: FormatJPEG, Target: &QualityTarget{SSIM: 0.9, MinQuality: 90, MaxQuality: 50}},
		"bounds 30..101":        {Format: FormatJPEG, Target: &QualityTarget{SSIM: 0.9, MaxQuality: 101}},
	} {
		tv.Name, tv.Width = "w", 100
		_, err := normalized(t, tv)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%+v target %+v: err = %v; want %q", tv, tv.Target, err, why)
		}
	}
}

// An old recipe keeps its hash: the new fields are all omitted when unset.
func TestTargetKeepsOldHashes(t *testing.T) {
	r := DefaultRecipe
	r.Variants = append([]Variant(nil), r.Variants...)
	before := r.Hash()
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r.Hash() != before {
		t.Errorf("the default recipe's hash moved: %s -> %s", before, r.Hash())
	}
}
