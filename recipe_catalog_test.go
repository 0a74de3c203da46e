package imgbatch

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlaceholdersNormalize(t *testing.T) {
	base := func(p ...string) Recipe {
		return Recipe{Name: "r", Variants: []Variant{{Name: "thumb", Width: 256}}, Placeholders: p}
	}
	r := base("phash", "BlurHash", " color ", "phash", "thumbhash")
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"blurhash", "color", "phash", "thumbhash"}; !reflect.DeepEqual(r.Placeholders, want) {
		t.Errorf("placeholders %q, want %q", r.Placeholders, want)
	}

	bad := base("blurhash", "lqip")
	err := bad.Normalize()
	if err == nil || !strings.Contains(err.Error(), `"lqip"`) || !strings.Contains(err.Error(), "blurhash, color, phash, thumbhash") {
		t.Errorf("unknown placeholder: %v", err)
	}

	empty := base()
	empty.Placeholders = []string{}
	if err := empty.Normalize(); err != nil || empty.Placeholders != nil {
		t.Errorf("empty: %v %v", empty.Placeholders, err)
	}
}

// Placeholders change no output: they must not change the recipe's hash,
// or every incremental run of a recipe that gains them renders again.
func TestPlaceholdersKeepHash(t *testing.T) {
	a := Recipe{Name: "r", Variants: []Variant{{Name: "thumb", Width: 256}}}
	b := a
	b.Placeholders = []string{"phash", "blurhash"}
	for _, r := range []*Recipe{&a, &b} {
		if err := r.Normalize(); err != nil {
			t.Fatal(err)
		}
	}
	if a.Hash() != b.Hash() {
		t.Errorf("hash %s with placeholders, %s without", b.Hash(), a.Hash())
	}
	r, err := ParseRecipe([]byte("name: r\nplaceholders: [color, thumbhash]\nvariants:\n  - {name: thumb, width: 256}\n"))
	if err != nil || !reflect.DeepEqual(r.Placeholders, []string{"color", "thumbhash"}) {
		t.Errorf("YAML: %+v %v", r, err)
	}
}

// The demo's recipe (make demo) is the default recipe with every
// placeholder: the same hash, so a second demo skips what the first made.
func TestDemoRecipe(t *testing.T) {
	r, err := LoadRecipe("scripts/demo-recipe.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultRecipe
	if err := def.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r.Hash() != def.Hash() || !reflect.DeepEqual(r.Placeholders, Placeholders) {
		t.Errorf("demo recipe %+v (hash %s), want the default's variants (hash %s) and every placeholder", r, r.Hash(), def.Hash())
	}
}
