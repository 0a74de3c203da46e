package batch

import (
	"cmp"
	"maps"
	"slices"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/htmlreport"
)

// VariantFigures are summary.json's figures of one variant over the
// outputs the run wrote: what its outputs weigh against their sources,
// how many are keepSmallerSource copies, and which formats were chosen.
type VariantFigures struct {
	Variant  string `json:"variant"`
	Outputs  int64  `json:"outputs"`
	BytesIn  int64  `json:"bytesIn"`  // the sources of these outputs
	BytesOut int64  `json:"bytesOut"` // the outputs
	// Saved is BytesIn − BytesOut: negative when the outputs are bigger.
	Saved   int64            `json:"saved"`
	Copies  int64            `json:"copies"`  // outputs that are the source, copied
	Formats map[string]int64 `json:"formats"` // outputs per format written
}

// addOutputs counts a result's outputs into the per-variant figures and
// writes its line of picture.jsonl; the first picture is kept for
// report.html.
func (sum *Summary) addOutputs(res imgbatch.Result, pic *pictureFile) {
	if res.Status != imgbatch.StatusSucceeded {
		return
	}
	if p, ok := pic.add(res); ok && sum.picture == nil {
		sum.picture = &p
	}
	if sum.figures == nil {
		sum.figures = map[string]*VariantFigures{}
	}
	for _, o := range res.Outputs {
		f := sum.figures[o.Variant]
		if f == nil {
			f = &VariantFigures{Variant: o.Variant, Formats: map[string]int64{}}
			sum.figures[o.Variant] = f
		}
		f.Outputs++
		f.BytesIn += res.BytesIn
		f.BytesOut += o.Bytes
		if o.Copied {
			f.Copies++
		}
		f.Formats[o.Format]++
	}
}

// variantFigures are the figures in the recipe's order (variants of older
// results that the recipe no longer names last, by name).
func (sum *Summary) variantFigures(r imgbatch.Recipe) []VariantFigures {
	var out []VariantFigures
	for _, v := range r.Variants {
		if f := sum.figures[v.Name]; f != nil {
			out = append(out, *f)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sum.figures)) {
		if !slices.ContainsFunc(r.Variants, func(v imgbatch.Variant) bool { return v.Name == name }) {
			out = append(out, *sum.figures[name])
		}
	}
	for i := range out {
		out[i].Saved = out[i].BytesIn - out[i].BytesOut
	}
	return out
}

// htmlFigures are the variant figures and the first picture for
// report.html, formats by count (most first).
func htmlFigures(sum Summary) ([]htmlreport.VariantFigures, *htmlreport.Picture) {
	var vs []htmlreport.VariantFigures
	for _, f := range sum.Variants {
		hf := htmlreport.VariantFigures{Name: f.Variant, Outputs: f.Outputs, BytesIn: f.BytesIn, BytesOut: f.BytesOut, Copies: f.Copies}
		for format, n := range f.Formats {
			hf.Formats = append(hf.Formats, htmlreport.FormatCount{Format: format, Count: n})
		}
		slices.SortFunc(hf.Formats, func(a, b htmlreport.FormatCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Format, b.Format))
		})
		vs = append(vs, hf)
	}
	if sum.picture == nil {
		return vs, nil
	}
	return vs, &htmlreport.Picture{Key: sum.picture.Key, Markup: sum.picture.Markup()}
}
