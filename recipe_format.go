package imgbatch

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultFormats are the candidates of a variant with format auto and no
// list: AVIF first because it usually wins, so the search of the others
// is cut short by its size (vips/search.c).
var DefaultFormats = []string{FormatAVIF, FormatWebP, FormatJPEG}

// candidateFormats are the formats a search may pick from: the ones with an
// encoder in vips. GIF is only ever a candidate when listed (it has no q
// to search, and seldom beats WebP): for an animated source, auto's
// candidates that hold frames are WebP and a listed GIF (vips/anim.c).
var candidateFormats = []string{FormatJPEG, FormatPNG, FormatWebP, FormatAVIF, FormatGIF}

// normalizeFormats checks Format "auto" and its candidate Formats:
// known, no duplicates; no list means DefaultFormats; a list of one is
// that format alone (so it hashes as the fixed-format variant it is).
// An auto variant without a quality searches for DefaultSSIM (a q means
// different things to different encoders; comparing their sizes at one
// q compares nothing). The candidates are searched in the order given.
func (v *Variant) normalizeFormats() error {
	if v.Format != FormatAuto {
		if len(v.Formats) > 0 {
			return fmt.Errorf("formats %v lists candidates for format auto, not %s", v.Formats, v.Format)
		}
		return nil
	}
	if len(v.Formats) == 0 {
		v.Formats = slices.Clone(DefaultFormats)
	}
	for i, f := range v.Formats {
		if f == "jpg" {
			f = FormatJPEG
			v.Formats[i] = f
		}
		if !slices.Contains(candidateFormats, f) {
			return fmt.Errorf("format %q cannot be a candidate of auto (one of %s)", f, strings.Join(candidateFormats, ", "))
		}
		if slices.Contains(v.Formats[:i], f) {
			return fmt.Errorf("format %q is listed twice in formats", f)
		}
	}
	if v.Quality == 0 && v.Target == nil && (v.Encoder == nil || !v.Encoder.Lossless) {
		// Lossless candidates have no quality to search: the smallest
		// lossless output wins.
		v.Target = &QualityTarget{SSIM: DefaultSSIM}
	}
	for _, f := range v.Formats {
		if m := MaxSide(f); v.Width > m || v.Height > m {
			return fmt.Errorf("%dx%d is over %s's limit of %d pixels a side", v.Width, v.Height, f, m)
		}
	}
	if len(v.Formats) == 1 {
		v.Format, v.Formats = v.Formats[0], nil
		if v.Format == FormatPNG || v.Format == FormatGIF {
			v.Quality, v.Target = 0, nil // no q: nothing to search
		}
	}
	return nil
}

// splitFormats reads the format field of a --variant spec: "auto", one
// format, or candidates joined by "|" ("avif|webp|jpeg": auto with those).
func splitFormats(s string) (format string, formats []string) {
	if !strings.Contains(s, "|") {
		return s, nil
	}
	return FormatAuto, strings.Split(s, "|")
}

// liftFormatList turns the shorthand `format: [avif, webp, jpeg]` of a
// recipe variant (decoded from YAML or JSON into generic values) into
// format auto with those formats.
func liftFormatList(v map[string]any) error {
	list, ok := v["format"].([]any)
	if !ok {
		return nil
	}
	if _, both := v["formats"]; both {
		return fmt.Errorf("give the candidates either as a format list or as formats, not both")
	}
	for _, f := range list {
		if _, ok := f.(string); !ok {
			return fmt.Errorf("format list: %v is not a format name", f)
		}
	}
	v["format"], v["formats"] = FormatAuto, list
	return nil
}

// liftShorthands applies the variant shorthands of issue 16 (a format
// list, a quality mapping) to a recipe decoded into generic values, before
// the strict decode into Recipe.
func liftShorthands(doc any) error {
	r, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	vs, _ := r["variants"].([]any)
	for i, x := range vs {
		v, ok := x.(map[string]any)
		if !ok {
			continue
		}
		for _, lift := range []func(map[string]any) error{liftFormatList, liftQualityTarget} {
			if err := lift(v); err != nil {
				return fmt.Errorf("variant %d (%v): %w", i, v["name"], err)
			}
		}
	}
	return nil
}
