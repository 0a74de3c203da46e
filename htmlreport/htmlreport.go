// Package htmlreport renders a run's report.html: one self-contained page
// (inline CSS and SVG, sample outputs as data: URIs, no external assets)
// with the counts, throughput over time, failures grouped by reason with
// example keys, a contact sheet of sample outputs, the recipe and timings
// per shard.
package htmlreport

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Data is everything the page shows.
type Data struct {
	RunID      string
	Status     string // completed, failed, running
	Reason     string
	Source     string
	Output     string // s3://bucket/prefix
	Created    time.Time
	Finished   time.Time
	Counts     imgbatch.Counts
	Recipe     imgbatch.Recipe
	RecipeHash string
	Shards     []Shard
	Failures   []Failure
	Samples    []Sample
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
	v := view{Data: d}
	v.Duration = d.Finished.Sub(d.Created).Round(time.Second)
	if secs := d.Finished.Sub(d.Created).Seconds(); secs > 0 {
		v.Rate = float64(d.Counts.Items) / secs
	}
	v.Throughput = throughputSVG(d)
	v.Timeline = timelineSVG(d)
	for _, s := range d.Samples {
		if len(s.Data) == 0 || len(s.Data) > MaxSampleBytes || !strings.HasPrefix(s.ContentType, "image/") {
			continue
		}
		v.Thumbs = append(v.Thumbs, thumb{Sample: s,
			URI: template.URL("data:" + s.ContentType + ";base64," + base64.StdEncoding.EncodeToString(s.Data))})
	}
	return page.Execute(w, v)
}

type view struct {
	Data
	Duration   time.Duration
	Rate       float64
	Throughput template.HTML
	Timeline   template.HTML
	Thumbs     []thumb
}

type thumb struct {
	Sample
	URI template.URL
}

const chartW, chartH = 720, 220

// throughputSVG plots items finished against time (cumulative, from the
// shards' end times).
func throughputSVG(d Data) template.HTML {
	shards := append([]Shard(nil), d.Shards...)
	sort.Slice(shards, func(i, j int) bool { return shards[i].End.Before(shards[j].End) })
	if len(shards) == 0 || d.Counts.Items == 0 {
		return template.HTML(`<p class="muted">No finished shards yet.</p>`)
	}
	t0 := d.Created
	span := shards[len(shards)-1].End.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	var total int64
	for _, s := range shards {
		total += s.Items
	}
	if total == 0 {
		total = 1
	}
	var pts strings.Builder
	pts.WriteString(fmt.Sprintf("40,%d ", chartH-30))
	var cum int64
	for _, s := range shards {
		cum += s.Items
		x := 40 + (chartW-60)*s.End.Sub(t0).Seconds()/span
		y := float64(chartH-30) - float64(chartH-50)*float64(cum)/float64(total)
		pts.WriteString(fmt.Sprintf("%.1f,%.1f ", x, y))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="items finished over time">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<line x1="40" y1="%d" x2="%d" y2="%d" stroke="#999"/><line x1="40" y1="20" x2="40" y2="%d" stroke="#999"/>`, chartH-30, chartW-20, chartH-30, chartH-30)
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#2b6cb0" stroke-width="2.5" points="%s"/>`, strings.TrimSpace(pts.String()))
	fmt.Fprintf(&b, `<text x="44" y="16" font-size="12">%d items</text>`, total)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`, chartW-20, chartH-10, (time.Duration(span * float64(time.Second))).Round(time.Second))
	fmt.Fprintf(&b, `<text x="40" y="%d" font-size="12">0 s</text>`, chartH-10)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// timelineSVG draws one bar per shard from its start to its end (at most
// 300 shards; a larger run shows the slowest ones).
func timelineSVG(d Data) template.HTML {
	shards := append([]Shard(nil), d.Shards...)
	if len(shards) == 0 {
		return ""
	}
	const maxBars = 300
	if len(shards) > maxBars {
		sort.Slice(shards, func(i, j int) bool { return shards[i].End.Sub(shards[i].Start) > shards[j].End.Sub(shards[j].Start) })
		shards = shards[:maxBars]
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].N < shards[j].N })
	t0, t1 := shards[0].Start, shards[0].End
	for _, s := range shards {
		if s.Start.Before(t0) {
			t0 = s.Start
		}
		if s.End.After(t1) {
			t1 = s.End
		}
	}
	span := math.Max(t1.Sub(t0).Seconds(), 0.001)
	bar := 12
	h := len(shards)*bar + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="shard timeline">`, chartW, h, chartW, h)
	for i, s := range shards {
		x := 80 + float64(chartW-100)*s.Start.Sub(t0).Seconds()/span
		wd := math.Max(float64(chartW-100)*s.End.Sub(s.Start).Seconds()/span, 1)
		color := "#38a169"
		if s.Failed > 0 {
			color = "#dd6b20"
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" font-size="10">shard %d</text><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>shard %d: %d items, %d failed, %s, %s</title></rect>`,
			i*bar+10, s.N, x, i*bar+1, wd, bar-2, color, s.N, s.Items, s.Failed, s.End.Sub(s.Start).Round(time.Millisecond), template.HTMLEscapeString(s.Owner))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(a, b int64) string {
		if b == 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", float64(a)*100/float64(b))
	},
	"bytes": humanBytes,
	"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).Parse(pageHTML))

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgbatch run {{.RunID}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1a202c;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.status{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;background:#38a169;font-weight:600}
.status.failed{background:#c53030}.status.running{background:#d69e2e}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:12px}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.muted{color:#718096}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #edf2f7;text-align:left;vertical-align:top}
code{font-size:12px;background:#f7fafc;padding:1px 4px;border-radius:4px}
.sheet{display:flex;flex-wrap:wrap;gap:10px}.sheet figure{margin:0;width:160px}
.sheet img{max-width:160px;max-height:160px;display:block;border:1px solid #e2e8f0;background:#f7fafc}
.sheet figcaption{font-size:11px;color:#4a5568;word-break:break-all}
</style></head><body>
<h1>imgbatch run <code>{{.RunID}}</code> <span class="status {{.Status}}">{{.Status}}</span></h1>
<div class="muted">created {{ts .Created}}{{if not .Finished.IsZero}} · finished {{ts .Finished}} · {{.Duration}}{{end}} · source {{.Source}} · output {{.Output}}</div>
{{if .Reason}}<p><b>Reason:</b> {{.Reason}}</p>{{end}}
<div class="cards">
<div class="card"><b id="items">{{.Counts.Items}}</b>items</div>
<div class="card"><b>{{.Counts.Succeeded}}</b>succeeded</div>
<div class="card"><b>{{.Counts.Skipped}}</b>skipped (current)</div>
<div class="card"><b>{{.Counts.Failed}}</b>failed ({{pct .Counts.Failed .Counts.Items}} %)</div>
<div class="card"><b>{{printf "%.1f" .Rate}}</b>items/s</div>
<div class="card"><b>{{bytes .Counts.BytesIn}}</b>in → {{bytes .Counts.BytesOut}} out</div>
</div>
<h2>Throughput</h2>
{{.Throughput}}
<h2>Failures by reason</h2>
{{if .Failures}}<table><tr><th>code</th><th>count</th><th>example message</th><th>example keys</th></tr>
{{range .Failures}}<tr><td><code>{{.Code}}</code></td><td>{{.Count}}</td><td>{{.Example}}</td><td>{{range .Keys}}<code>{{.}}</code><br>{{end}}</td></tr>{{end}}
</table>{{else}}<p class="muted">No failures.</p>{{end}}
<h2>Sample outputs</h2>
{{if .Thumbs}}<div class="sheet">{{range .Thumbs}}<figure><img src="{{.URI}}" width="{{.Width}}" height="{{.Height}}" alt="{{.Variant}} of {{.Key}}"><figcaption>{{.Key}} · {{.Variant}} {{.Width}}×{{.Height}}</figcaption></figure>{{end}}</div>
{{else}}<p class="muted">No sample outputs.</p>{{end}}
<h2>Recipe <code>{{.RecipeHash}}</code></h2>
<table><tr><th>variant</th><th>size</th><th>fit</th><th>format</th><th>quality</th></tr>
{{range .Recipe.Variants}}<tr><td>{{.Name}}</td><td>{{.Width}}×{{.Height}}</td><td>{{.Fit}}</td><td>{{.Format}}</td><td>{{.Quality}}</td></tr>{{end}}
</table>
<h2>Shards</h2>
{{.Timeline}}
<table><tr><th>shard</th><th>items</th><th>failed</th><th>time</th><th>owner (epoch)</th></tr>
{{range .Shards}}<tr><td>{{.N}}</td><td>{{.Items}}</td><td>{{.Failed}}</td><td>{{.End.Sub .Start}}</td><td><code>{{.Owner}}</code> ({{.Epoch}})</td></tr>{{end}}
</table>
</body></html>
`
