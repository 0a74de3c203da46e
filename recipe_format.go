package imgbatch

// normalizeFormats checks Format "auto" and its candidate Formats (owned by
// the format-choice work of issue 16).
func (v *Variant) normalizeFormats() error { return nil }
