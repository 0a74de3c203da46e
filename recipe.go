package imgbatch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Fit modes of a variant (the names sharp and CSS object-fit use).
const (
	FitInside  = "inside"  // keep aspect, within width x height
	FitCover   = "cover"   // keep aspect, fill width x height, crop the rest
	FitContain = "contain" // keep aspect, within width x height, pad to exactly width x height
	FitFill    = "fill"    // ignore aspect, stretch to width x height
)

// Output formats.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatWebP = "webp"
	FormatAVIF = "avif"
	FormatGIF  = "gif"
	// FormatAuto picks the smallest of a variant's Formats.
	FormatAuto = "auto"
)

// Variant is one output of a recipe.
type Variant struct {
	Name         string `json:"name"`
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	Fit          string `json:"fit,omitempty"`
	Format       string `json:"format"`
	Quality      int    `json:"quality,omitempty"`
	Upscale      bool   `json:"upscale,omitempty"`
	KeepMetadata bool   `json:"keepMetadata,omitempty"`
	SmartCrop    bool   `json:"smartCrop,omitempty"`
	// ShrinkOnLoad is how much of a JPEG's shrink libjpeg may do while
	// decoding (in the DCT domain, far cheaper than resampling): "" or
	// "fast" (sharp's fastShrinkOnLoad rule, the default), "fine" (leave at
	// least 1.5x to lanczos3: 2-3x the decoding work for about 0.1 dB),
	// "off" (decode at full size). Other formats ignore it.
	ShrinkOnLoad string `json:"shrinkOnLoad,omitempty"`

	// Outputs that earn their bytes (issue 16). Every field is omitted
	// when unset, so a recipe without them keeps its hash.

	// Formats are the candidates when Format is FormatAuto: each is
	// encoded (at the same Target, if any) and the smallest kept; the
	// output key's {outext} and Content-Type follow the choice
	// (recipe_format.go).
	Formats []string `json:"formats,omitempty"`
	// Target asks for a perceptual quality instead of a fixed Quality:
	// the encoder searches q until the output meets it against the
	// resized image in memory (recipe_target.go).
	Target *QualityTarget `json:"target,omitempty"`
	// KeepSmallerSource: when the encoded output is bigger than the
	// source and the source already fits the box and the format policy,
	// the variant is a server-side copy of the source.
	KeepSmallerSource bool `json:"keepSmallerSource,omitempty"`
	// Animated: nil or true keeps an animated source (GIF, animated WebP)
	// animated where the output format can be (GIF, WebP); false renders
	// the first frame only, as before (recipe_anim.go).
	Animated *bool `json:"animated,omitempty"`
	// Encoder options (recipe_encode.go).
	Encoder *EncoderOptions `json:"encoder,omitempty"`
}

// QualityTarget is a perceptual quality a variant's encoder must reach.
type QualityTarget struct {
	// SSIM is the least structural similarity (0..1) of the output,
	// decoded, to the resized image it was encoded from.
	SSIM float64 `json:"ssim,omitempty"`
	// MinQuality, MaxQuality bound the search of q (defaults in
	// recipe_target.go).
	MinQuality int `json:"minQuality,omitempty"`
	MaxQuality int `json:"maxQuality,omitempty"`
}

// EncoderOptions are the encoder knobs users ask for; zero values are
// today's behaviour.
type EncoderOptions struct {
	Progressive bool   `json:"progressive,omitempty"` // JPEG: progressive (interlaced PNG)
	Subsample   string `json:"subsample,omitempty"`   // JPEG/WebP/AVIF chroma: "" auto, "on" 4:2:0, "off" 4:4:4
	Trellis     bool   `json:"trellis,omitempty"`     // mozjpeg trellis quantisation
	QuantTable  int    `json:"quantTable,omitempty"`  // mozjpeg quant table 0..8
	Lossless    bool   `json:"lossless,omitempty"`    // WebP/AVIF lossless
	Effort      *int   `json:"effort,omitempty"`      // WebP 0..6, AVIF 0..9, PNG compression 0..9
	// ICC: "" or "srgb" converts to sRGB and drops the profile (today);
	// "keep" keeps the source's colours and profile; "p3" converts to
	// Display P3 and embeds it.
	ICC string `json:"icc,omitempty"`
}

// Shrink-on-load policies of a variant (Variant.ShrinkOnLoad).
const (
	ShrinkFast = "fast"
	ShrinkFine = "fine"
	ShrinkOff  = "off"
)

// Recipe is a named list of variants made from every source image.
type Recipe struct {
	Name     string    `json:"name"`
	Variants []Variant `json:"variants"`
	// Placeholders computed per image for the catalog from the small
	// decoded image: "blurhash", "thumbhash", "color", "phash"
	// (recipe_catalog.go).
	Placeholders []string `json:"placeholders,omitempty"`
}

// DefaultRecipe is what runs when no recipe is given: a thumbnail and a web
// JPEG.
var DefaultRecipe = Recipe{
	Name: "default",
	Variants: []Variant{
		{Name: "thumb", Width: 256, Height: 256, Fit: FitInside, Format: FormatJPEG, Quality: 80},
		{Name: "web", Width: 1280, Height: 1280, Fit: FitInside, Format: FormatJPEG, Quality: 82},
	},
}

// Ext is the file extension of a format.
func Ext(format string) string {
	switch format {
	case FormatJPEG:
		return "jpg"
	default:
		return format
	}
}

// ContentType is the MIME type of a format.
func ContentType(format string) string {
	switch format {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatWebP:
		return "image/webp"
	case FormatAVIF:
		return "image/avif"
	case FormatGIF:
		return "image/gif"
	}
	return "application/octet-stream"
}

// MaxSide is the largest width or height an encoder of format writes:
// libjpeg's 65,500, WebP's 16,383, AV1's 65,536, GIF's 16-bit 65,535; for
// PNG, libvips' limit on any image side. A variant over it could never be
// made.
func MaxSide(format string) int {
	switch format {
	case FormatJPEG:
		return 65500
	case FormatWebP:
		return 16383
	case FormatAVIF:
		return 65536
	case FormatGIF:
		return 65535
	}
	return 10_000_000
}

// Normalize fills defaults and validates the recipe.
func (r *Recipe) Normalize() error {
	if len(r.Variants) == 0 {
		return fmt.Errorf("recipe %q has no variants", r.Name)
	}
	seen := map[string]bool{}
	for i := range r.Variants {
		v := &r.Variants[i]
		if v.Name == "" || strings.ContainsAny(v.Name, "/\\") || v.Name == "." || v.Name == ".." {
			return fmt.Errorf("variant %d: name %q must be non-empty and contain no slash", i, v.Name)
		}
		if seen[v.Name] {
			return fmt.Errorf("variant %q appears twice", v.Name)
		}
		seen[v.Name] = true
		if err := v.checkSize(); err != nil {
			return err
		}
		if v.Fit == "" {
			v.Fit = FitInside
		}
		switch v.Fit {
		case FitInside, FitCover, FitContain, FitFill:
		default:
			return fmt.Errorf("variant %q: fit %q is not one of inside, cover, contain, fill", v.Name, v.Fit)
		}
		if v.Fit != FitInside && (v.Width == 0 || v.Height == 0) {
			return fmt.Errorf("variant %q: fit %q needs both width and height", v.Name, v.Fit)
		}
		if v.Format == "" {
			v.Format = FormatJPEG
		}
		if v.Format == "jpg" {
			v.Format = FormatJPEG
		}
		switch v.Format {
		case FormatJPEG, FormatPNG, FormatWebP, FormatAVIF, FormatGIF, FormatAuto:
		default:
			return fmt.Errorf("variant %q: format %q is not one of jpeg, png, webp, avif, gif, auto", v.Name, v.Format)
		}
		if v.Quality == 0 && v.Format != FormatPNG && v.Format != FormatAuto && v.Target == nil {
			v.Quality = 80
		}
		if v.Quality < 0 || v.Quality > 100 {
			return fmt.Errorf("variant %q: quality %d is outside 1..100", v.Name, v.Quality)
		}
		switch v.ShrinkOnLoad {
		case ShrinkFast:
			v.ShrinkOnLoad = "" // the default: the same outputs, the same hash
		case "", ShrinkFine, ShrinkOff:
		default:
			return fmt.Errorf("variant %q: shrinkOnLoad %q is not one of fast, fine, off", v.Name, v.ShrinkOnLoad)
		}
		if m := MaxSide(v.Format); v.Width > m || v.Height > m {
			return fmt.Errorf("variant %q: %dx%d is over %s's limit of %d pixels a side", v.Name, v.Width, v.Height, v.Format, m)
		}
		for _, step := range []func() error{v.normalizeFormats, v.normalizeTarget, v.normalizeAnimation, v.normalizeEncoder} {
			if err := step(); err != nil {
				return fmt.Errorf("variant %q: %w", v.Name, err)
			}
		}
	}
	return r.normalizePlaceholders()
}

// Hash is the canonical hash of the normalized recipe: variants sorted by
// name, JSON encoded, SHA-256, first 16 hex digits. The recipe name is not
// part of it: two recipes that make the same outputs have the same hash.
func (r Recipe) Hash() string {
	vs := append([]Variant(nil), r.Variants...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	b, _ := json.Marshal(vs)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// MaxKeyBytes is S3's limit on the length of a key.
const MaxKeyBytes = 1024

// OutputKey is where variant v of source key goes in the legacy layout
// (LegacyOutputKey, runs planned before templates):
// <prefix>/<variant>/<source key without extension>.<ext>. The source key
// is kept byte for byte (S3 keys are not paths: "..", "//", a leading "/",
// spaces, "+", "%" and any Unicode are legal and kept); only its extension
// (see SplitKey) is replaced, so photo.jpg and photo.png share an output:
// new runs use DefaultOutputKey, and the plan refuses such collisions.
// Trailing slashes of prefix are dropped. A key over S3's 1,024-byte limit
// is an error.
func OutputKey(prefix string, v Variant, sourceKey string) (string, error) {
	return legacyTemplate.Key(prefix, v, "", sourceKey)
}

var legacyTemplate, _ = ParseKeyTemplate(LegacyOutputKey)

// checkSize says which of v's dimensions is wrong: a negative one by
// name, or neither given.
func (v Variant) checkSize() error {
	for _, d := range []struct {
		name string
		n    int
	}{{"width", v.Width}, {"height", v.Height}} {
		if d.n < 0 {
			return fmt.Errorf("variant %q: %s %d: must be at least 1 (or 0 to follow the other side)", v.Name, d.name, d.n)
		}
	}
	if v.Width == 0 && v.Height == 0 {
		return fmt.Errorf("variant %q: give width and/or height (> 0)", v.Name)
	}
	return nil
}
