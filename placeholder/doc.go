// Package placeholder computes what the catalog records of an image's
// look from a small decoded copy of it (at most 100x100, 8-bit sRGB, as
// vips.RenderWith hands it over): a BlurHash, a ThumbHash, the dominant
// colour and a perceptual hash (pHash) for finding near-duplicates.
//
// Everything here is pure Go and works on a few thousand pixels: all four
// cost about 1.5 ms of CPU per image, next to 100-250 ms for decoding and
// encoding it (BenchmarkCompute). Transparent pixels are put on white for BlurHash and
// pHash (which have no alpha), weighed by their alpha for the dominant
// colour, and kept for ThumbHash (which encodes alpha).
package placeholder

import "fmt"

// Image is a small picture: Width x Height pixels of Bands bytes, rows
// packed, 8-bit sRGB; Bands is 3 (RGB) or 4 (RGBA, not premultiplied).
type Image struct {
	Width, Height int
	Bands         int
	Pix           []byte
}

// MaxSide is the largest side Compute takes: ThumbHash's limit, and more
// than any of the hashes needs.
const MaxSide = 100

func (m Image) check() error {
	switch {
	case m.Width <= 0 || m.Height <= 0:
		return fmt.Errorf("placeholder: empty image %dx%d", m.Width, m.Height)
	case m.Bands != 3 && m.Bands != 4:
		return fmt.Errorf("placeholder: %d bands, want 3 (RGB) or 4 (RGBA)", m.Bands)
	case len(m.Pix) != m.Width*m.Height*m.Bands:
		return fmt.Errorf("placeholder: %d bytes for %dx%dx%d", len(m.Pix), m.Width, m.Height, m.Bands)
	}
	return nil
}

// rgba returns pixel i as r, g, b in 0..255 and its alpha in 0..1.
func (m Image) rgba(i int) (r, g, b byte, a float64) {
	p := m.Pix[i*m.Bands:]
	if m.Bands == 4 {
		return p[0], p[1], p[2], float64(p[3]) / 255
	}
	return p[0], p[1], p[2], 1
}

// onWhite returns pixel i put on white (alpha dropped), 0..255.
func (m Image) onWhite(i int) (r, g, b float64) {
	pr, pg, pb, a := m.rgba(i)
	w := 255 * (1 - a)
	return float64(pr)*a + w, float64(pg)*a + w, float64(pb)*a + w
}
