package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil"
)

func TestEncoderSaveOptions(t *testing.T) {
	six, nine := 6, 9
	cases := []struct {
		v    imgbatch.Variant
		want string
	}{
		{imgbatch.Variant{Format: "jpeg", Quality: 80, Encoder: &imgbatch.EncoderOptions{Progressive: true, Subsample: "off", Trellis: true, QuantTable: 3, ICC: "p3"}},
			"[Q=80,keep=icc,interlace,subsample_mode=off,trellis_quant,quant_table=3]"},
		{imgbatch.Variant{Format: "webp", Quality: 75, Encoder: &imgbatch.EncoderOptions{Lossless: true, Subsample: "off", Effort: &six}},
			"[Q=75,strip,lossless,smart_subsample,effort=6]"},
		{imgbatch.Variant{Format: "avif", Quality: 50, Encoder: &imgbatch.EncoderOptions{Subsample: "on", ICC: "keep"}},
			"[Q=50,keep=icc,subsample_mode=on]"},
		{imgbatch.Variant{Format: "png", Encoder: &imgbatch.EncoderOptions{Progressive: true, Effort: &nine}},
			"[strip,interlace,compression=9]"},
	}
	for _, c := range cases {
		if got := saveOptions(c.v); got != c.want {
			t.Errorf("%s %+v: %q, want %q", c.v.Format, *c.v.Encoder, got, c.want)
		}
	}
	// vipsthumbnail (the libvips savers) takes every one of them.
	vt := testVipsthumbnail(t)
	if vt == "" {
		t.Fatal("no vipsthumbnail built on the npm libvips: run scripts/vipsthumbnail-npm.sh .cache/libvips-npm (or put one in PATH)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.jpg")
	if err := os.WriteFile(src, testutil.JPEG(t, testutil.Photo(96, 64, 1), 90), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		args := append([]string{"-s", "48x48>"}, vipsthumbnailProfile(c.v)...)
		out := filepath.Join(dir, c.v.Format)
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-o", filepath.Join(out, "%s."+imgbatch.Ext(c.v.Format)+saveOptions(c.v)), src)
		if b, err := exec.Command(vt, args...).CombinedOutput(); err != nil || len(b) > 0 {
			t.Errorf("vipsthumbnail %v: %v: %s", args, err, b)
		}
	}
}

// The encoder recipes under recipes/ parse, normalize and keep their
// options (a misspelt one would be refused as an unknown field).
func TestEncoderRecipes(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("recipes", "encoder-*.json"))
	if len(names) == 0 {
		t.Fatal("no recipes/encoder-*.json")
	}
	for _, n := range names {
		r, err := ParseRecipe(n, imgbatch.Variant{})
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		for _, v := range r.Variants {
			if v.Encoder == nil && v.Name != "default" {
				t.Errorf("%s: variant %s has no encoder options", n, v.Name)
			}
		}
		t.Logf("%s: %s", r.Name, describeRecipe(r))
	}
}
