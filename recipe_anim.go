package imgbatch

// normalizeAnimation checks Animated and GIF output (owned by the
// animation work of issue 16).
func (v *Variant) normalizeAnimation() error { return nil }
