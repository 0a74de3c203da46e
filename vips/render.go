package vips

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
// #include "render.h"
// #include "info.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// Result is one encoded variant.
type Result struct {
	Data          []byte
	Width, Height int
	Format        string  // the format written (imgbatch.Format*)
	Quality       int     // the q used
	Score         float64 // measured SSIM to the resized image; 0: not measured
	Frames        int     // frames written (1 unless animated)
	// Capped: q was lowered below the variant's to keep the output
	// within its byte cap (RenderCapped); Score is then measured
	// (search.c).
	Capped bool
	// The search's encodes and their work (reference ms, search.c);
	// TimeCut: its wall-clock safety net, not its work budget, stopped
	// it, so this output depends on the machine's load.
	Probes  int
	Work    float64
	TimeCut bool
	// BudgetCut: the work budget stopped the search before any output
	// met the target; the output is the closest found (Score says how
	// close), the same on any machine.
	BudgetCut bool
}

// FailOn is the libvips load error level at which an image fails; decoder
// complaints below it are logged (at debug level) and the image renders.
//
// imgbatch uses FailOnTruncated: a file that ends early (a cut upload, a
// partial copy) fails as corrupt, where libvips' permissive default would
// render it with its missing part grey, publish that, and skip it as
// current on every later run. With it, in the corpus: jpeg-truncated-*
// and png-truncated-pillow fail on both libvips versions; png-bad-crc-idat
// fails on 8.14 (its libpng reports the CRC as a read error) and renders
// on 8.18; png-pngsuite-xhdn0g08-ihdr-crc fails on 8.14 whatever the level
// and renders on 8.18; png-ztxt-100mib-bomb (a zTXt chunk too big to
// inflate: a warning) renders. FailOnNone would render all of these but
// xhdn0g08 on 8.14 (TestRenderFailOnTruncated).
type FailOn int

// Fail-on levels (VipsFailOn).
const (
	FailOnNone      FailOn = C.VIPS_FAIL_ON_NONE
	FailOnTruncated FailOn = C.VIPS_FAIL_ON_TRUNCATED
	FailOnError     FailOn = C.VIPS_FAIL_ON_ERROR
	FailOnWarning   FailOn = C.VIPS_FAIL_ON_WARNING
)

// Strategy is how several variants of one source are made.
type Strategy int

const (
	// PerVariant decodes the source once per variant, each with its own
	// shrink-on-load factor (what calling vips_thumbnail_buffer per
	// variant does).
	PerVariant Strategy = C.IMGB_PER_VARIANT
	// SharedDecode decodes the source once, shrunk on load to the largest
	// size any variant needs (whole frame, upright, 8-bit sRGB), keeps that
	// in memory and resizes every variant from it.
	SharedDecode Strategy = C.IMGB_SHARED_DECODE
)

// shrinkOnLoad is a JPEG shrink-on-load policy.
type shrinkOnLoad int

const (
	// shrinkVariant lets each variant's ShrinkOnLoad decide (Render).
	shrinkVariant shrinkOnLoad = C.IMGB_SHRINK_VARIANT
	// shrinkNone decodes JPEGs at full size: the quality reference.
	shrinkNone shrinkOnLoad = C.IMGB_SHRINK_NONE
	// shrinkLibvips is vips_thumbnail's rule: decode to at least twice the
	// target, leaving the last 2x or more to lanczos3.
	shrinkLibvips shrinkOnLoad = C.IMGB_SHRINK_LIBVIPS
	// shrinkFine decodes to at least 1.5 times the target (imgbatch's
	// default before sharp's rule; imgbatch.ShrinkFine).
	shrinkFine shrinkOnLoad = C.IMGB_SHRINK_FINE
	// shrinkFast is sharp's fastShrinkOnLoad rule: the largest of libjpeg's
	// 1/2, 1/4, 1/8 the shrink allows (imgbatch.ShrinkFast, the default).
	shrinkFast shrinkOnLoad = C.IMGB_SHRINK_FAST
)

// variantShrink maps a normalized variant's ShrinkOnLoad to its policy.
func variantShrink(s string) (C.int, error) {
	switch s {
	case "", imgbatch.ShrinkFast:
		return C.IMGB_SHRINK_FAST, nil
	case imgbatch.ShrinkFine:
		return C.IMGB_SHRINK_FINE, nil
	case imgbatch.ShrinkOff:
		return C.IMGB_SHRINK_NONE, nil
	}
	return 0, fmt.Errorf("unknown shrinkOnLoad %q", s)
}

// options are the knobs of one render; Render uses defaults.
type options struct {
	failOn   FailOn
	strategy Strategy
	shrink   shrinkOnLoad
}

// defaults is what Render and Thumbnail use; BenchmarkRender measures the
// alternatives. The shared decode costs about half the CPU of a
// vips_thumbnail_buffer per variant on 12 MP JPEGs; each variant's
// ShrinkOnLoad (sharp's fast rule unless the recipe says otherwise) picks
// the JPEG decode factor.
var defaults = options{failOn: FailOnTruncated, strategy: SharedDecode, shrink: shrinkVariant}

// Encoder efforts (0 fastest … 9 for AVIF, … 6 for WebP; libvips' default
// is 4 for both). A 1280x720 AVIF from a photo costs about 150 ms of CPU at
// effort 2 and 1.3-1.8 s at 4, for files 6-17% smaller; effort 1 saves
// 90 ms for files 15-17% bigger. (govips' Speed: 8, used before, meant
// effort 8.)
const (
	avifEffort = 2
	webpEffort = 4
)

// loaderFor maps a sniffed format to the libvips buffer loader that reads
// it.
func loaderFor(f sniff.Format) (C.int, bool) {
	switch f {
	case sniff.JPEG:
		return C.IMGB_LOAD_JPEG, true
	case sniff.PNG:
		return C.IMGB_LOAD_PNG, true
	case sniff.GIF:
		return C.IMGB_LOAD_GIF, true
	case sniff.WebP:
		return C.IMGB_LOAD_WEBP, true
	case sniff.TIFF:
		return C.IMGB_LOAD_TIFF, true
	case sniff.HEIF, sniff.AVIF:
		return C.IMGB_LOAD_HEIF, true
	}
	return 0, false
}

// Render makes every variant of src, an image whose format the caller has
// already sniffed from its bytes (sniff.Inspect), in one pass: src is
// opened with the libvips loader for that format, never with libvips'
// own format detection, decoded once with shrink-on-load to the largest
// size any variant needs (JPEG: libjpeg's 1/2, 1/4 or 1/8 decode, leaving
// at least 1.5x to lanczos3; WebP: libwebp's scaled decode; HEIF: the
// stored thumbnail when it is big enough), and each variant is resized
// from that. Images are turned upright by their EXIF orientation,
// converted to 8-bit sRGB (through an embedded ICC profile, or the built-in
// CMYK profile for CMYK without one), and written without metadata (EXIF,
// XMP, IPTC, ICC) unless the variant keeps it; a variant's Encoder.ICC
// "keep" or "p3" writes the source's own colours and profile, or Display
// P3 with its profile, instead (colour.c). An animated GIF or WebP
// stays animated in a GIF or WebP variant (unless Animated is false): every
// frame resized, cut or padded alike, delays and loop count kept
// (anim.c); other variants, and every variant of a multi-page TIFF or
// HEIF, use the first frame or page.
//
// Fits: inside keeps the aspect ratio within width x height (either may be
// 0: unconstrained); cover fills width x height and crops the rest (the
// centre, or the most interesting region with SmartCrop); contain fits
// inside, then pads to exactly width x height, white for JPEG and
// transparent for PNG, WebP and AVIF; fill stretches to width x height.
// Without Upscale nothing is enlarged: inside and contain keep a smaller
// source at its size (contain still pads), cover crops the largest region
// of the box's shape from the unscaled source, fill clamps each side to the
// source's.
//
// The results are in the order of variants. An error means the image as a
// whole failed: a failure of libvips is an *Error (ErrLoad: corrupt or
// truncated; ErrUnsupported: this libvips cannot decode it; ErrEncode: a
// variant cannot be written) carrying libvips' message; bad arguments
// (no variants, an unknown fit, ...) are plain errors.
func Render(src []byte, format sniff.Format, variants []imgbatch.Variant) ([]Result, error) {
	return render(src, format, variants, defaults)
}

// Thumbnail makes variant v from the encoded image src. It sniffs the
// format itself; callers that have sniffed already and make several
// variants should call Render.
func Thumbnail(src []byte, v imgbatch.Variant) (Result, error) {
	if len(src) == 0 {
		return Result{}, errors.New("empty image")
	}
	info, err := sniff.Inspect(src)
	if err != nil {
		return Result{}, err
	}
	rs, err := render(src, info.Format, []imgbatch.Variant{v}, defaults)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

func render(src []byte, format sniff.Format, variants []imgbatch.Variant, o options) ([]Result, error) {
	return renderInfo(src, format, variants, o, nil, nil)
}

// renderInfo is render that also fills info (C memory; see RenderWith),
// each variant within its byte cap (maxBytes, see RenderCapped).
func renderInfo(src []byte, format sniff.Format, variants []imgbatch.Variant, o options, maxBytes []int64, info *C.imgb_info) ([]Result, error) {
	if len(src) == 0 {
		return nil, errors.New("empty image")
	}
	if len(variants) == 0 {
		return nil, errors.New("no variants")
	}
	loader, ok := loaderFor(format)
	if !ok {
		return nil, fmt.Errorf("unsupported format %q", format)
	}
	if !started() {
		return nil, errors.New("vips.Start has not been called")
	}
	n := len(variants)
	cvs := unsafe.Slice((*C.imgb_variant)(C.calloc(C.size_t(n), C.sizeof_imgb_variant)), n)
	defer C.free(unsafe.Pointer(&cvs[0]))
	for i, v := range variants {
		if err := toC(v, &cvs[i]); err != nil {
			return nil, fmt.Errorf("variant %q: %w", v.Name, err)
		}
	}
	if err := capsToC(maxBytes, cvs); err != nil {
		return nil, err
	}

	copt := C.imgb_options{fail_on: C.int(o.failOn), strategy: C.int(o.strategy), shrink_on_load: C.int(o.shrink), info: info}
	rc := C.imgb_render(loader, unsafe.Pointer(&src[0]), C.size_t(len(src)), &copt, &cvs[0], C.int(n))
	runtime.KeepAlive(src)
	if rc != 0 {
		return nil, lastError(format)
	}
	out := make([]Result, n)
	for i := range cvs {
		cv := &cvs[i]
		out[i] = Result{
			Data:    C.GoBytes(cv.out, C.int(cv.out_len)),
			Width:   int(cv.out_width),
			Height:  int(cv.out_height),
			Format:  formatName(cv.out_format),
			Quality: int(cv.out_quality),
			Score:   float64(cv.out_score),
			Frames:  int(cv.out_frames),
			Capped:  cv.out_capped != 0,
			Probes:  int(cv.out_probes),
			Work:    float64(cv.out_work),
			TimeCut: cv.out_time_cut != 0,
		}
		out[i].BudgetCut = cv.out_budget_cut != 0
		C.imgb_free(cv.out)
		cv.out = nil
		if out[i].Format == imgbatch.FormatWebP && !variants[i].KeepMetadata {
			b, err := stripWebP(out[i].Data, embedsICC(variants[i]))
			if err != nil {
				return nil, fmt.Errorf("variant %q: libvips wrote a WebP imgbatch cannot read back: %w", variants[i].Name, err)
			}
			out[i].Data = b
		}
	}
	return out, nil
}

// toC fills the C description of a (normalized) variant.
func toC(v imgbatch.Variant, c *C.imgb_variant) error {
	if v.Width < 0 || v.Height < 0 || (v.Width == 0 && v.Height == 0) {
		return fmt.Errorf("width %d, height %d: give at least one", v.Width, v.Height)
	}
	c.width, c.height = C.int(v.Width), C.int(v.Height)
	switch v.Fit {
	case imgbatch.FitInside, "":
		c.fit = C.IMGB_FIT_INSIDE
	case imgbatch.FitCover:
		c.fit = C.IMGB_FIT_COVER
	case imgbatch.FitContain:
		c.fit = C.IMGB_FIT_CONTAIN
	case imgbatch.FitFill:
		c.fit = C.IMGB_FIT_FILL
	default:
		return fmt.Errorf("unknown fit %q", v.Fit)
	}
	if v.Fit != imgbatch.FitInside && v.Fit != "" && (v.Width == 0 || v.Height == 0) {
		return fmt.Errorf("fit %q needs width and height", v.Fit)
	}
	q := v.Quality
	if q == 0 {
		q = 80
	}
	if q < 1 || q > 100 {
		return fmt.Errorf("quality %d outside 1..100", q)
	}
	c.quality = C.int(q)
	c.effort = -1
	format := v.Format
	if format == imgbatch.FormatAuto {
		format = preparedAs(v.Formats) // search.go
	}
	switch format {
	case imgbatch.FormatJPEG, "jpg", "":
		c.format = C.IMGB_JPEG
	case imgbatch.FormatPNG:
		c.format = C.IMGB_PNG
	case imgbatch.FormatWebP:
		c.format = C.IMGB_WEBP
		c.effort = webpEffort
	case imgbatch.FormatAVIF:
		c.format = C.IMGB_AVIF
		c.effort = avifEffort
	case imgbatch.FormatGIF:
		c.format = C.IMGB_GIF
	default:
		return fmt.Errorf("unknown output format %q", v.Format)
	}
	if err := encoderToC(v.Encoder, format, c); err != nil {
		return err
	}
	sol, err := variantShrink(v.ShrinkOnLoad)
	if err != nil {
		return err
	}
	c.shrink_on_load = sol
	c.smartcrop = cbool(v.SmartCrop)
	c.upscale = cbool(v.Upscale)
	c.keep_metadata = cbool(v.KeepMetadata)
	c.animated = cbool(v.Animated == nil || *v.Animated)
	return searchToC(v, c)
}

// formatName is the imgbatch name of an IMGB_* output format.
func formatName(f C.int) string {
	switch f {
	case C.IMGB_JPEG:
		return imgbatch.FormatJPEG
	case C.IMGB_PNG:
		return imgbatch.FormatPNG
	case C.IMGB_WEBP:
		return imgbatch.FormatWebP
	case C.IMGB_AVIF:
		return imgbatch.FormatAVIF
	case C.IMGB_GIF:
		return imgbatch.FormatGIF
	}
	return ""
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// jpegShrink is shrink.c's JPEG shrink-on-load factor for an overall
// shrink under a policy (for tests).
func jpegShrink(shrink float64, p shrinkOnLoad) int {
	return int(C.imgb_jpeg_shrink(C.double(shrink), C.int(p)))
}
