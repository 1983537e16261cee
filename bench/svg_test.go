package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// chartFixture is a run of two tables with Mustaine on both backends,
// gnet and net/http, over a busy, an idle and a TLS load.
func chartFixture() (tableSpec, results) {
	o := &options{WrkConns: 64, Depth: 16, IdleConns: 100, KeyShare: "x25519"}
	var loads []load
	for _, l := range allLoads(o) {
		switch l.Name {
		case "plaintext", "pipelined", "idle-http", "https":
			loads = append(loads, l)
		}
	}
	targets := []target{
		{Name: "mustaine", Kind: kindHTTP, Ours: true, TLS: true, Backend: "epoll"},
		{Name: "mustaine", Kind: kindHTTP, Ours: true, TLS: true, Backend: "io_uring"},
		{Name: "gnet", Kind: kindHTTP},
		{Name: "nethttp", Kind: kindHTTP, TLS: true},
	}
	configs := []runConfig{{Name: "pinned", Title: "pinned", Pinned: true, Loops: 1}, {Name: "unpinned", Title: "unpinned", Loops: 2}}
	res := results{}
	for ci, cfg := range configs {
		for li, l := range loads {
			for ti, t := range targets {
				if !l.appliesTo(t) {
					continue
				}
				c := res.at(cellKey{cfg.Name, l.Name, t.label()})
				// Distinct values everywhere, three rounds each, and one
				// ratio far beyond the axis.
				k := float64(1 + ci + 2*li + 3*ti)
				if t.Name == "nethttp" && l.Name == "pipelined" {
					k *= 20
				}
				for r := range 3 {
					f := k * (1 + 0.01*float64(r))
					c.Samples = append(c.Samples, sample{Throughput: 1000 / f, CPUPerOp: time.Duration(1000 * f), BytesPerConn: 100 * f})
				}
			}
		}
	}
	return tableSpec{Configs: configs, Loads: loads, Targets: targets}, res
}

// svgBars reads the bars of an SVG chart with encoding/xml, failing the
// test if the document is not well-formed XML: config/load/target → the
// value label.
func svgBars(t *testing.T, svg []byte) map[string]string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	bars := map[string]string{}
	var key string
	inValue := false
	root := true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root {
				if e.Name.Local != "svg" || e.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", e.Name)
				}
				root = false
			}
			attr := func(n string) string {
				for _, a := range e.Attr {
					if a.Name.Local == n {
						return a.Value
					}
				}
				return ""
			}
			switch {
			case e.Name.Local == "g" && attr("class") == "bar":
				key = attr("data-config") + "/" + attr("data-load") + "/" + attr("data-target")
			case e.Name.Local == "text" && attr("class") == "value":
				inValue = true
			}
		case xml.CharData:
			if inValue {
				bars[key] += string(e)
			}
		case xml.EndElement:
			inValue = false
		}
	}
	return bars
}

// tableRatios reads the markdown tables: config/load/target → the "vs"
// columns of the row (throughput, CPU; or RSS for the idle tables).
func tableRatios(spec tableSpec, md string) map[string][]string {
	titles := map[string]string{}
	for _, l := range spec.Loads {
		titles[l.Title] = l.Name
	}
	out := map[string][]string{}
	cfg := ""
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "## ") {
			for _, c := range spec.Configs {
				if line == "## "+c.Title {
					cfg = c.Name
				}
			}
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) < 5 || titles[strings.TrimSpace(cols[1])] == "" {
			continue
		}
		key := cfg + "/" + titles[strings.TrimSpace(cols[1])] + "/" + strings.TrimSpace(cols[2])
		if len(cols) >= 10 {
			out[key] = []string{strings.TrimSpace(cols[4]), strings.TrimSpace(cols[6])}
		} else {
			out[key] = []string{strings.TrimSpace(cols[4])}
		}
	}
	return out
}

func TestChartsAreWellFormedSVGWhoseBarsMatchTheTable(t *testing.T) {
	spec, res := chartFixture()
	table := tableRatios(spec, renderMarkdown(spec, res))
	if len(table) == 0 {
		t.Fatal("no table rows parsed")
	}
	column := map[string]int{"results-rate.svg": 0, "results-cpu.svg": 1, "results-memory.svg": 0}
	for _, c := range charts {
		svg := renderChart(c, spec, res)
		if svg == nil {
			t.Fatalf("%s: nothing drawn", c.File)
		}
		bars := svgBars(t, svg)
		checked := 0
		for key, cols := range table {
			idle := len(cols) == 1
			if idle != (c.File == "results-memory.svg") {
				continue
			}
			label, ok := bars[key]
			if !ok {
				t.Errorf("%s: no bar for table row %s", c.File, key)
				continue
			}
			want := cols[column[c.File]]
			if strings.TrimSuffix(label, " ›") != want {
				t.Errorf("%s: bar %s says %q, the table %q", c.File, key, label, want)
			}
			checked++
		}
		if checked == 0 || checked != len(bars) {
			t.Errorf("%s: %d bars, %d of them match table rows", c.File, len(bars), checked)
		}
	}
}

func TestChartBarsBeyondTheAxisAreMarkedAndTheBaselineIsOne(t *testing.T) {
	spec, res := chartFixture()
	var cpu chart
	for _, c := range charts {
		if c.File == "results-cpu.svg" {
			cpu = c
		}
	}
	bars := svgBars(t, renderChart(cpu, spec, res))
	if got := bars["pinned/pipelined/nethttp"]; !strings.HasSuffix(got, "×"+" ›") {
		t.Errorf("net/http's 20× pipelined CPU bar is labelled %q, want the exact ratio and ›", got)
	}
	for key, label := range bars {
		if strings.HasSuffix(key, "/gnet") && !strings.HasPrefix(key, "pinned/https") && !strings.HasPrefix(key, "unpinned/https") && label != "1.00×" {
			t.Errorf("baseline bar %s is %q, want 1.00×", key, label)
		}
	}
	if _, ok := bars["pinned/https/nethttp"]; !ok {
		t.Error("the TLS load has no net/http bar (its baseline)")
	}
}

func TestChartsOfAnEmptyRunDrawNothing(t *testing.T) {
	spec, _ := chartFixture()
	for _, c := range charts {
		if svg := renderChart(c, spec, results{}); svg != nil {
			t.Errorf("%s drawn without results", c.File)
		}
	}
}

func TestChartTextIsEscaped(t *testing.T) {
	spec, res := chartFixture()
	spec.Header = `Measured <today> & "here"`
	svgBars(t, renderChart(charts[0], spec, res)) // fails if not well-formed
}
