package imgbatch

// normalizeTarget checks a quality target (owned by the quality-target
// work of issue 16).
func (v *Variant) normalizeTarget() error { return nil }
