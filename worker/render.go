package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/heic"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// renderFunc makes every variant of one guarded source image, each within
// its byte cap (caps[i], 0: none; nil: none), and says
// what libvips saw of it (nil: nothing), with a small copy when small is
// set (the catalog's placeholders). ctx is cancelled when the item's
// deadline passes or the pipeline stops; an implementation checks it
// between variants (a libvips call in progress cannot be interrupted).
type renderFunc func(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, small bool) ([]vips.Result, *vips.Info, error)

// RenderOptions is what Render needs besides the image.
type RenderOptions struct {
	// HEIC decodes HEVC-coded HEIF in a helper process when libvips cannot
	// (nil: heic.Default(), on unless IMGBATCH_HEIC=off).
	HEIC *heic.Decoder
	// Limits of the helper: the pixel budget, checked again from libheif's
	// view of the header before decoding, the source byte cap and the
	// helper's CPU-time limit (the caller's ctx is its deadline).
	MaxPixels      int64
	MaxSourceBytes int64
	CPUTime        time.Duration
	// MaxFrames is Guard's frame budget of an animated GIF or WebP (0:
	// none).
	MaxFrames int
}

func (o RenderOptions) decoder() *heic.Decoder {
	if o.HEIC != nil {
		return o.HEIC
	}
	return heic.Default()
}

// viaHelper reports whether a source of format f is decoded by the HEIC
// helper: HEIF (HEVC) when the running libvips cannot decode it, as
// sharp's npm build cannot. AVIF always stays in libvips.
func viaHelper(f sniff.Format) bool { return f == sniff.HEIF && !vips.Supported(sniff.HEIF) }

// Decodable reports whether Render can decode format f with these options:
// the running libvips decodes it, or it goes to the HEIC helper and that is
// on. why says what to do about a refusal.
func Decodable(f sniff.Format, o RenderOptions) (ok bool, why string) {
	if vips.Supported(f) {
		return true, ""
	}
	if viaHelper(f) {
		if o.decoder().Enabled() {
			return true, ""
		}
		return false, fmt.Sprintf("this libvips build (%s) cannot decode HEVC and HEIC decoding is off (--heic=off or IMGBATCH_HEIC=off): turn it on with --heic=on where Debian's libheif1 and libde265-0 are installed", vips.Version())
	}
	return false, fmt.Sprintf("this libvips build (%s) cannot decode it", vips.Version())
}

// Render makes every variant of one guarded source: the render stage of
// the worker and of the bench's process mode. Sources go to vips.Render
// with their sniffed format, except HEIF that this libvips cannot decode
// (viaHelper): the HEIC helper decodes those in a separate, limited
// process to an upright TIFF with the source's ICC profile, and libvips
// renders that (same ICC import, resize and encoders; no EXIF orientation
// applied twice). A helper failure is a *heic.Error.
func Render(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, o RenderOptions) ([]vips.Result, error) {
	rs, _, err := RenderWith(ctx, src, info, vs, nil, o, false)
	return rs, err
}

// RenderWith is Render that also says what libvips saw of the source and,
// with small, hands over a small copy of it, each variant within its byte
// cap (vips.RenderCapped). For a HEIC
// that the helper decodes, libvips sees the helper's upright TIFF.
func RenderWith(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, o RenderOptions, small bool) ([]vips.Result, *vips.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if !viaHelper(info.Format) {
		return vips.RenderCapped(src, info.Format, vs, caps, small)
	}
	tiff, err := o.decoder().Decode(ctx, src, heic.Limits{
		MaxPixels: o.MaxPixels, MaxInputBytes: o.MaxSourceBytes, CPUTime: o.CPUTime,
		ExpectedPixels: int64(info.Width) * int64(info.Height),
		Shrink:         heicShrink(info.Width, info.Height, vs),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return vips.RenderCapped(tiff, sniff.TIFF, vs, caps, small)
}

// renderErr turns a render failure on a guarded image into the item's
// error: a *heic.Error by its kind; a *vips.Error by its: a loader this
// libvips build lacks (HEIF without a decoder plugin, for instance) is
// UnsupportedFormat (as is a TIFF codec its libtiff lacks: old-style
// JPEG), a variant that cannot be written EncodeFailed, a
// decode failure CorruptImage. Of other errors, a *panicError (a
// recovered panic) is InternalError, the rest CorruptImage.
func renderErr(info sniff.Info, err error) error {
	var he *heic.Error
	if errors.As(err, &he) {
		return heicErr(info, he)
	}
	what := fmt.Sprintf("%s %dx%d", info.Format, info.Width, info.Height)
	msg := oneLine(err)
	var ve *vips.Error
	if errors.As(err, &ve) {
		switch ve.Kind {
		case vips.ErrUnsupported:
			return itemErr(CodeUnsupported, http.StatusUnsupportedMediaType, "%s: this libvips build cannot decode it: %s", what, msg)
		case vips.ErrEncode:
			return itemErr(CodeEncode, http.StatusUnprocessableEntity, "%s decoded, but encoding a variant failed: %s", what, msg)
		}
	} else if pe := (*panicError)(nil); errors.As(err, &pe) {
		return itemErr(CodeInternal, http.StatusInternalServerError, "%s: %s", what, msg)
	}
	return itemErr(CodeCorrupt, http.StatusUnprocessableEntity, "corrupt %s: %s", what, msg)
}

// panicError is a panic of the render that process recovered from: a bug
// of ours or of a library, reported as the item's InternalError.
type panicError struct{ v any }

func (e *panicError) Error() string { return fmt.Sprintf("render panicked: %v", e.v) }

// heicShrink is the integer factor by which the HEIC helper reduces a
// w × h (upright) source before libvips resizes it — shrink-on-load for
// HEIC: the image libvips gets, and the worker holds, is at least twice
// the size any variant needs along each axis, so lanczos3 still does the
// last 2× or more (vips_thumbnail's rule, stricter than the JPEG default);
// a variant with shrinkOnLoad "off" gets the full image. A 12 MP iPhone
// photo (4032×3024) arrives at 576×432 for a 256 px thumbnail and at full
// size for the default recipe's web 1280 (less than 2× to spare); a 48 MP
// one (8064×6048) at 2688×2016 for web 1280: a ninth of the bytes.
func heicShrink(w, h int, vs []imgbatch.Variant) int {
	if w <= 0 || h <= 0 {
		return 1
	}
	need := 0.0 // the largest scale of the source any variant needs
	for _, v := range vs {
		if v.ShrinkOnLoad == imgbatch.ShrinkOff {
			return 1
		}
		sx, sy := float64(v.Width)/float64(w), float64(v.Height)/float64(h)
		var sc float64
		switch {
		case v.Fit == imgbatch.FitCover || v.Fit == imgbatch.FitFill:
			sc = max(sx, sy)
		case v.Width == 0:
			sc = sy
		case v.Height == 0:
			sc = sx
		default: // inside, contain: the tighter side
			sc = min(sx, sy)
		}
		need = max(need, sc)
	}
	if need <= 0 {
		return 1
	}
	return max(1, int(1/(2*need)))
}

// heicClasses is the item error class of each kind of HEIC helper
// failure; msg formats what (format and size) and the helper's message.
var heicClasses = map[heic.Kind]struct {
	code   string
	status int
	msg    string
}{
	heic.KindCorrupt: {CodeCorrupt, http.StatusUnprocessableEntity, "corrupt %s: %s"},
	// A decoder that crashes on a file is almost always fed a hostile or
	// broken one; the worker is unharmed (separate process).
	heic.KindCrashed:       {CodeCorrupt, http.StatusUnprocessableEntity, "%s: the HEIC decoder crashed on it: %s"},
	heic.KindTooManyPixels: {CodeTooManyPix, http.StatusRequestEntityTooLarge, "image too large: %s: %s"},
	heic.KindMemory:        {CodeTooManyPix, http.StatusRequestEntityTooLarge, "%s: the HEIC decoder needed more memory than its limit: %s"},
	heic.KindUnsupported:   {CodeUnsupported, http.StatusUnsupportedMediaType, "%s: %s"},
	heic.KindTimeout:       {CodeTimeout, http.StatusRequestTimeout, "%s: %s"},
}

// heicErr maps a failure of the HEIC helper to the item's error class
// (InternalError for a kind heicClasses does not list).
func heicErr(info sniff.Info, e *heic.Error) error {
	what := fmt.Sprintf("%s %dx%d", info.Format, info.Width, info.Height)
	c, ok := heicClasses[e.Kind]
	if !ok {
		return itemErr(CodeInternal, http.StatusInternalServerError, "%s: %s", what, oneLine(e))
	}
	return itemErr(c.code, c.status, c.msg, what, oneLine(e))
}
