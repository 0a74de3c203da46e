package worker

import (
	"errors"
	"net/http"

	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// guard decides from the source's bytes alone, before libvips sees any of
// them, whether the item may be decoded: the format comes from the magic
// bytes (never the key's extension or Content-Type) and must be on the
// allow-list; the header must be readable; and the pixels it claims must
// fit the budgets. The byte cap was enforced while fetching, and libvips
// runs with VIPS_BLOCK_UNTRUSTED set (vips.Start), so even a loader libvips
// would pick by content cannot be one that is not fuzzed for hostile input.
func (w *Worker) guard(data []byte) (sniff.Info, error) {
	return Guard(data, w.cfg.MaxPixels, w.cfg.MaxTotalPixels, w.renderOptions())
}

// Guard is that check for any caller that renders with Render (the bench's
// process mode): maxPixels bounds one frame's canvas, maxTotalPixels all
// frames or pages together; o says whether HEIC can be decoded. A refusal
// is an *ItemError.
func Guard(data []byte, maxPixels, maxTotalPixels int64, o RenderOptions) (sniff.Info, error) {
	info, err := sniff.Inspect(data)
	if err != nil {
		var se *sniff.Error
		if errors.As(err, &se) {
			switch se.Code {
			case sniff.CodeEmpty:
				return info, itemErr(CodeEmpty, http.StatusBadRequest, "%s", se.Error())
			case sniff.CodeUnsupportedFormat:
				return info, itemErr(CodeUnsupported, http.StatusUnsupportedMediaType, "%s", se.Error())
			}
		}
		return info, itemErr(CodeCorrupt, http.StatusUnprocessableEntity, "%v", err)
	}
	// The allow-list names what imgbatch accepts; this libvips build may
	// still lack a decoder (HEIF needs libheif with an HEVC plugin), which
	// the HEIC helper stands in for unless it is off (Decodable).
	if ok, why := Decodable(info.Format, o); !ok {
		return info, itemErr(CodeUnsupported, http.StatusUnsupportedMediaType, "unsupported format: %s: %s", info.Format, why)
	}
	// A TIFF compression libtiff lacks is worse than an error: libvips
	// reads the strips as nothing and renders black, "succeeded".
	if info.Format == sniff.TIFF {
		if code, ok := sniff.TIFFCompression(data); ok {
			if name, ok := vips.TIFFCodec(code); !ok {
				return info, itemErr(CodeUnsupported, http.StatusUnsupportedMediaType,
					"unsupported format: TIFF with %s compression (%d): this libvips build (%s) cannot decode it", name, code, vips.Version())
			}
		}
	}
	// One frame as a decoder allocates it: the canvas, which a GIF frame
	// placed past the logical screen enlarges (libvips 8.14 aborts the whole
	// process when that allocation fails).
	if px := info.CanvasPixels(); px > maxPixels {
		return info, itemErr(CodeTooManyPix, http.StatusRequestEntityTooLarge,
			"image too large: %s header claims %dx%d (canvas %dx%d) = %d pixels, over the %d-pixel budget (--max-pixels)",
			info.Format, info.Width, info.Height, max(info.FrameExtentW, info.Width), max(info.FrameExtentH, info.Height), px, maxPixels)
	}
	if err := frameBudget(info, o.MaxFrames); err != nil {
		return info, err
	}
	// All frames or pages together.
	if px := info.Pixels(); px > maxTotalPixels {
		return info, itemErr(CodeTooManyPix, http.StatusRequestEntityTooLarge,
			"image too large: %s header claims %d frames of %dx%d = %d pixels, over the %d-pixel budget for all frames (--max-total-pixels)",
			info.Format, max(info.Pages, 1), max(info.FrameExtentW, info.Width), max(info.FrameExtentH, info.Height), px, maxTotalPixels)
	}
	return info, nil
}
