package imgbatch

import (
	"slices"
	"testing"
)

// TestOutputFormatsAndKeys: an auto variant may write any of its
// candidates, and its keys follow them in order; a template without
// {outext} or {format} gives the candidates one key.
func TestOutputFormatsAndKeys(t *testing.T) {
	auto := Variant{Name: "pic", Format: FormatAuto, Formats: []string{"avif", "jpg", "webp", "jpeg"}}
	if got := auto.OutputFormats(); !slices.Equal(got, []string{"avif", "jpeg", "webp"}) {
		t.Errorf("auto: %v", got)
	}
	if got := (Variant{Format: FormatAuto}).OutputFormats(); !slices.Equal(got, []string{"webp"}) {
		t.Errorf("auto without candidates: %v (the renderer's first candidate is webp)", got)
	}
	if got := (Variant{Format: FormatPNG, Formats: []string{"webp"}}).OutputFormats(); !slices.Equal(got, []string{"png"}) {
		t.Errorf("fixed: %v", got)
	}
	for _, c := range []struct {
		tmpl string
		want []string
	}{
		{DefaultOutputKey, []string{"o/pic/a/b.jpg.avif", "o/pic/a/b.jpg.jpg", "o/pic/a/b.jpg.webp"}},
		{"{variant}/{dir}{name}-{format}", []string{"o/pic/a/b-avif", "o/pic/a/b-jpeg", "o/pic/a/b-webp"}},
		{"{variant}/{key}", []string{"o/pic/a/b.jpg"}},
	} {
		tm, err := ParseKeyTemplate(c.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tm.Keys("o", auto, "src", "a/b.jpg")
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.tmpl, got, err, c.want)
		}
	}
	if w := auto.Writing("jpg"); w.Format != FormatJPEG || w.Name != "pic" {
		t.Errorf("Writing: %+v", w)
	}
}
