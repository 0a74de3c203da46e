package imgbatch

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAnimationNormalize(t *testing.T) {
	on, off := true, false
	norm := func(v Variant) (Variant, string) {
		t.Helper()
		r := Recipe{Name: "r", Variants: []Variant{v}}
		if err := r.Normalize(); err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		return r.Variants[0], r.Hash()
	}
	base := Variant{Name: "a", Width: 64, Format: FormatWebP}
	_, hashDefault := norm(base)

	// Explicit true is the default: same variant, same hash.
	withTrue := base
	withTrue.Animated = &on
	v, h := norm(withTrue)
	if v.Animated != nil || h != hashDefault {
		t.Errorf("animated: true normalized to %v (hash %s), want nil and the default's hash %s", v.Animated, h, hashDefault)
	}
	// False changes the outputs, so it stays and changes the hash.
	withFalse := base
	withFalse.Animated = &off
	v, h = norm(withFalse)
	if v.Animated == nil || *v.Animated || h == hashDefault {
		t.Errorf("animated: false normalized to %v (hash %s)", v.Animated, h)
	}
	// A recipe without the field keeps its JSON, so its hash.
	b, _ := json.Marshal(base)
	if strings.Contains(string(b), "animated") {
		t.Errorf("unset Animated is in the JSON: %s", b)
	}

	// GIF: a format of its own, no quality, GIF's 16-bit sides.
	v, hq := norm(Variant{Name: "g", Width: 64, Format: FormatGIF, Quality: 55})
	_, h0 := norm(Variant{Name: "g", Width: 64, Format: FormatGIF})
	if v.Quality != 0 || hq != h0 {
		t.Errorf("gif quality normalized to %d (hash %s vs %s), want 0 and one hash", v.Quality, hq, h0)
	}
	if Ext(FormatGIF) != "gif" || ContentType(FormatGIF) != "image/gif" {
		t.Errorf("gif: ext %q, content type %q", Ext(FormatGIF), ContentType(FormatGIF))
	}
	r := Recipe{Name: "r", Variants: []Variant{{Name: "big", Width: 70000, Format: FormatGIF}}}
	if err := r.Normalize(); err == nil || !strings.Contains(err.Error(), "65535") {
		t.Errorf("a 70000 px GIF: %v, want the 65535 limit", err)
	}
	// Normalize is idempotent.
	v2, h2 := norm(v)
	if v2.Quality != 0 || h2 != hq {
		t.Errorf("second Normalize: quality %d, hash %s (was %s)", v2.Quality, h2, hq)
	}
}

func TestAnimationParse(t *testing.T) {
	r, err := ParseRecipe([]byte(`{"name":"x","variants":[{"name":"a","width":64,"format":"gif","animated":false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Variants[0]; v.Format != FormatGIF || v.Animated == nil || *v.Animated {
		t.Fatalf("parsed %+v", v)
	}
}
