package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A chart draws one metric of one run as ratios to the baseline measured
// in the same run (gnet, or net/http for the TLS loads): one group of
// bars per table and load, one bar per target. It is plain SVG written by
// hand, so the harness needs nothing beyond the standard library, and each
// bar's label is the very text of the table's "vs" column.
type chart struct {
	File  string // file name, written beside the markdown
	Title string
	// Note says which way is better, under the title.
	Note  string
	Value func(summary) float64
	Takes func(load) bool // the loads the chart shows
}

// charts are the SVG files the harness writes.
var charts = []chart{
	{File: "results-cpu.svg", Title: "Server CPU per request or message, as a ratio to the baseline",
		Note:  "lower is better; the baseline is gnet (net/http for the TLS loads), measured in the same run",
		Value: func(s summary) float64 { return s.CPUPerOp }, Takes: func(l load) bool { return !l.Idle }},
	{File: "results-rate.svg", Title: "Requests or messages per second, as a ratio to the baseline",
		Note:  "higher is better; the baseline is gnet (net/http for the TLS loads), measured in the same run",
		Value: func(s summary) float64 { return s.Throughput }, Takes: func(l load) bool { return !l.Idle }},
	{File: "results-memory.svg", Title: "Server RSS per idle connection, as a ratio to the baseline",
		Note:  "lower is better; the baseline is gnet (net/http for the TLS loads), measured in the same run",
		Value: func(s summary) float64 { return s.BytesPerConn }, Takes: func(l load) bool { return l.Idle }},
}

// Chart geometry, in SVG user units (pixels).
const (
	svgWidth    = 960
	svgLabelW   = 300 // the target names left of the bars
	svgBarsW    = 560 // the bars' area; the value labels go right of it
	svgBarH     = 16
	svgBarGap   = 4
	svgGroupGap = 14
	svgHeadH    = 20 // a group's title line
	svgTop      = 64
	// svgAxisMax bounds the axis: a ratio beyond it (net/http pipelined is
	// 20× gnet's CPU) is drawn to the edge with an arrow, its label exact.
	svgAxisMax = 3.0
)

// chartBar is one bar: a target's ratio under one load of one table.
type chartBar struct {
	Config, Load, Target string
	Ratio                float64 // 0 when unknown
	Label                string  // ratio()'s text, as in the table
}

// chartGroup is the bars of one table and load.
type chartGroup struct {
	Title string
	Bars  []chartBar
}

// chartGroups collects what chart c shows of res, in table order. A load
// with no baseline result draws no group.
func chartGroups(c chart, spec tableSpec, res results) []chartGroup {
	var groups []chartGroup
	for _, cfg := range spec.Configs {
		for _, l := range spec.Loads {
			if !c.Takes(l) {
				continue
			}
			baseSamples := res.samples(cellKey{cfg.Name, l.Name, l.base()})
			if baseSamples == nil {
				continue
			}
			base := c.Value(summarize(baseSamples))
			g := chartGroup{Title: fmt.Sprintf("%s — %s (vs %s)", l.Title, cfg.Name, l.base())}
			for _, t := range spec.Targets {
				if !l.appliesTo(t) {
					continue
				}
				samples := res.samples(cellKey{cfg.Name, l.Name, t.label()})
				if samples == nil {
					continue
				}
				v := c.Value(summarize(samples))
				b := chartBar{Config: cfg.Name, Load: l.Name, Target: t.label(), Label: ratio(v, base)}
				if v > 0 && base > 0 {
					b.Ratio = v / base
				}
				g.Bars = append(g.Bars, b)
			}
			if len(g.Bars) > 0 {
				groups = append(groups, g)
			}
		}
	}
	return groups
}

// samples returns the samples of cell k, or nil when it has none.
func (r results) samples(k cellKey) []sample {
	if c := r[k]; c != nil && len(c.Samples) > 0 {
		return c.Samples
	}
	return nil
}

// renderChart draws chart c of res; it returns nil when there is nothing
// to draw.
func renderChart(c chart, spec tableSpec, res results) []byte {
	groups := chartGroups(c, spec, res)
	if len(groups) == 0 {
		return nil
	}
	axis := 1.2
	for _, g := range groups {
		for _, b := range g.Bars {
			axis = max(axis, b.Ratio*1.1)
		}
	}
	axis = min(axis, svgAxisMax)
	x0 := float64(svgLabelW)
	scale := float64(svgBarsW) / axis
	height := svgTop
	for _, g := range groups {
		height += svgHeadH + len(g.Bars)*(svgBarH+svgBarGap) + svgGroupGap
	}
	height += 24

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", esc(c.Title))
	fmt.Fprintf(&b, `<text x="10" y="40" fill="#555555">%s</text>`+"\n", esc(c.Note))
	if spec.Header != "" {
		fmt.Fprintf(&b, `<text x="10" y="55" fill="#555555" font-size="10">%s</text>`+"\n", esc(spec.Header))
	}
	// Grid lines at every half, the baseline's 1.0 solid.
	for v := 0.5; v <= axis+1e-9; v += 0.5 {
		x := x0 + v*scale
		style := `stroke="#dddddd"`
		if v == 1 {
			style = `stroke="#333333" stroke-width="1.5"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" %s/>`+"\n", x, svgTop-6, x, height-24, style)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555" font-size="10">%.1f×</text>`+"\n", x, height-10, v)
	}
	y := svgTop
	for _, g := range groups {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+14, esc(g.Title))
		y += svgHeadH
		for _, bar := range g.Bars {
			w := min(bar.Ratio, axis) * scale
			fmt.Fprintf(&b, `<g class="bar" data-config="%s" data-load="%s" data-target="%s">`,
				esc(bar.Config), esc(bar.Load), esc(bar.Target))
			fmt.Fprintf(&b, `<title>%s: %s</title>`, esc(bar.Target), esc(bar.Label))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end">%s</text>`, x0-8, y+svgBarH-4, esc(bar.Target))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`, x0, y, w, svgBarH, barColour(bar.Target))
			label := bar.Label
			if bar.Ratio > axis {
				label += " ›" // drawn to the edge: the bar is longer than the axis
			}
			fmt.Fprintf(&b, `<text class="value" x="%.1f" y="%d">%s</text>`, x0+w+6, y+svgBarH-4, esc(label))
			b.WriteString("</g>\n")
			y += svgBarH + svgBarGap
		}
		y += svgGroupGap
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// barColour gives Mustaine's bars their own colours and the baseline a
// neutral one.
func barColour(target string) string {
	switch {
	case target == "mustaine":
		return "#2b6cb0"
	case strings.HasPrefix(target, "mustaine"):
		return "#805ad5"
	case target == baseline || target == tlsBaseline:
		return "#718096"
	default:
		return "#a0aec0"
	}
}

// esc escapes s for SVG text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeCharts writes every chart that has something to draw into dir and
// returns the files written.
func writeCharts(dir string, spec tableSpec, res results) ([]string, error) {
	var files []string
	for _, c := range charts {
		svg := renderChart(c, spec, res)
		if svg == nil {
			continue
		}
		p := filepath.Join(dir, c.File)
		if err := os.WriteFile(p, svg, 0o644); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}
