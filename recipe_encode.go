package imgbatch

// normalizeEncoder checks the encoder options (owned by the encoder-options
// work of issue 16).
func (v *Variant) normalizeEncoder() error { return nil }
