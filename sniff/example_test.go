package sniff_test

import (
	"errors"
	"fmt"

	"github.com/imgbatch/imgbatch/sniff"
)

// The worker's guard: sniff, refuse what is not allowed or is corrupt, hold
// the header's claimed size against the pixel budget, and only then call the
// libvips loader for info.Format.
func ExampleInspect() {
	const budget = 268402689 // 0x3FFF², sharp's default limitInputPixels

	files := map[string][]byte{
		"ok.png":   []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x00\x00\x00\x00\xc0\x08\x02\x00\x00\x00\x00\x00\x00\x00"),
		"bomb.png": []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x00\x00\x00\x00\x00\x00\x00\x00"),
		"a.svg":    []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		"x.gif":    []byte("GIF89a\x00\x00\x20\x00\x00\x00\x00"),
	}
	for _, name := range []string{"ok.png", "bomb.png", "a.svg", "x.gif"} {
		info, err := sniff.Inspect(files[name])
		var serr *sniff.Error
		switch {
		case errors.As(err, &serr):
			fmt.Printf("%s: refused (%s): %v\n", name, serr.Code, err)
		case info.CanvasPixels() > budget:
			fmt.Printf("%s: image too large: %dx%d exceeds pixel budget\n", name, info.Width, info.Height)
		default:
			fmt.Printf("%s: load as %s, %dx%d, %d page(s)\n", name, info.Format, info.Width, info.Height, info.Pages)
		}
	}
	// Output:
	// ok.png: load as png, 256x192, 1 page(s)
	// bomb.png: image too large: 100000x100000 exceeds pixel budget
	// a.svg: refused (UnsupportedFormat): unsupported format: SVG/XML text: format not allowed (allowed: jpeg, png, webp, gif, tiff, heif, avif)
	// x.gif: refused (Corrupt): corrupt gif: logical screen is 0x32
}
