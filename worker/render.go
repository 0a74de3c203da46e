package worker

import (
	"context"
	"net/http"
	"strings"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// renderFunc makes every variant of one guarded source image. ctx is
// cancelled when the item's deadline passes or the pipeline stops; an
// implementation checks it between variants (a libvips call in progress
// cannot be interrupted).
type renderFunc func(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant) ([]vips.Result, error)

// renderVips is the production renderFunc: vips.Render opens the source
// with the libvips loader of its sniffed format (never libvips' own format
// detection), decodes it once with shrink-on-load and makes every variant.
func renderVips(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant) ([]vips.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return vips.Render(src, info.Format, vs)
}

// renderErr turns a libvips failure on a guarded image into the item's
// error: a loader this libvips build lacks (HEIF without a decoder plugin,
// for instance) is UnsupportedFormat, anything else CorruptImage.
func renderErr(info sniff.Info, err error) error {
	msg := oneLine(err)
	low := strings.ToLower(msg)
	unsupported := strings.Contains(low, "not in a known format") || strings.Contains(low, "is not a known file format") ||
		strings.Contains(low, "operation is blocked")
	if info.Format == sniff.HEIF || info.Format == sniff.AVIF {
		// libheif: "Unsupported feature: Unsupported codec", "No decoding plugin installed for this compression format".
		unsupported = unsupported || strings.Contains(low, "unsupported codec") || strings.Contains(low, "no decoding plugin") ||
			strings.Contains(low, "unsupported feature")
	}
	if unsupported {
		return itemErr(CodeUnsupported, http.StatusUnsupportedMediaType, "%s %dx%d: this libvips build cannot decode it: %s", info.Format, info.Width, info.Height, msg)
	}
	if strings.Contains(low, "save:") || strings.Contains(low, "save_buffer") {
		// The source decoded but a variant cannot be written in its format
		// (WebP is limited to 16383 pixels a side, for instance).
		return itemErr(CodeEncode, http.StatusUnprocessableEntity, "%s %dx%d decoded, but encoding a variant failed: %s", info.Format, info.Width, info.Height, msg)
	}
	if strings.Contains(low, "panicked") {
		return itemErr(CodeInternal, http.StatusInternalServerError, "%s %dx%d: %s", info.Format, info.Width, info.Height, msg)
	}
	return itemErr(CodeCorrupt, http.StatusUnprocessableEntity, "corrupt %s %dx%d: %s", info.Format, info.Width, info.Height, msg)
}
