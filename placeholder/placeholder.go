package placeholder

import (
	"encoding/base64"
	"fmt"
)

// Names of the placeholders Compute makes (imgbatch.Placeholder*).
const (
	NameBlurHash  = "blurhash"
	NameThumbHash = "thumbhash"
	NameColor     = "color"
	NamePHash     = "phash"
)

// Set is what Compute found; a placeholder not asked for is "".
type Set struct {
	BlurHash  string // 4x3 components
	ThumbHash string // standard base64 of the hash's bytes
	Color     string // #rrggbb
	PHash     string // 16 hex digits
}

// BlurHash components of the catalog (the BlurHash README's example).
const blurX, blurY = 4, 3

// Compute makes the placeholders named in names from m; an image larger
// than MaxSide is reduced first (vips hands over one that is not).
func Compute(m Image, names []string) (Set, error) {
	var s Set
	if err := m.check(); err != nil {
		return s, err
	}
	if m.Width > MaxSide || m.Height > MaxSide {
		m = fit(m, MaxSide)
	}
	for _, name := range names {
		var err error
		switch name {
		case NameBlurHash:
			s.BlurHash, err = BlurHash(m, blurX, blurY)
		case NameThumbHash:
			var b []byte
			b, err = ThumbHash(m)
			s.ThumbHash = base64.StdEncoding.EncodeToString(b)
		case NameColor:
			s.Color, err = DominantColor(m)
		case NamePHash:
			var h uint64
			h, err = PHash(m)
			s.PHash = PHashHex(h)
		default:
			err = fmt.Errorf("placeholder: unknown %q", name)
		}
		if err != nil {
			return Set{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return s, nil
}

// fit reduces m by area averaging until both sides are at most side,
// keeping its aspect ratio.
func fit(m Image, side int) Image {
	f := float64(side) / float64(max(m.Width, m.Height))
	nw, nh := max(1, int(float64(m.Width)*f+0.5)), max(1, int(float64(m.Height)*f+0.5))
	out := Image{Width: nw, Height: nh, Bands: m.Bands, Pix: make([]byte, nw*nh*m.Bands)}
	plane := make([]float64, m.Width*m.Height)
	for c := range m.Bands {
		for i := range plane {
			plane[i] = float64(m.Pix[i*m.Bands+c])
		}
		for i, v := range resizeArea(plane, m.Width, m.Height, nw, nh) {
			out.Pix[i*m.Bands+c] = byte(min(255, v+0.5))
		}
	}
	return out
}
