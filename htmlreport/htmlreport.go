// Package htmlreport renders a run's report.html: one self-contained page
// (inline CSS and SVG, sample outputs as data: URIs, no external assets)
// with the outcome, the counts and rates, items done over time, failures
// grouped by reason with example keys, a contact sheet of sample outputs,
// the recipe and timings per shard.
package htmlreport

import (
	"encoding/base64"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Data is everything the page shows.
type Data struct {
	RunID      string
	Status     string // final.json's status: completed, failed; running before it
	Reason     string // final.json's reason (imgbatch.Reason*) of a failed run
	Detail     string // final.json's detail: the reason in words
	Source     string
	Output     string // s3://bucket/prefix
	WorkBucket string // for the redrive command the page suggests
	Created    time.Time
	Finished   time.Time
	Counts     imgbatch.Counts
	NotRun     int64  // items a run ended early never ran
	Remaining  string // s3:// URI of remaining.csv (a run ended early)
	FailedCSV  string // s3:// URI of failed.csv
	Tolerance  imgbatch.Tolerance
	Recipe     imgbatch.Recipe
	RecipeHash string
	ShardCount int // the run's shards; Shards may hold fewer (report limits)
	Shards     []Shard
	Failures   []Failure
	Samples    []Sample
	Variants   []VariantFigures // bytes saved, copies and format mix per variant
	Picture    *Picture         // one source's <picture>
}

// Shard is the timing of one finished shard.
type Shard struct {
	N          int
	Owner      string
	Epoch      int64
	Start, End time.Time
	Items      int64
	Failed     int64
}

// Failure is the failures of one error code.
type Failure struct {
	Code    string
	Count   int64
	Example string
	Keys    []string
}

// Sample is one output image for the contact sheet.
type Sample struct {
	Key         string // source key
	Variant     string
	Width       int
	Height      int
	ContentType string
	Data        []byte
}

// MaxSampleBytes bounds one embedded sample; larger ones are left out so
// the page stays small.
const MaxSampleBytes = 256 << 10

// Render writes the page.
func Render(w io.Writer, d Data) error {
	v := view{Data: d, Outcome: outcomeOf(d)}
	if !d.Finished.IsZero() {
		v.Took = d.Finished.Sub(d.Created)
		v.Duration = humanDuration(v.Took)
	}
	v.Rate = rate(d.Counts.Items, v.Took)
	v.Busy, v.BusyRate, v.BusyPartial = processing(d)
	v.Throughput = throughputSVG(d)
	v.Timeline = timelineSVG(d)
	for _, s := range d.Samples {
		if len(s.Data) == 0 || len(s.Data) > MaxSampleBytes || !strings.HasPrefix(s.ContentType, "image/") {
			continue
		}
		v.Thumbs = append(v.Thumbs, newThumb(s))
	}
	return page.Execute(w, v)
}

type view struct {
	Data
	Outcome     outcome
	Took        time.Duration
	Duration    string
	Rate        string
	Busy        string // first shard start → last shard end
	BusyRate    string
	BusyPartial bool // the page holds only some of the shards
	Throughput  template.HTML
	Timeline    template.HTML
	Thumbs      []thumb
}

// rate is items per second over d, or "–" when d is not known.
func rate(items int64, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return strconvRate(float64(items) / d.Seconds())
}

// processing is the span during which shards ran and the rate over it:
// the pipeline's own speed, without planning, start-up and reports.
func processing(d Data) (span, r string, partial bool) {
	if len(d.Shards) == 0 {
		return "", "", false
	}
	first, last := d.Shards[0].Start, d.Shards[0].End
	var items int64
	for _, s := range d.Shards {
		first, last = minTime(first, s.Start), maxTime(last, s.End)
		items += s.Items
	}
	partial = d.ShardCount > len(d.Shards)
	return humanDuration(last.Sub(first)), rate(items, last.Sub(first)), partial
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// thumb is one contact-sheet image with its display size: large outputs
// fit sheetBox, tiny ones are enlarged by a whole factor to at least
// minShown (pixelated, so a 1×1 output is a visible square, not a dot).
type thumb struct {
	Sample
	URI      template.URL
	ShowW    int
	ShowH    int
	Enlarged int // the factor a tiny output is shown at; 0 if not
}

const sheetBox, minShown = 160, 64

func newThumb(s Sample) thumb {
	t := thumb{Sample: s, URI: template.URL("data:" + s.ContentType + ";base64," + base64.StdEncoding.EncodeToString(s.Data))}
	long := max(s.Width, s.Height)
	switch {
	case s.Width <= 0 || s.Height <= 0:
	case long > sheetBox:
		t.ShowW, t.ShowH = max(s.Width*sheetBox/long, 1), max(s.Height*sheetBox/long, 1)
	case long < minShown:
		t.Enlarged = (minShown + long - 1) / long
		t.ShowW, t.ShowH = s.Width*t.Enlarged, s.Height*t.Enlarged
	default:
		t.ShowW, t.ShowH = s.Width, s.Height
	}
	return t
}

// breakable escapes a key and lets it wrap after its separators (/ _ - .)
// as well as at spaces, so a caption breaks between words, never inside.
func breakable(key string) template.HTML {
	var b strings.Builder
	for _, r := range key {
		b.WriteString(template.HTMLEscapeString(string(r)))
		if strings.ContainsRune("/_-.", r) {
			b.WriteString("<wbr>")
		}
	}
	return template.HTML(b.String())
}
