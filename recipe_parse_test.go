package imgbatch

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseVariant(t *testing.T) {
	for _, c := range []struct {
		spec string
		want Variant
	}{
		{"thumb:256x256", Variant{Name: "thumb", Width: 256, Height: 256}},
		{"thumb:256x256:webp:75", Variant{Name: "thumb", Width: 256, Height: 256, Format: "webp", Quality: 75}},
		{"web:1600x:jpeg:82", Variant{Name: "web", Width: 1600, Format: "jpeg", Quality: 82}},
		{"tall:x900", Variant{Name: "tall", Height: 900}},
		{"sq:100x100:png::cover", Variant{Name: "sq", Width: 100, Height: 100, Format: "png", Fit: "cover"}},
	} {
		got, err := ParseVariant(c.spec)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseVariant(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
	for spec, why := range map[string]string{
		"thumb":               "wrong number of fields",
		"a:1x1:jpeg:80:fit:x": "wrong number of fields",
		"thumb:256":           "size must be WIDTHxHEIGHT",
		"thumb:axb":           "width is not a number",
		"thumb:1xb":           "height is not a number",
		"thumb:1x1:jpeg:high": "quality is not a number",
	} {
		_, err := ParseVariant(spec)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.HasPrefix(err.Error(), `--variant "`+spec+`": `) ||
			!strings.HasSuffix(err.Error(), "(want "+VariantSyntax+")") {
			t.Errorf("ParseVariant(%q) = %v; want an error saying %q", spec, err, why)
		}
	}
}

func TestParseRecipeJSONAndYAML(t *testing.T) {
	want := Recipe{Name: "site", Variants: []Variant{
		{Name: "thumb", Width: 200, Height: 200, Fit: "cover", Format: "webp", Quality: 70, SmartCrop: true, ShrinkOnLoad: "fine"},
	}}
	for name, doc := range map[string]string{
		"json": `{"name":"site","variants":[{"name":"thumb","width":200,"height":200,"fit":"cover","format":"webp","quality":70,"smartCrop":true,"shrinkOnLoad":"fine"}]}`,
		"yaml": "name: site\nvariants:\n  - name: thumb\n    width: 200\n    height: 200\n    fit: cover\n    format: webp\n    quality: 70\n    smartCrop: true\n    shrinkOnLoad: fine\n",
	} {
		got, err := ParseRecipe([]byte(doc))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ParseRecipe = %+v, %v; want %+v", name, got, err, want)
		}
	}
	if _, err := ParseRecipe([]byte("name: x\nvariants:\n  - name: a\n    widht: 3\n")); err == nil || !strings.Contains(err.Error(), "widht") {
		t.Errorf("an unknown field: err = %v; want it named", err)
	}
	if _, err := ParseRecipe([]byte("name: [")); err == nil {
		t.Error("broken YAML: no error")
	}
}

func TestLoadRecipe(t *testing.T) {
	r, err := LoadRecipe("", nil)
	if err != nil || r.Name != "default" || r.Hash() != DefaultRecipe.Hash() {
		t.Fatalf("no file, no flags: %+v, %v; want the default recipe", r, err)
	}
	r, err = LoadRecipe("", []string{"t:64x64:webp", "w:800x"})
	if err != nil || r.Name != "flags" || len(r.Variants) != 2 || r.Variants[0].Quality != 80 || r.Variants[1].Format != FormatJPEG {
		t.Fatalf("flags only: %+v, %v; want recipe \"flags\" of two normalized variants", r, err)
	}
	path := filepath.Join(t.TempDir(), "recipe.yaml")
	if err := os.WriteFile(path, []byte("name: site\nvariants:\n  - {name: a, width: 10}\n  - {name: b, width: 20}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = LoadRecipe(path, nil)
	if err != nil || r.Name != "site" || len(r.Variants) != 2 {
		t.Fatalf("file: %+v, %v", r, err)
	}
	r, err = LoadRecipe(path, []string{"c:30x30"})
	if err != nil || r.Name != "site" || len(r.Variants) != 1 || r.Variants[0].Name != "c" {
		t.Fatalf("file and flags: %+v, %v; want the file's name with the flags' variants", r, err)
	}
	if _, err := LoadRecipe(filepath.Join(t.TempDir(), "missing.json"), nil); err == nil || !strings.HasPrefix(err.Error(), "recipe: ") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("{name: x, extra: 1}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecipe(path, nil); err == nil || !strings.HasPrefix(err.Error(), "recipe "+path+": ") {
		t.Errorf("bad file: %v; want it named", err)
	}
	if _, err := LoadRecipe("", []string{"a:0x0"}); err == nil || !strings.HasPrefix(err.Error(), "recipe: ") {
		t.Errorf("a variant without a size: %v", err)
	}
	if _, err := LoadRecipe("", []string{"bad"}); err == nil || !strings.HasPrefix(err.Error(), "--variant") {
		t.Errorf("a bad --variant: %v", err)
	}
}

// TestRecipeErrorsSpeakTheRecipesLanguage: a YAML (or JSON) recipe's
// mistakes are named by field, with no trace of the JSON step inside
// ParseRecipe; a negative size names the side that is wrong.
func TestRecipeErrorsSpeakTheRecipesLanguage(t *testing.T) {
	for _, c := range []struct {
		recipe, want string
	}{
		{"name: r\nvariants:\n  - {name: t, width: big}\n", `field "variants.width": a string where a number belongs`},
		{"name: r\nvariants:\n  - {name: t, widht: 10}\n", `unknown field "widht"`},
		{`{"name": "r", "variants": [{"name": "t", "width": "x"}]}`, `field "variants.width": a string where a number belongs`},
	} {
		_, err := ParseRecipe([]byte(c.recipe))
		if err == nil || err.Error() != c.want || strings.Contains(err.Error(), "json") {
			t.Errorf("%q: error %v, want %q", c.recipe, err, c.want)
		}
	}
	for _, c := range []struct {
		v    Variant
		want string
	}{
		{Variant{Name: "t", Width: -3, Height: 100}, `variant "t": width -3: must be at least 1 (or 0 to follow the other side)`},
		{Variant{Name: "t", Width: 100, Height: -1}, `variant "t": height -1: must be at least 1 (or 0 to follow the other side)`},
		{Variant{Name: "t"}, `variant "t": give width and/or height (> 0)`},
	} {
		r := Recipe{Name: "r", Variants: []Variant{c.v}}
		if err := r.Normalize(); err == nil || err.Error() != c.want {
			t.Errorf("%+v: error %v, want %q", c.v, err, c.want)
		}
	}
}
