package htmlreport

import (
	"fmt"
	"html/template"
	"time"
)

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(a, b int64) string {
		if b == 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", float64(a)*100/float64(b))
	},
	"bytes":     humanBytes,
	"count":     humanCount,
	"ts":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"took":      func(s Shard) string { return humanDuration(s.End.Sub(s.Start)) },
	"breakable": breakable,
	"saved":     saved,
}).Parse(pageHTML))

// pageHTML is the page. Captions and table cells wrap between words
// (keys get <wbr> after their separators); only a single word wider than
// its box is broken (overflow-wrap: break-word).
const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgbatch run {{.RunID}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1a202c;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.status{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.status.ok{background:#38a169}.status.warn{background:#b7791f}.status.failed{background:#c53030}.status.running{background:#4a5568}
.outcome{border-left:4px solid;padding:6px 12px;margin:12px 0;max-width:60em}
.outcome.warn{border-color:#b7791f;background:#fffaf0}.outcome.failed{border-color:#c53030;background:#fff5f5}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:12px}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:120px;max-width:17em}
.card b{display:block;font-size:22px}.card small,.muted{color:#718096}.card small{display:block}
.card.warn{border-color:#b7791f}.card.failed{border-color:#c53030}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #edf2f7;text-align:left;vertical-align:top;overflow-wrap:break-word}
code{font-size:12px;background:#f7fafc;padding:1px 4px;border-radius:4px}
.chart text{font-family:inherit}
.sheet{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.sheet figure{margin:0;width:172px}
.sheet img{max-width:160px;max-height:160px;min-width:4px;min-height:4px;object-fit:contain;display:block;border:1px solid #e2e8f0;background:#f7fafc}
.sheet img.tiny{image-rendering:pixelated;image-rendering:crisp-edges;image-rendering:pixelated}
.sheet figcaption{font-size:11px;color:#4a5568;overflow-wrap:break-word;hyphens:none}
.sheet figcaption span{display:block}
</style></head><body>
<h1>imgbatch run <code>{{.RunID}}</code> <span class="status {{.Outcome.State}}" id="status">{{.Outcome.Label}}</span></h1>
<div class="muted">created {{ts .Created}}{{if not .Finished.IsZero}} · finished {{ts .Finished}} · {{.Duration}}{{end}} · source {{.Source}} · output {{.Output}}</div>
{{if or .Detail .Outcome.Hint}}<div class="outcome {{.Outcome.State}}" id="outcome">{{if .Detail}}<p><b>Why:</b> {{.Detail}}</p>{{end}}
{{if .Outcome.Hint}}<p>{{.Outcome.Hint}} <code>{{.Outcome.Redrive}}</code></p>{{end}}</div>{{end}}
<div class="cards">
<div class="card"><b id="items">{{count .Counts.Items}}</b>items{{if .NotRun}} ran; {{count .NotRun}} never ran{{end}}</div>
<div class="card"><b>{{count .Counts.Succeeded}}</b>succeeded</div>
<div class="card"><b>{{count .Counts.Skipped}}</b>skipped (outputs current)</div>
<div class="card{{if .Counts.Failed}} {{.Outcome.State}}{{end}}" id="failed-card"><b>{{count .Counts.Failed}}</b>failed ({{pct .Counts.Failed .Counts.Items}} %){{if .Outcome.Tolerance}}<small id="tolerance">{{.Outcome.Tolerance}}</small>{{end}}</div>
<div class="card" id="rate"><b>{{.Rate}}</b>items/s end to end<small>from the run's creation (planning) to its reports{{if .Duration}}: {{.Duration}}{{end}}</small></div>
{{if .BusyRate}}<div class="card" id="busy-rate"><b>{{.BusyRate}}</b>items/s while shards ran<small>first shard start to last shard end: {{.Busy}}{{if .BusyPartial}} (of the {{len .Shards}} shards shown){{end}}</small></div>{{end}}
<div class="card"><b>{{bytes .Counts.BytesIn}}</b>in → {{bytes .Counts.BytesOut}} out</div>
</div>
<h2>Items done over time</h2>
{{.Throughput}}
<h2>Failures by reason</h2>
{{if .Failures}}<table><tr><th>code</th><th>count</th><th>example message</th><th>example keys</th></tr>
{{range .Failures}}<tr><td><code>{{.Code}}</code></td><td>{{count .Count}}</td><td>{{.Example}}</td><td>{{range .Keys}}<code>{{breakable .}}</code><br>{{end}}</td></tr>{{end}}
</table>{{else}}<p class="muted">No failures.</p>{{end}}
<h2>Sample outputs</h2>
{{if .Thumbs}}<div class="sheet">{{range .Thumbs}}<figure><img src="{{.URI}}"{{if .ShowW}} width="{{.ShowW}}" height="{{.ShowH}}"{{end}}{{if .Enlarged}} class="tiny"{{end}} data-size="{{.Width}}x{{.Height}}" alt="{{.Variant}} of {{.Key}}"><figcaption><span class="key">{{breakable .Key}}</span><span>{{.Variant}} · {{.Width}}×{{.Height}} px{{if .Enlarged}}, shown {{.Enlarged}}× larger{{end}}</span></figcaption></figure>{{end}}</div>
{{else}}<p class="muted">No sample outputs.</p>{{end}}
<h2>Outputs per variant</h2>
{{if .Variants}}<table id="variants"><tr><th>variant</th><th>outputs</th><th>sources' bytes</th><th>outputs' bytes</th><th>saved</th><th>copies of the source</th><th>formats chosen</th></tr>
{{range .Variants}}<tr><td>{{.Name}}</td><td>{{count .Outputs}}</td><td>{{bytes .BytesIn}}</td><td>{{bytes .BytesOut}}</td><td>{{saved .BytesIn .BytesOut}}</td><td>{{count .Copies}}</td><td>{{range $i, $f := .Formats}}{{if $i}}, {{end}}{{$f.Format}} {{count $f.Count}}{{end}}</td></tr>{{end}}
</table>
{{with .Picture}}<p>The <code>&lt;picture&gt;</code> of <code>{{breakable .Key}}</code> (every source's is in <code>picture.jsonl</code>; keys relative to the output bucket's URL):</p>
<pre id="picture"><code>{{.Markup}}</code></pre>{{end}}
{{else}}<p class="muted">No outputs written.</p>{{end}}
<h2>Recipe <code>{{.RecipeHash}}</code></h2>
<table><tr><th>variant</th><th>size</th><th>fit</th><th>format</th><th>quality</th></tr>
{{range .Recipe.Variants}}<tr><td>{{.Name}}</td><td>{{.Width}}×{{.Height}}</td><td>{{.Fit}}</td><td>{{.Format}}</td><td>{{.Quality}}</td></tr>{{end}}
</table>
<h2>Shards</h2>
{{.Timeline}}
<table id="shards"><tr><th>shard</th><th>items</th><th>failed</th><th>time</th><th>owner (epoch)</th></tr>
{{range .Shards}}<tr><td>{{.N}}</td><td>{{count .Items}}</td><td>{{count .Failed}}</td><td class="took">{{took .}}</td><td><code>{{.Owner}}</code> ({{.Epoch}})</td></tr>{{end}}
</table>
</body></html>
`
