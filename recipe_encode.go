package imgbatch

import (
	"fmt"
	"slices"
	"strings"
)

// Colour policies of a variant (EncoderOptions.ICC).
const (
	// ICCSRGB converts to sRGB and writes no profile (the default, stored
	// as "").
	ICCSRGB = "srgb"
	// ICCKeep keeps the pixels in the source's own colour space and
	// embeds the source's ICC profile (RGB and grey sources with one;
	// others are converted to sRGB as by default).
	ICCKeep = "keep"
	// ICCP3 converts to Display P3 and embeds libvips' P3 profile.
	ICCP3 = "p3"
)

// Chroma subsampling of a variant (EncoderOptions.Subsample); "" lets the
// encoder choose (libvips: 4:2:0 below q90, 4:4:4 from q90).
const (
	SubsampleOn  = "on"  // 4:2:0
	SubsampleOff = "off" // 4:4:4 (WebP: sharp RGB→YUV, see normalizeEncoder)
)

// MaxQuantTable is the last of mozjpeg's predefined quantisation tables
// (0 is the JPEG standard's, libjpeg's default).
const MaxQuantTable = 8

// effortRange is what Effort means for a format: its valid range and the
// value imgbatch uses when the recipe gives none.
type effortRange struct{ min, max, def int }

var encoderEfforts = map[string]effortRange{
	FormatWebP: {0, 6, 4}, // libwebp's method
	FormatAVIF: {0, 9, 2}, // libvips' heifsave effort (aom speed 9-effort)
	FormatPNG:  {0, 9, 6}, // zlib compression level
}

// DefaultEffort is the encoder effort imgbatch uses for format when a
// variant gives none (-1: the format has no effort).
func DefaultEffort(format string) int {
	if r, ok := encoderEfforts[format]; ok {
		return r.def
	}
	return -1
}

// EffortRange is the valid range of Effort for format (ok false: the
// format takes no effort).
func EffortRange(format string) (lo, hi int, ok bool) {
	r, ok := encoderEfforts[format]
	return r.min, r.max, ok
}

// encoderOption is one field of EncoderOptions: whether it is set, and
// the output formats it applies to.
type encoderOption struct {
	name    string
	set     func(*EncoderOptions) bool
	formats []string
}

var encoderOptions = []encoderOption{
	{"progressive", func(e *EncoderOptions) bool { return e.Progressive }, []string{FormatJPEG, FormatPNG}},
	{"subsample", func(e *EncoderOptions) bool { return e.Subsample != "" }, []string{FormatJPEG, FormatWebP, FormatAVIF}},
	{"trellis", func(e *EncoderOptions) bool { return e.Trellis }, []string{FormatJPEG}},
	{"quantTable", func(e *EncoderOptions) bool { return e.QuantTable != 0 }, []string{FormatJPEG}},
	{"lossless", func(e *EncoderOptions) bool { return e.Lossless }, []string{FormatWebP, FormatAVIF, FormatPNG}},
	{"effort", func(e *EncoderOptions) bool { return e.Effort != nil }, []string{FormatWebP, FormatAVIF, FormatPNG}},
	{"icc", func(e *EncoderOptions) bool { return e.ICC != "" }, []string{FormatJPEG, FormatPNG, FormatWebP, FormatAVIF}},
}

// normalizeEncoder checks the encoder options against the variant's
// format (each of the candidates of a FormatAuto variant: an option must
// fit at least one, and applies to those it fits) and writes them in one
// canonical form, so that options meaning the same outputs hash the same:
// "srgb" is "", what the format always does is dropped (PNG is always
// lossless; lossy WebP is always 4:2:0; JPEG and AVIF subsample as their
// quality makes libvips choose), an effort equal to imgbatch's default is
// dropped, and nothing left is nil.
func (v *Variant) normalizeEncoder() error {
	if v.Encoder == nil {
		return nil
	}
	// A copy: the caller's options may be shared with another recipe.
	c := *v.Encoder
	e := &c
	v.Encoder = e
	if err := e.checkValues(); err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	formats := v.encoderFormats()
	for _, o := range encoderOptions {
		if o.set(e) && !slices.ContainsFunc(formats, func(f string) bool { return slices.Contains(o.formats, f) }) {
			return fmt.Errorf("encoder: %s is for %s, not %s", o.name, strings.Join(o.formats, ", "), strings.Join(formats, ", "))
		}
	}
	if err := e.checkCombinations(v, formats); err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	e.canonical(v, formats)
	if *e == (EncoderOptions{}) {
		v.Encoder = nil
	}
	return nil
}

// encoderFormats are the formats v's encoder options apply to: its format,
// or a FormatAuto variant's candidates (any format while it has none).
func (v *Variant) encoderFormats() []string {
	if v.Format != FormatAuto {
		return []string{v.Format}
	}
	if len(v.Formats) > 0 {
		return v.Formats
	}
	return []string{FormatJPEG, FormatPNG, FormatWebP, FormatAVIF}
}

// checkValues checks each option's value on its own.
func (e *EncoderOptions) checkValues() error {
	switch e.Subsample {
	case "", SubsampleOn, SubsampleOff:
	default:
		return fmt.Errorf("subsample %q is not one of on (4:2:0), off (4:4:4) or unset (the encoder's choice)", e.Subsample)
	}
	if e.QuantTable < 0 || e.QuantTable > MaxQuantTable {
		return fmt.Errorf("quantTable %d is outside 0..%d (mozjpeg's tables; 0 is the JPEG standard's)", e.QuantTable, MaxQuantTable)
	}
	switch e.ICC {
	case ICCSRGB:
		e.ICC = ""
	case "", ICCKeep, ICCP3:
	default:
		return fmt.Errorf("icc %q is not one of srgb (the default), keep, p3", e.ICC)
	}
	return nil
}

// checkCombinations checks the options that exclude each other, and the
// effort against the range of every format it applies to.
func (e *EncoderOptions) checkCombinations(v *Variant, formats []string) error {
	if e.Lossless && e.Subsample != "" && !slices.Contains(formats, FormatJPEG) {
		return fmt.Errorf("lossless keeps every pixel's colour: subsample does not apply")
	}
	if e.Lossless && v.Target != nil {
		return fmt.Errorf("lossless has no quality to search: drop it or the target")
	}
	if e.Effort == nil {
		return nil
	}
	for _, f := range formats {
		r, ok := encoderEfforts[f]
		if ok && (*e.Effort < r.min || *e.Effort > r.max) {
			return fmt.Errorf("effort %d is outside %s's %d..%d (default %d)", *e.Effort, f, r.min, r.max, r.def)
		}
	}
	return nil
}

// autoSubsample is what libvips' encoders do at quality q when the
// recipe does not say.
func autoSubsample(q int) string {
	if q >= 90 {
		return SubsampleOff
	}
	return SubsampleOn
}

// canonical drops what changes nothing for v's formats.
func (e *EncoderOptions) canonical(v *Variant, formats []string) {
	only := func(f string) bool { return len(formats) == 1 && formats[0] == f }
	if e.Lossless && only(FormatPNG) {
		e.Lossless = false
	}
	if e.Subsample == SubsampleOn && only(FormatWebP) && !e.Lossless {
		e.Subsample = ""
	}
	// libvips' JPEG and AVIF choose 4:2:0 below q90, 4:4:4 from it; a
	// quality target moves q, so its choice is not known here.
	if (only(FormatJPEG) || only(FormatAVIF)) && v.Target == nil && e.Subsample == autoSubsample(v.Quality) {
		e.Subsample = ""
	}
	if e.Effort != nil && !slices.ContainsFunc(formats, func(f string) bool {
		r, ok := encoderEfforts[f]
		return ok && *e.Effort != r.def
	}) {
		e.Effort = nil
	}
}
