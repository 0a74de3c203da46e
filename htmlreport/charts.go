package htmlreport

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"
)

// Chart geometry: the plot area sits inside margins that hold the tick
// labels (left: counts or shard names; bottom: times and the axis title).
const (
	chartW, chartH     = 720, 240
	padL, padR, padTop = 64, 24, 18
	padBottom          = 44
	barH               = 12
	maxBars            = 300
)

// origin is time zero of both charts: the run's creation (planning
// starts), or the earliest shard start if that is unknown or earlier.
func origin(d Data) time.Time {
	t0 := d.Created
	for _, s := range d.Shards {
		if t0.IsZero() || s.Start.Before(t0) {
			t0 = s.Start
		}
	}
	return t0
}

// timeScale draws a time axis along y (ticks, labels, gridlines up to
// top) from 0 to at least span, and returns the x of a time offset.
func timeScale(b *strings.Builder, span time.Duration, top, y int) func(time.Duration) float64 {
	ticks, step, extent := timeAxis(span)
	x := func(t time.Duration) float64 {
		return padL + float64(chartW-padL-padR)*float64(t)/float64(extent)
	}
	fmt.Fprintf(b, `<g class="axis x" font-size="11" fill="#4a5568"><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#718096"/>`, padL, y, chartW-padR, y)
	for _, t := range ticks {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e8f0"/><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#718096"/>`,
			x(t), top, x(t), y, x(t), y, x(t), y+4)
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(t), y+17, axisLabel(t, step, extent))
	}
	fmt.Fprintf(b, `<text class="title" x="%d" y="%d" text-anchor="middle">time since the run was created</text></g>`, padL+(chartW-padL-padR)/2, y+35)
	return x
}

// throughputSVG plots items done against time since the run was created
// (cumulative, from the shards' end times), with both axes ticked.
func throughputSVG(d Data) template.HTML {
	shards := append([]Shard(nil), d.Shards...)
	sort.Slice(shards, func(i, j int) bool { return shards[i].End.Before(shards[j].End) })
	var total int64
	for _, s := range shards {
		total += s.Items
	}
	if len(shards) == 0 || total == 0 {
		return template.HTML(`<p class="muted">No finished shards yet.</p>`)
	}
	t0 := origin(d)
	base := chartH - padBottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart throughput" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="items done over time">`, chartW, chartH, chartW, chartH)
	x := timeScale(&b, shards[len(shards)-1].End.Sub(t0), padTop, base)
	ticks, extent := countAxis(total)
	y := func(n int64) float64 { return float64(base) - float64(base-padTop)*float64(n)/float64(extent) }
	b.WriteString(`<g class="axis y" font-size="11" fill="#4a5568">`)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#718096"/>`, padL, padTop, padL, base)
	for _, n := range ticks {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e2e8f0"/><text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, y(n), chartW-padR, y(n), padL-6, y(n)+4, humanCount(n))
	}
	fmt.Fprintf(&b, `<text class="title" x="%d" y="%d">items done</text></g>`, padL+6, padTop-6)
	pts := []string{fmt.Sprintf("%.1f,%.1f", x(0), y(0))}
	var cum int64
	for _, s := range shards {
		cum += s.Items
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.End.Sub(t0)), y(cum)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#2b6cb0" stroke-width="2.5" points="%s"/></svg>`, strings.Join(pts, " "))
	return template.HTML(b.String())
}

// timelineSVG draws one bar per shard from its start to its end on the
// same time axis as the throughput chart (at most maxBars shards; a larger
// run shows the slowest ones).
func timelineSVG(d Data) template.HTML {
	shards := append([]Shard(nil), d.Shards...)
	if len(shards) == 0 {
		return ""
	}
	if len(shards) > maxBars {
		sort.Slice(shards, func(i, j int) bool { return shards[i].End.Sub(shards[i].Start) > shards[j].End.Sub(shards[j].Start) })
		shards = shards[:maxBars]
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].N < shards[j].N })
	t0, span := origin(d), time.Duration(0)
	for _, s := range shards {
		span = max(span, s.End.Sub(t0))
	}
	base := padTop + len(shards)*barH + 4
	h := base + padBottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart timeline" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="shard timeline">`, chartW, h, chartW, h)
	x := timeScale(&b, span, padTop, base)
	for i, s := range shards {
		color := "#38a169"
		if s.Failed > 0 {
			color = "#dd6b20"
		}
		x0, x1 := x(s.Start.Sub(t0)), x(s.End.Sub(t0))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end">shard %d</text><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>shard %d: %d items, %d failed, %s, %s</title></rect>`,
			padL-6, padTop+i*barH+9, s.N, x0, padTop+i*barH+1, max(x1-x0, 1), barH-2, color,
			s.N, s.Items, s.Failed, humanDuration(s.End.Sub(s.Start)), template.HTMLEscapeString(s.Owner))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
