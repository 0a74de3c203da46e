package imgbatch

import (
	"strings"
	"testing"
)

func TestKeyTemplate(t *testing.T) {
	jpg := Variant{Name: "thumb", Width: 10, Format: FormatJPEG}
	webp := Variant{Name: "w", Width: 10, Format: FormatWebP}
	for _, c := range []struct {
		tmpl, prefix string
		v            Variant
		key, want    string
	}{
		{DefaultOutputKey, "", jpg, "photo.jpg", "thumb/photo.jpg.jpg"},
		{DefaultOutputKey, "", jpg, "photo.png", "thumb/photo.png.jpg"},
		{DefaultOutputKey, "out/", webp, "a/b/c.JPG", "out/w/a/b/c.JPG.webp"},
		{"", "", jpg, "photo.png", "thumb/photo.jpg"}, // "" is the legacy layout
		{LegacyOutputKey, "", jpg, "photo.png", "thumb/photo.jpg"},
		{"{dir}{variant}/{name}-{ext}.{outext}", "", jpg, "a/b.png", "a/thumb/b-png.jpg"},
		{"{dir}{variant}/{name}-{ext}.{outext}", "", jpg, "b", "thumb/b-.jpg"},
		{"{bucket}/{variant}/{key}.{format}", "p", jpg, "k", "p/src/thumb/k.jpeg"},
		{"{variant}/{{literal}}/{name}.{outext}", "", jpg, "x.gif", "thumb/{literal}/x.jpg"},
		{"{variant}/{key}}}", "", jpg, "k", "thumb/k}"},
		{DefaultOutputKey, "", jpg, "日本/写真.tar.gz", "thumb/日本/写真.tar.gz.jpg"},
		{"{variant}{dir}|{name}|{ext}", "", jpg, "/lead/.hidden", "thumb/lead/|.hidden|"},
		{"{variant}{dir}|{name}|{ext}", "", jpg, "dir.v2/file", "thumbdir.v2/|file|"},
		{"{variant}{dir}|{name}|{ext}", "", jpg, "a.", "thumb|a.|"},
		{"{variant}{dir}|{name}|{ext}", "", jpg, "a. b", "thumb|a| b"},
		// {hash}: sha256("k") = 8254c329…, sha256("photos/2024/IMG_1.JPG") = d6c47ca2…
		{"{hash}/{variant}/{key}.{outext}", "", jpg, "k", "8254/thumb/k.jpg"},
		{"{hash}/{variant}/{key}.{outext}", "out", webp, "photos/2024/IMG_1.JPG", "out/d6c4/w/photos/2024/IMG_1.JPG.webp"},
	} {
		tm, err := ParseKeyTemplate(c.tmpl)
		if err != nil {
			t.Errorf("%q: %v", c.tmpl, err)
			continue
		}
		got, err := tm.Key(c.prefix, c.v, "src", c.key)
		if err != nil || got != c.want {
			t.Errorf("%q (%q, %s, %q) = %q, %v; want %q", c.tmpl, c.prefix, c.v.Name, c.key, got, err, c.want)
		}
	}
}

func TestKeyTemplateErrors(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{variant}/{nme}":   "unknown placeholder {nme}",
		"{variant}/{key":    "unclosed",
		"{variant}/key}":    "unmatched",
		"{variant}/{}.jpg":  "unknown placeholder {}",
		"{variant}/x.{ext}": "names no source",
		"{variant}/{dir}":   "names no source",
	} {
		if _, err := ParseKeyTemplate(tmpl); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", tmpl, err, want)
		}
	}
	tm, err := ParseKeyTemplate("{key}.{outext}")
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.CheckRecipe(DefaultRecipe); err == nil || !strings.Contains(err.Error(), "no {variant}") {
		t.Errorf("a template without {variant} accepted for two variants: %v", err)
	}
	one := Recipe{Name: "one", Variants: DefaultRecipe.Variants[:1]}
	if err := tm.CheckRecipe(one); err != nil {
		t.Errorf("one variant needs no {variant}: %v", err)
	}
}

// TestDefaultOutputKeyInjective: tricky keys that differ in what a layout
// could blur never share an output under the default template, for any
// variant, while the legacy layout does let some of them meet.
func TestDefaultOutputKeyInjective(t *testing.T) {
	keys := []string{"a.jpg", "a.png", "a", "a.", "a..", "a.jpg.jpg", ".hidden", ".hidden.jpg", "dir.v2/file",
		"dir.v2/file.jpg", "dir/v2/file", "/a.jpg", "//a.jpg", "a/../b.jpg", "../b.jpg", "b.jpg", "..", "...",
		"日本/写真.jpg", "日本/写真.png", "a. b", "A.jpg", "a.JPG", "dir/", "dir"}
	vs := []Variant{{Name: "thumb", Format: FormatJPEG}, {Name: "web", Format: FormatJPEG}, {Name: "w", Format: FormatWebP}}
	for _, tmpl := range []string{DefaultOutputKey, LegacyOutputKey} {
		tm, err := ParseKeyTemplate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		collided := false
		for _, v := range vs {
			for _, k := range keys {
				got, err := tm.Key("p", v, "b", k)
				if err != nil {
					t.Fatal(err)
				}
				if prev, dup := seen[got]; dup {
					collided = true
					if tmpl == DefaultOutputKey {
						t.Errorf("%s: %s and %s/%q both map to %q", tmpl, prev, v.Name, k, got)
					}
				}
				seen[got] = v.Name + "/" + k
			}
		}
		if tmpl == LegacyOutputKey && !collided {
			t.Error("the legacy layout kept a.jpg and a.png apart: the test proves nothing")
		}
	}
}

func TestRunKeyTemplate(t *testing.T) {
	old := Run{OutputPrefix: "o"} // a run.json from before templates
	if k, _ := old.OutputKeyOf(DefaultRecipe.Variants[0], Item{Key: "x.png"}); k != "o/thumb/x.jpg" {
		t.Errorf("old run writes %q, want its legacy o/thumb/x.jpg", k)
	}
	nu := Run{OutputPrefix: "o", OutputKey: DefaultOutputKey}
	if k, _ := nu.OutputKeyOf(DefaultRecipe.Variants[0], Item{Key: "x.png"}); k != "o/thumb/x.png.jpg" {
		t.Errorf("new run writes %q", k)
	}
}
