package bench

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// point is one level on a plot.
type point struct {
	x, y  float64
	label string
}

// series is one line on a plot.
type series struct {
	name  string
	color string
	pts   []point
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so that axis
// ticks fall on round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*exp >= v*(1-1e-9) {
			return m * exp
		}
	}
	return 10 * exp
}

// svgPlot draws series as lines with labelled points on linear axes from
// zero. Points keep sweep order, so an overloaded server whose throughput
// falls while latency climbs shows as the curve bending back.
func svgPlot(title, xLabel, yLabel string, ss []series) string {
	const (
		w, h                   = 640, 380
		left, right, top, bott = 70, 20, 48, 56
		ticks                  = 5
	)
	pw, ph := float64(w-left-right), float64(h-top-bott)
	xmax, ymax := 0.0, 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			xmax, ymax = max(xmax, p.x), max(ymax, p.y)
		}
	}
	xmax, ymax = niceCeil(xmax*1.05), niceCeil(ymax*1.05)
	px := func(x float64) float64 { return float64(left) + x/xmax*pw }
	py := func(y float64) float64 { return float64(top) + ph - y/ymax*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, h, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="20" class="title">%s</text>`, left, html.EscapeString(title))
	for i := 0; i <= ticks; i++ {
		xv, yv := xmax*float64(i)/ticks, ymax*float64(i)/ticks
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" class="grid"/>`, px(xv), top, px(xv), float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="tick" text-anchor="middle">%s</text>`, px(xv), float64(top)+ph+16, tickLabel(xv))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, left, py(yv), float64(left)+pw, py(yv))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, left-6, py(yv)+4, tickLabel(yv))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" class="frame"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`, float64(left)+pw/2, h-14, html.EscapeString(xLabel))
	fmt.Fprintf(&b, `<text x="16" y="%.1f" class="axis" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`,
		float64(top)+ph/2, float64(top)+ph/2, html.EscapeString(yLabel))
	for si, s := range ss {
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), s.color)
		for _, p := range s.pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s %s: %s, %s</title></circle>`,
				px(p.x), py(p.y), s.color, html.EscapeString(s.name), html.EscapeString(p.label), fmtNum(p.x), fmtNum(p.y))
			if si == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="pt">%s</text>`, px(p.x)+6, py(p.y)-6, html.EscapeString(p.label))
			}
		}
		// The legend has a row of its own above the frame, where no data
		// point can hide it.
		lx := float64(w-right) - float64(len(ss)-si)*90
		fmt.Fprintf(&b, `<rect x="%.1f" y="32" width="12" height="4" fill="%s"/><text x="%.1f" y="38" class="tick">%s</text>`,
			lx, s.color, lx+16, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// tickLabel prints an axis value without trailing zeros (4, 2.5, 0.25).
func tickLabel(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}

// latencySeries builds mean/p50/p99 lines of one latency against x.
func latencySeries(levels []LevelResult, x func(*LevelResult) float64, d func(*LevelResult) *Dist) []series {
	names := []string{"p50", "p90", "p99"}
	get := []func(*Dist) float64{
		func(d *Dist) float64 { return d.P50 },
		func(d *Dist) float64 { return d.P90 },
		func(d *Dist) float64 { return d.P99 },
	}
	var out []series
	for i, n := range names {
		s := series{name: n, color: plotColors[i]}
		for j := range levels {
			l := &levels[j]
			if d(l).Count == 0 {
				continue
			}
			s.pts = append(s.pts, point{x: x(l), y: get[i](d(l)), label: l.Label})
		}
		if len(s.pts) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// WriteHTML renders the report as one self-contained HTML page: the
// parameters, the summary table and SVG plots of latency against
// throughput across the sweep. It needs no script and no network.
func (r *Report) WriteHTML(path string) error {
	return writeFile(path, []byte(r.HTML()))
}

// HTML returns the page WriteHTML writes.
func (r *Report) HTML() string {
	var b strings.Builder
	title := "infergate bench"
	if r.Label != "" {
		title += ": " + r.Label
	}
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
	fmt.Fprintf(&b, "<title>%s</title>", html.EscapeString(title))
	b.WriteString(`<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}
svg{background:#fff;border:1px solid #ddd}
.grid{stroke:#eee}.frame{fill:none;stroke:#888}.tick{font-size:11px;fill:#444}.axis{font-size:12px;fill:#222}
.title{font-size:14px;font-weight:bold}.pt{font-size:10px;fill:#555}
</style></head><body>`)
	fmt.Fprintf(&b, "<h1>%s</h1>", html.EscapeString(title))
	if r.Interrupted {
		b.WriteString("<p><strong>Interrupted:</strong> figures cover what had finished.</p>")
	}

	b.WriteString("<h2>Parameters</h2><table>")
	p := r.Params
	kv := [][2]string{
		{"url", p.URL}, {"model", p.Model}, {"api", p.API}, {"stream", fmt.Sprint(p.Stream)},
		{"mode", p.Mode}, {"input tokens", p.InputTokens}, {"output tokens", p.OutputTokens},
		{"turns", fmt.Sprint(p.Turns)}, {"dataset", p.Dataset}, {"slo", p.SLO},
		{"requests per level", fmt.Sprint(p.Requests)}, {"duration per level", p.Duration},
		{"seed", fmt.Sprint(p.Seed)}, {"started", r.StartedAt}, {"finished", r.FinishedAt},
		{"client", fmt.Sprintf("%s %s/%s, %d CPUs, %s", r.Client.Hostname, r.Client.OS, r.Client.Arch, r.Client.CPUs, r.Client.GoVersion)},
	}
	if p.API == "embeddings" {
		kv = append(kv, [2]string{"batch", fmt.Sprint(p.Batch)})
	}
	if p.Mode == "open" {
		kv = append(kv, [2]string{"burstiness", fmtNum(p.Burstiness)}, [2]string{"max in flight", fmt.Sprint(p.MaxInflight)})
	}
	for _, e := range kv {
		if e[1] == "" || e[1] == "0" {
			continue
		}
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>", html.EscapeString(e[0]), html.EscapeString(e[1]))
	}
	b.WriteString("</table>")

	if len(r.Levels) > 0 {
		b.WriteString("<h2>Plots</h2><div class=\"plots\">")
		reqs := func(l *LevelResult) float64 { return l.RequestThroughput }
		toks := func(l *LevelResult) float64 { return l.OutputTokensPerS }
		b.WriteString(svgPlot("End-to-end latency vs request throughput", "requests/s", "latency ms",
			latencySeries(r.Levels, reqs, func(l *LevelResult) *Dist { return &l.E2E })))
		if !isEmbed(r) && p.Stream {
			b.WriteString(svgPlot("Time to first token vs output throughput", "output tokens/s", "TTFT ms",
				latencySeries(r.Levels, toks, func(l *LevelResult) *Dist { return &l.TTFT })))
			b.WriteString(svgPlot("Time per output token vs output throughput", "output tokens/s", "TPOT ms",
				latencySeries(r.Levels, toks, func(l *LevelResult) *Dist { return &l.TPOT })))
		}
		if hasGoodput(r) {
			all := series{name: "throughput", color: plotColors[0]}
			good := series{name: "goodput", color: plotColors[2]}
			for i := range r.Levels {
				l := &r.Levels[i]
				x := float64(l.Concurrency)
				if l.Rate > 0 {
					x = l.Rate
				}
				all.pts = append(all.pts, point{x: x, y: l.RequestThroughput, label: l.Label})
				if l.Goodput != nil {
					good.pts = append(good.pts, point{x: x, y: l.Goodput.RequestsPerS, label: l.Label})
				}
			}
			xl := "concurrency"
			if p.Mode == "open" {
				xl = "offered rate req/s"
			}
			b.WriteString(svgPlot("Goodput ("+p.SLO+") vs load", xl, "requests/s", []series{all, good}))
		}
		b.WriteString("</div>")
	}

	b.WriteString("<h2>Summary</h2><pre>")
	var sum strings.Builder
	r.WriteSummary(&sum)
	b.WriteString(html.EscapeString(sum.String()))
	b.WriteString("</pre></body></html>\n")
	return b.String()
}
