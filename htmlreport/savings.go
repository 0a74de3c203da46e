package htmlreport

import "fmt"

// VariantFigures are one variant's outputs against their sources: the
// page's "bytes saved per variant" and format mix.
type VariantFigures struct {
	Name     string
	Outputs  int64
	BytesIn  int64 // the sources of these outputs
	BytesOut int64
	Copies   int64 // keepSmallerSource copies of the source
	Formats  []FormatCount
}

// FormatCount is how many outputs of a variant were written in a format.
type FormatCount struct {
	Format string
	Count  int64
}

// Picture is the <picture> element of one source (picture.jsonl has every
// source's).
type Picture struct {
	Key    string // the source key
	Markup string
}

// saved says what a variant's outputs saved against their sources:
// "1.2 MB (93.4 %)", or how much bigger they are.
func saved(in, out int64) string {
	if in <= 0 {
		return "–"
	}
	if out > in {
		return fmt.Sprintf("%s bigger (+%.1f %%)", humanBytes(out-in), float64(out-in)*100/float64(in))
	}
	return fmt.Sprintf("%s (%.1f %%)", humanBytes(in-out), float64(in-out)*100/float64(in))
}
