package worker

import (
	"net/http"

	"github.com/imgbatch/imgbatch/sniff"
)

// frameBudget refuses an animated GIF or WebP whose header claims more
// than maxFrames frames (0: no budget). An animated variant decodes,
// resizes and encodes every frame (vips/anim.c), and even a first-frame
// render has the decoder walk them all, so the frame count bounds work
// that no pixel budget sees: 10,000 frames of 1x1 are 10,000 pixels in
// 150 KB. The budgets judge the source, whatever the recipe asks of it:
// an item is refused or not on its bytes alone. A TIFF's pages or a HEIF
// sequence's are not frames here: only their first page is read.
func frameBudget(info sniff.Info, maxFrames int) error {
	if maxFrames <= 0 || !info.Animated || (info.Format != sniff.GIF && info.Format != sniff.WebP) {
		return nil
	}
	if info.Pages > maxFrames {
		return itemErr(CodeTooManyPix, http.StatusRequestEntityTooLarge,
			"too many frames: %s header claims %d frames of %dx%d, over the %d-frame budget (--max-frames)",
			info.Format, info.Pages, info.Width, info.Height, maxFrames)
	}
	return nil
}
