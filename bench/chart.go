package bench

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// palette of the chart's series (colour-blind friendly, Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442", "#999999", "#882255"}

// dash is the stroke pattern of series si: solid for the first round of
// the palette, dashed after it.
func dash(si int) string {
	if si < len(palette) {
		return ""
	}
	return ` stroke-dasharray="7 3"`
}

// series is one line of the chart: a label's values by pool size.
type series struct {
	label  string
	points map[int]float64
}

// chartSeries groups results by label in their order of appearance.
func chartSeries(rs []Result, value func(Result) float64) []series {
	var out []series
	idx := map[string]int{}
	for _, r := range rs {
		if r.Error != "" {
			continue
		}
		i, ok := idx[r.Label]
		if !ok {
			i = len(out)
			idx[r.Label] = i
			out = append(out, series{label: r.Label, points: map[int]float64{}})
		}
		out[i].points[r.Pool] = value(r)
	}
	return out
}

// niceCeil picks the axis of a chart showing 0..v: a tick step of 1, 2,
// 2.5 or 5 × 10^k giving about five ticks, and the top as the first tick
// at or above v.
func niceCeil(v float64) (top, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.2
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	return math.Ceil(v/step-1e-9) * step, step
}

// SVG draws throughput (img/s) and peak RSS (MiB) against pool size, one
// line per implementation and lever set, with the memory budget dashed,
// and under them the RSS over time of the cases at the largest pool size.
// It has no dependencies and no scripts.
func (rep *Report) SVG() string {
	const W = 980
	const panelW, panelH = 400, 280
	const top = 60
	lefts := []float64{70, 560}
	var pools []int
	for _, r := range rep.Results {
		if r.Error == "" && !slices.Contains(pools, r.Pool) {
			pools = append(pools, r.Pool)
		}
	}
	slices.Sort(pools)
	budget := mb(RSSBudget(max(rep.Machine.UsableCPUs, 1)))
	panels := []struct {
		title  string
		unit   string
		series []series
		line   float64 // a dashed reference line (0: none)
	}{
		{"throughput (img/s)", "img/s", chartSeries(rep.Results, func(r Result) float64 { return r.ImgPerSec }), 0},
		{"peak RSS (MiB)", "MiB", chartSeries(rep.Results, func(r Result) float64 { return mb(r.PeakRSS) }), budget},
	}
	// Legend: one entry per series, in rows under the panels.
	type entry struct {
		x, y  float64
		label string
	}
	// Below them: RSS over time of each case at the largest pool size.
	const timeTop, timeH = top + panelH + 90, 180
	var legend []entry
	lx, ly := 70.0, float64(timeTop+timeH+56)
	for _, s := range panels[0].series {
		legend = append(legend, entry{lx, ly, s.label})
		lx += 40 + 7.5*float64(len(s.label))
		if lx > W-160 {
			lx, ly = 70, ly+20
		}
	}
	H := int(ly) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", W, H)
	what := fmt.Sprintf("%s %dx%d q%d", rep.Variant.Format, rep.Variant.Width, rep.Variant.Height, rep.Variant.Quality)
	if len(rep.Recipes) > 1 || (len(rep.Recipes) == 1 && rep.Recipes[0].Name != RecipeSingle) {
		var names []string
		for _, r := range rep.Recipes {
			names = append(names, r.Name)
		}
		what = "recipes " + strings.Join(names, ", ")
	}
	title := fmt.Sprintf("imgbatch bench %s — %s, %s, %d CPUs", rep.Name, rep.Dataset.Name, what, rep.Machine.UsableCPUs)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", 20, html.EscapeString(title))
	for pi, p := range panels {
		x0, y0 := lefts[pi], float64(top)
		maxV := p.line
		for _, s := range p.series {
			for _, v := range s.points {
				maxV = max(maxV, v)
			}
		}
		ymax, step := niceCeil(maxV * 1.05)
		xAt := func(i int) float64 {
			if len(pools) <= 1 {
				return x0 + panelW/2
			}
			return x0 + 20 + float64(i)*(panelW-40)/float64(len(pools)-1)
		}
		yAt := func(v float64) float64 { return y0 + panelH - v/ymax*panelH }
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="13" font-weight="bold">%s</text>`+"\n", x0, y0-12, html.EscapeString(p.title))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0, y0, panelW, panelH)
		for v := 0.0; v <= ymax+step/2; v += step {
			y := yAt(v)
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, x0, x0+panelW, y, y)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, trimFloat(v))
		}
		for i, pool := range pools {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", xAt(i), y0+panelH+16, pool)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">pool size</text>`+"\n", x0+panelW/2, y0+panelH+34)
		if p.line > 0 {
			y := yAt(p.line)
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#D55E00" stroke-dasharray="6 4"/>`, x0, x0+panelW, y, y)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" fill="#D55E00">budget %.0f MiB</text>`+"\n", x0+panelW-4, y-4, p.line)
		}
		for si, s := range p.series {
			color := palette[si%len(palette)]
			var pts []string
			for i, pool := range pools {
				if v, ok := s.points[pool]; ok {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(i), yAt(v)))
				}
			}
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash(si), strings.Join(pts, " "))
			}
			for _, pt := range pts {
				x, y, _ := strings.Cut(pt, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"><title>%s</title></circle>`+"\n", x, y, color, html.EscapeString(s.label))
			}
		}
	}
	rssOverTime(&b, rep, pools, panels[0].series, 70, timeTop, W-110, timeH, budget)
	for si, e := range legend {
		color := palette[si%len(palette)]
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="3"%s/>`, e.x, e.x+22, e.y-4, e.y-4, color, dash(si))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", e.x+28, e.y, html.EscapeString(e.label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// rssOverTime draws the sampled RSS of the cases at the largest pool size
// against seconds since their start, coloured as in the legend.
func rssOverTime(b *strings.Builder, rep *Report, pools []int, ss []series, x0, y0, w, h int, budget float64) {
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">RSS over time (MiB), pool %s</text>`+"\n", x0, y0-12, poolName(pools))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0, y0, w, h)
	if len(pools) == 0 {
		return
	}
	pool := pools[len(pools)-1]
	maxT, maxV := 0.0, budget
	var rs []Result
	for _, r := range rep.Results {
		if r.Error == "" && r.Pool == pool && len(r.RSS) > 0 {
			rs = append(rs, r)
			for _, p := range r.RSS {
				maxT = max(maxT, float64(p.Ms)/1000)
				maxV = max(maxV, mb(p.Bytes))
			}
		}
	}
	tmax, tstep := niceCeil(maxT)
	vmax, vstep := niceCeil(maxV * 1.05)
	xAt := func(t float64) float64 { return float64(x0) + t/tmax*float64(w) }
	yAt := func(v float64) float64 { return float64(y0+h) - v/vmax*float64(h) }
	for v := 0.0; v <= vmax+vstep/2; v += vstep {
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, x0, x0+w, yAt(v), yAt(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, yAt(v)+4, trimFloat(v))
	}
	for t := 0.0; t <= tmax+tstep/2; t += tstep {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xAt(t), y0+h+16, trimFloat(t))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">seconds</text>`+"\n", x0+w/2, y0+h+32)
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#D55E00" stroke-dasharray="6 4"/>`+"\n", x0, x0+w, yAt(budget), yAt(budget))
	for _, r := range rs {
		color, style := "#999999", ""
		for si, s := range ss {
			if s.label == r.Label {
				color, style = palette[si%len(palette)], dash(si)
			}
		}
		pts := make([]string, len(r.RSS))
		for i, p := range r.RSS {
			pts[i] = fmt.Sprintf("%.1f,%.1f", xAt(float64(p.Ms)/1000), yAt(mb(p.Bytes)))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"><title>%s</title></polyline>`+"\n", color, style, strings.Join(pts, " "), html.EscapeString(r.Label))
	}
}

func poolName(pools []int) string {
	if len(pools) == 0 {
		return "–"
	}
	return fmt.Sprint(pools[len(pools)-1])
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}
