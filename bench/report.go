package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// sample is one measurement of one target under one load. Which fields
// are set depends on the load.
type sample struct {
	Throughput   float64       // requests or messages per second
	MBps         float64       // echo loads: megabytes per second
	CPUPerOp     time.Duration // server CPU time per request or message
	P99          time.Duration // 99th percentile latency
	BytesPerConn float64       // idle load: server RSS growth per connection
	Errors       int64         // wrk socket errors, reported, not fatal
	LoadBusy     float64       // https-handshake: the load generator's CPU / wall time, for the progress line
	Round        int           // which round (from 1) measured it; 0: unknown
}

// cell holds every round of one (config, load, target).
type cell struct {
	Samples  []sample
	Failures []string // one per failed round
	Missing  string   // set when the target's package does not exist
}

// cellKey names a cell.
type cellKey struct{ Config, Load, Target string }

// results collects cells as rounds complete.
type results map[cellKey]*cell

func (r results) at(k cellKey) *cell {
	c := r[k]
	if c == nil {
		c = &cell{}
		r[k] = c
	}
	return c
}

// median returns the middle value of xs (the mean of the two middle ones
// for an even count), or 0 for none. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// summary is a cell reduced to medians, each metric on its own, so one
// noisy round moves none of them.
type summary struct {
	N            int
	Throughput   float64
	MBps         float64
	CPUPerOp     float64 // nanoseconds
	CPUSpread    float64 // (max-min)/median of CPUPerOp, a noise gauge
	P99          float64 // nanoseconds
	BytesPerConn float64
	Errors       int64
	// CPURatioMin and CPURatioMax bound the per-round CPU / op ratios to
	// the baseline: each round's sample divided by the baseline's sample
	// of the same round, measured minutes apart at most. Zero when fewer
	// than two rounds pair up (see pairedCPURatios).
	CPURatioMin, CPURatioMax float64
}

func summarize(samples []sample) summary {
	pick := func(f func(sample) float64) []float64 {
		out := make([]float64, len(samples))
		for i, s := range samples {
			out[i] = f(s)
		}
		return out
	}
	cpu := pick(func(s sample) float64 { return float64(s.CPUPerOp) })
	sm := summary{
		N:            len(samples),
		Throughput:   median(pick(func(s sample) float64 { return s.Throughput })),
		MBps:         median(pick(func(s sample) float64 { return s.MBps })),
		CPUPerOp:     median(cpu),
		P99:          median(pick(func(s sample) float64 { return float64(s.P99) })),
		BytesPerConn: median(pick(func(s sample) float64 { return s.BytesPerConn })),
	}
	if sm.CPUPerOp > 0 {
		sm.CPUSpread = (slices.Max(cpu) - slices.Min(cpu)) / sm.CPUPerOp
	}
	for _, s := range samples {
		sm.Errors += s.Errors
	}
	return sm
}

// ratio formats v/base as "1.02×", or "—" when either is unknown.
func ratio(v, base float64) string {
	if v <= 0 || base <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

// fmtRate formats a per-second rate with a k/M suffix.
func fmtRate(v float64, unit string) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM %s", v/1e6, unit)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk %s", v/1e3, unit)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}

// fmtNanos formats a duration given in nanoseconds with three significant
// digits in µs or ms, the ranges server CPU and latency fall in.
func fmtNanos(ns float64) string {
	switch {
	case ns <= 0:
		return "—"
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	default:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	}
}

// tableSpec is what renderMarkdown needs besides the results.
type tableSpec struct {
	Configs []runConfig
	Loads   []load
	Targets []target
	Header  string // free text printed under the title
}

// renderMarkdown writes one throughput table and one memory table per
// configuration and baseline: medians over the rounds and ratios to the
// baseline (gnet, or net/http for the TLS loads) measured in the same run.
func renderMarkdown(spec tableSpec, res results) string {
	var b strings.Builder
	b.WriteString("# Mustaine bench results\n\n")
	if spec.Header != "" {
		b.WriteString(spec.Header + "\n\n")
	}
	for _, cfg := range spec.Configs {
		fmt.Fprintf(&b, "## %s\n\n", cfg.Title)
		// The plaintext loads against gnet, then the TLS loads against
		// net/http (gnet has no TLS): one pair of tables for each.
		for _, base := range []string{baseline, tlsBaseline} {
			var busy, idle []load
			for _, l := range spec.Loads {
				switch {
				case l.base() != base:
				case l.Idle:
					idle = append(idle, l)
				default:
					busy = append(busy, l)
				}
			}
			if len(busy) > 0 {
				fmt.Fprintf(&b, "| Load | Target | Throughput | vs %[1]s | Server CPU / op | vs %[1]s | CPU spread | p99 latency | vs %[1]s |\n", base)
				b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
				for _, l := range busy {
					writeRows(&b, cfg, l, spec.Targets, res, busyRow)
				}
				b.WriteString("\n")
			}
			if len(idle) > 0 {
				fmt.Fprintf(&b, "| Load | Target | Server RSS / idle conn | vs %s |\n", base)
				b.WriteString("|---|---|---:|---:|\n")
				for _, l := range idle {
					writeRows(&b, cfg, l, spec.Targets, res, idleRow)
				}
				b.WriteString("\n")
			}
		}
	}
	b.WriteString("Medians over the rounds; \"vs gnet\" (\"vs nethttp\" for the TLS loads) divides by that target's median in the same run " +
		"(for CPU, latency and memory lower is better). Server CPU / op is the server's " +
		"utime+stime over the load divided by the requests or messages served. " +
		"CPU spread is (max−min)/median of CPU / op over the rounds. In brackets after a CPU ratio: the lowest and highest " +
		"of the per-round ratios, each round's CPU / op divided by the baseline's in the same round (run back to back).\n")
	return b.String()
}

// rowFunc renders the measured columns of one row.
type rowFunc func(l load, s, base summary, hasBase bool) string

func writeRows(b *strings.Builder, cfg runConfig, l load, targets []target, res results, row rowFunc) {
	baseCell := res[cellKey{cfg.Name, l.Name, l.base()}]
	var base summary
	hasBase := baseCell != nil && len(baseCell.Samples) > 0
	if hasBase {
		base = summarize(baseCell.Samples)
	}
	for _, t := range targets {
		if !l.appliesTo(t) {
			continue
		}
		c := res[cellKey{cfg.Name, l.Name, t.label()}]
		if c == nil {
			continue // target not selected
		}
		fmt.Fprintf(b, "| %s | %s | ", l.Title, t.label())
		switch {
		case c.Missing != "":
			fmt.Fprintf(b, "missing: %s |\n", c.Missing)
			continue
		case len(c.Samples) == 0:
			fmt.Fprintf(b, "FAILED: %s |\n", escapeCell(firstOr(c.Failures, "no result")))
			continue
		}
		s := summarize(c.Samples)
		if hasBase && t.label() != l.base() {
			if rs := pairedCPURatios(c.Samples, baseCell.Samples); len(rs) >= 2 {
				s.CPURatioMin, s.CPURatioMax = slices.Min(rs), slices.Max(rs)
			}
		}
		b.WriteString(row(l, s, base, hasBase))
		if len(c.Failures) > 0 {
			fmt.Fprintf(b, " %d of %d rounds FAILED: %s |", len(c.Failures), len(c.Failures)+len(c.Samples),
				escapeCell(c.Failures[0]))
		}
		b.WriteString("\n")
	}
}

// pairedCPURatios divides each of samples' CPU / op by that of the
// baseline's sample from the same round. The rounds interleave the
// targets, so a pair ran back to back: the machine's drift, which moves
// medians measured minutes apart, mostly cancels within a pair.
func pairedCPURatios(samples, base []sample) []float64 {
	var out []float64
	for _, s := range samples {
		if s.Round == 0 || s.CPUPerOp <= 0 {
			continue
		}
		for _, b := range base {
			if b.Round == s.Round && b.CPUPerOp > 0 {
				out = append(out, float64(s.CPUPerOp)/float64(b.CPUPerOp))
				break
			}
		}
	}
	return out
}

// cpuRatio formats the CPU / op ratio to the baseline's median, with the
// range of the per-round ratios when there is one.
func cpuRatio(s, base summary) string {
	r := ratio(s.CPUPerOp, base.CPUPerOp)
	if s.CPURatioMax > 0 && r != "—" {
		r += fmt.Sprintf(" (%.2f–%.2f)", s.CPURatioMin, s.CPURatioMax)
	}
	return r
}

func busyRow(l load, s, base summary, _ bool) string {
	unit := "msg/s"
	switch {
	case l.Handshake:
		unit = "conn/s"
	case l.Kind == kindHTTP:
		unit = "req/s"
	}
	tp := fmtRate(s.Throughput, unit)
	if l.EchoConns > 0 {
		tp += fmt.Sprintf(" (%.1f MB/s)", s.MBps)
	}
	if s.Errors > 0 {
		tp += fmt.Sprintf(" (%d socket errors)", s.Errors)
	}
	return fmt.Sprintf("%s | %s | %s | %s | %.0f%% | %s | %s |", tp,
		ratio(s.Throughput, base.Throughput),
		fmtNanos(s.CPUPerOp), cpuRatio(s, base), 100*s.CPUSpread,
		fmtNanos(s.P99), ratio(s.P99, base.P99))
}

func idleRow(_ load, s, base summary, _ bool) string {
	return fmt.Sprintf("%.0f B | %s |", s.BytesPerConn, ratio(s.BytesPerConn, base.BytesPerConn))
}

func firstOr(xs []string, def string) string {
	if len(xs) == 0 {
		return def
	}
	return xs[0]
}

// escapeCell keeps an error message inside one markdown table cell.
func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}
