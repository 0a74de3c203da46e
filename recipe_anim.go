package imgbatch

// Animation (issue 16): an animated source (a GIF of several frames, an
// animated WebP) stays animated in a variant whose format can hold frames
// (GIF, WebP), every frame resized alike, with its delays and loop count;
// JPEG, PNG and AVIF variants get the first frame (libvips 8.18's heifsave
// writes pages as separate still images, not an AVIS sequence). Format auto
// or a list animates in the candidates that can (WebP, a listed GIF), at
// its quality target scored over the frames; with none, the first frame.
// Animated false asks for the first frame everywhere, as before.

// normalizeAnimation makes Animated canonical, so that recipes that make
// the same outputs share a hash: nil is the default (animate), so an
// explicit true becomes nil and only false is kept. GIF has no quality
// knob (gifsave quantises to a palette), so a GIF variant's quality is
// dropped rather than splitting the hash on a number nothing reads.
func (v *Variant) normalizeAnimation() error {
	if v.Animated != nil && *v.Animated {
		v.Animated = nil
	}
	if v.Format == FormatGIF {
		v.Quality = 0
	}
	return nil
}
