package vips

// #include <stdlib.h>
// #include "render.h"
// #include "info.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
)

// Info is what libvips saw of a source while rendering it, for the
// catalog.
type Info struct {
	Orientation int    // EXIF orientation 1..8; 0: the file records none
	ICC         bool   // an embedded ICC profile
	Alpha       bool   // an alpha channel
	Pages       int    // pages or frames libvips sees
	Space       string // libvips' interpretation: srgb, cmyk, b-w, rgb16, grey16, ...
	// Small is the upright image reduced to at most SmallSide a side,
	// 8-bit sRGB, 3 or 4 bands (RGBA, alpha not premultiplied), rows
	// packed; nil when not asked for.
	Small *Pixels
}

// Pixels is an uncompressed image.
type Pixels struct {
	Width, Height, Bands int
	Pix                  []byte
}

// SmallSide is the longest side of the small copy: ThumbHash's limit,
// and plenty for BlurHash, a dominant colour and a 32x32 pHash.
const SmallSide = 100

// RenderWith is Render that also reports what libvips saw of the source
// and, with small, a small copy of it made from the same decode: the
// decode shared by the variants of a recipe of several; for one variant
// that shows the whole frame (inside, contain), the variant itself, so
// the output is Render's byte for byte; for one cover or fill variant,
// the shared decode too (its output is then made as a variant of a recipe
// of several is: the same size, pixels a resize apart). Only a lone
// variant smaller than the copy pays for a decode of its own, shrunk on
// load. A copy that cannot be made is left nil and fails nothing.
func RenderWith(src []byte, format sniff.Format, variants []imgbatch.Variant, small bool) ([]Result, *Info, error) {
	return RenderCapped(src, format, variants, nil, small)
}

// RenderCapped is RenderWith with a byte cap per variant: maxBytes[i]
// (0: none) caps variants[i]'s output, and its q is searched down to fit
// (search.c). nil caps none; otherwise one per variant.
func RenderCapped(src []byte, format sniff.Format, variants []imgbatch.Variant, maxBytes []int64, small bool) ([]Result, *Info, error) {
	ci := (*C.imgb_info)(C.calloc(1, C.sizeof_imgb_info))
	defer C.free(unsafe.Pointer(ci))
	if small {
		ci.small_side = SmallSide
	}
	rs, err := renderInfo(src, format, variants, defaults, maxBytes, ci)
	defer func() {
		C.imgb_free(ci.small)
		ci.small = nil
	}()
	if err != nil {
		return nil, nil, err
	}
	return rs, infoOf(ci), nil
}

func infoOf(ci *C.imgb_info) *Info {
	in := &Info{
		Orientation: int(ci.orientation),
		ICC:         ci.icc != 0,
		Alpha:       ci.alpha != 0,
		Pages:       int(ci.pages),
		Space:       C.GoString(&ci.space[0]),
	}
	if ci.small != nil && ci.small_len > 0 {
		in.Small = &Pixels{
			Width: int(ci.small_width), Height: int(ci.small_height), Bands: int(ci.small_bands),
			Pix: C.GoBytes(ci.small, C.int(ci.small_len)),
		}
	}
	return in
}

// String describes p without its bytes (for logs and test failures).
func (p *Pixels) String() string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("%dx%dx%d (%d bytes)", p.Width, p.Height, p.Bands, len(p.Pix))
}
