package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/imgbatch/imgbatch"
)

// ParseRecipe is the recipe of a --recipe value: RecipeSingle (the variant
// single alone), RecipeDefault (imgbatch.DefaultRecipe) or a recipe file
// in JSON or YAML, read as imgbatch work reads one (imgbatch.ParseRecipe:
// {"name": …, "variants": [...]}; its name defaults to the file's base name).
func ParseRecipe(s string, single imgbatch.Variant) (imgbatch.Recipe, error) {
	switch s {
	case RecipeSingle:
		if single.Name == "" {
			single = StandardVariant
		}
		return imgbatch.Recipe{Name: RecipeSingle, Variants: []imgbatch.Variant{single}}, nil
	case RecipeDefault:
		r := imgbatch.DefaultRecipe
		r.Name = RecipeDefault
		r.Variants = slices.Clone(r.Variants)
		return r, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return imgbatch.Recipe{}, fmt.Errorf("recipe %q is neither %s, %s nor a readable JSON file: %w", s, RecipeSingle, RecipeDefault, err)
	}
	// The recipe parser of `imgbatch work`/`local`: JSON or YAML, with the
	// same shorthands (quality: {ssim: …}, a format list).
	r, err := imgbatch.ParseRecipe(b)
	if err != nil {
		return imgbatch.Recipe{}, fmt.Errorf("recipe file %s: %w", s, err)
	}
	if r.Name == "" {
		r.Name = strings.TrimSuffix(filepath.Base(s), filepath.Ext(s))
	}
	if r.Name == RecipeSingle || r.Name == RecipeDefault {
		return imgbatch.Recipe{}, fmt.Errorf("recipe file %s: the names %s and %s are taken by the built-in recipes", s, RecipeSingle, RecipeDefault)
	}
	if err := r.Normalize(); err != nil {
		return imgbatch.Recipe{}, fmt.Errorf("recipe file %s: %w", s, err)
	}
	return r, nil
}

// describeRecipe is a one-line description: "thumb: inside 256x256 jpeg q80; web: …".
func describeRecipe(r imgbatch.Recipe) string {
	parts := make([]string, len(r.Variants))
	for i, v := range r.Variants {
		q, format := "", v.Format
		if v.Format != imgbatch.FormatPNG {
			q = fmt.Sprintf(" q%d", v.Quality)
		}
		if v.Target != nil {
			q = fmt.Sprintf(" ssim %g (q %d..%d)", v.Target.SSIM, v.Target.MinQuality, v.Target.MaxQuality)
		}
		if len(v.Formats) > 0 {
			format += " " + strings.Join(v.Formats, "|")
		}
		parts[i] = fmt.Sprintf("%s: fit %s %dx%d %s%s%s", v.Name, v.Fit, v.Width, v.Height, format, q, describeEncoder(v))
	}
	return strings.Join(parts, "; ")
}
