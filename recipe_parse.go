package imgbatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadRecipe is the recipe of a run as the command line gives it: the
// recipe file at path (JSON or YAML; "" = DefaultRecipe), whose variants
// are replaced by variants when there are any (--variant specs, see
// ParseVariant; without a file the recipe is named "flags"), normalized.
// A recipe stored elsewhere (s3://…) is read by the caller and given to
// BuildRecipe.
func LoadRecipe(path string, variants []string) (Recipe, error) {
	if path == "" {
		return BuildRecipe("", nil, variants)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return DefaultRecipe, fmt.Errorf("recipe: %w", err)
	}
	return BuildRecipe(path, b, variants)
}

// BuildRecipe is LoadRecipe of recipe bytes b read from name (a path or a
// URL, for messages); name "" is DefaultRecipe (b is ignored).
func BuildRecipe(name string, b []byte, variants []string) (Recipe, error) {
	r := DefaultRecipe
	r.Variants = append([]Variant(nil), r.Variants...)
	if name != "" {
		var err error
		r, err = ParseRecipe(b)
		if err != nil {
			return r, fmt.Errorf("recipe %s: %w", name, err)
		}
	}
	if len(variants) > 0 {
		if name == "" {
			r.Name = "flags"
		}
		r.Variants = nil
		for _, s := range variants {
			v, err := ParseVariant(s)
			if err != nil {
				return r, err
			}
			r.Variants = append(r.Variants, v)
		}
	}
	if err := r.Normalize(); err != nil {
		if name != "" {
			return r, fmt.Errorf("recipe %s: %w", name, err)
		}
		return r, fmt.Errorf("recipe: %w", err)
	}
	return r, nil
}

// ParseRecipe decodes a recipe written as JSON or YAML with the same field
// names ({name, variants: [{name, width, height, fit, format, quality,
// upscale, smartCrop, keepMetadata, shrinkOnLoad}]}); an unknown field is
// an error. The recipe is not normalized.
func ParseRecipe(b []byte) (Recipe, error) {
	var r Recipe
	var generic any
	if err := yaml.Unmarshal(b, &generic); err != nil { // YAML is a superset of JSON
		return r, err
	}
	if err := liftShorthands(generic); err != nil {
		return r, err
	}
	j, err := json.Marshal(generic)
	if err != nil {
		return r, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fieldError(err)
	}
	return r, nil
}

// fieldError says what is wrong with a recipe's field in the recipe's own
// terms: the recipe may be YAML, and the JSON step inside is ours, not the
// user's ("json: cannot unmarshal string into Go struct field …").
func fieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: a %s where a %s belongs", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go kind as a recipe writer knows it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "bool":
		return "true/false"
	case k == "slice":
		return "list"
	case k == "struct", k == "map":
		return "mapping"
	}
	return k
}

// VariantSyntax is the form ParseVariant reads, with an example.
const VariantSyntax = "name:WIDTHxHEIGHT[:format[:quality[:fit]]], e.g. thumb:256x256:webp:75 or web:1280x:auto:ssim=0.98"

// ParseVariant reads a --variant spec, name:WIDTHxHEIGHT[:format[:quality[:fit]]]
// (WIDTH or HEIGHT may be empty; so may quality). The variant is not
// normalized.
func ParseVariant(spec string) (Variant, error) {
	parts := strings.Split(spec, ":")
	bad := func(why string) (Variant, error) {
		return Variant{}, fmt.Errorf("--variant %q: %s (want %s)", spec, why, VariantSyntax)
	}
	if len(parts) < 2 || len(parts) > 5 {
		return bad("wrong number of fields")
	}
	v := Variant{Name: parts[0]}
	w, h, ok := strings.Cut(parts[1], "x")
	if !ok {
		return bad("size must be WIDTHxHEIGHT (either may be empty)")
	}
	var err error
	if w != "" {
		if v.Width, err = strconv.Atoi(w); err != nil {
			return bad("width is not a number")
		}
	}
	if h != "" {
		if v.Height, err = strconv.Atoi(h); err != nil {
			return bad("height is not a number")
		}
	}
	if len(parts) > 2 {
		v.Format, v.Formats = splitFormats(parts[2])
	}
	if len(parts) > 3 && parts[3] != "" {
		if err := parseQualitySpec(parts[3], &v); err != nil {
			return bad(err.Error())
		}
	}
	if len(parts) > 4 {
		v.Fit = parts[4]
	}
	return v, nil
}
