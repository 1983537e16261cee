package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedianOfOddEvenAndEmpty(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
		{nil, 0},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMedianLeavesItsInputUnsorted(t *testing.T) {
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Fatalf("median reordered its input: %v", in)
	}
}

func TestSummarizeTakesEachMetricsMedianSeparately(t *testing.T) {
	s := summarize([]sample{
		{Throughput: 100, CPUPerOp: 9 * time.Microsecond, P99: 1 * time.Millisecond, Errors: 1},
		{Throughput: 300, CPUPerOp: 5 * time.Microsecond, P99: 3 * time.Millisecond},
		{Throughput: 200, CPUPerOp: 6 * time.Microsecond, P99: 2 * time.Millisecond, Errors: 2},
	})
	if s.N != 3 || s.Throughput != 200 || s.CPUPerOp != 6000 || s.P99 != 2e6 || s.Errors != 3 {
		t.Fatalf("summary = %+v", s)
	}
	if want := (9000.0 - 5000) / 6000; s.CPUSpread != want {
		t.Fatalf("CPUSpread = %v, want %v", s.CPUSpread, want)
	}
}

func TestRatioAndFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{ratio(150, 100), "1.50×"},
		{ratio(1, 0), "—"},
		{ratio(0, 5), "—"},
		{fmtRate(159876.5, "req/s"), "159.9k req/s"},
		{fmtRate(2.5e6, "req/s"), "2.50M req/s"},
		{fmtRate(950, "msg/s"), "950 msg/s"},
		{fmtNanos(430), "430 ns"},
		{fmtNanos(5612), "5.61 µs"},
		{fmtNanos(1.2e6), "1.2 ms"},
		{fmtNanos(0), "—"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func testSpec() tableSpec {
	o := &options{WrkConns: 64, Depth: 16, IdleConns: 100}
	var loads []load
	for _, l := range allLoads(o) {
		if l.Name == "plaintext" || l.Name == "idle-echo" {
			loads = append(loads, l)
		}
	}
	return tableSpec{
		Configs: []runConfig{{Name: "pinned", Title: "Pinned"}},
		Loads:   loads,
		Targets: allTargets,
	}
}

func TestRenderMarkdownGivesRatiosToGnetsMedian(t *testing.T) {
	res := results{}
	res.at(cellKey{"pinned", "plaintext", "gnet"}).Samples = []sample{
		{Throughput: 100e3, CPUPerOp: 6 * time.Microsecond, P99: time.Millisecond},
		{Throughput: 160e3, CPUPerOp: 5 * time.Microsecond, P99: time.Millisecond},
		{Throughput: 150e3, CPUPerOp: 7 * time.Microsecond, P99: time.Millisecond},
	}
	res.at(cellKey{"pinned", "plaintext", "fasthttp"}).Samples = []sample{
		{Throughput: 120e3, CPUPerOp: 9 * time.Microsecond, P99: 2 * time.Millisecond},
	}
	res.at(cellKey{"pinned", "plaintext", "mustaine"}).Missing = "package ./examples/http does not exist yet"
	res.at(cellKey{"pinned", "plaintext", "nethttp"}).Failures = []string{"server exited | badly"}
	res.at(cellKey{"pinned", "idle-echo", "gnet"}).Samples = []sample{{BytesPerConn: 500}}
	res.at(cellKey{"pinned", "idle-echo", "netecho"}).Samples = []sample{{BytesPerConn: 4000}}

	md := renderMarkdown(testSpec(), res)
	for _, want := range []string{
		"## Pinned",
		"| HTTP plaintext, wrk -c 64 | gnet | 150.0k req/s | 1.00× | 6 µs | 1.00× | 33% | 1 ms | 1.00× |",
		"| HTTP plaintext, wrk -c 64 | fasthttp | 120.0k req/s | 0.80× | 9 µs | 1.50× | 0% | 2 ms | 2.00× |",
		"| HTTP plaintext, wrk -c 64 | mustaine | missing: package ./examples/http does not exist yet |",
		`| HTTP plaintext, wrk -c 64 | nethttp | FAILED: server exited \| badly |`,
		"| 100 idle echo conns | gnet | 500 B | 1.00× |",
		"| 100 idle echo conns | netecho | 4000 B | 8.00× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "idle echo conns | mustaine") {
		t.Error("a target with no cell for a load must not get a row")
	}
}

func TestRenderMarkdownShowsDashesWithoutABaseline(t *testing.T) {
	res := results{}
	res.at(cellKey{"pinned", "plaintext", "nethttp"}).Samples = []sample{{Throughput: 1e3, CPUPerOp: time.Microsecond, P99: time.Millisecond}}
	md := renderMarkdown(testSpec(), res)
	if want := "| HTTP plaintext, wrk -c 64 | nethttp | 1.0k req/s | — | 1 µs | — | 0% | 1 ms | — |"; !strings.Contains(md, want) {
		t.Fatalf("markdown lacks %q\n%s", want, md)
	}
}

func TestRenderMarkdownCountsPartlyFailedRounds(t *testing.T) {
	res := results{}
	c := res.at(cellKey{"pinned", "plaintext", "gnet"})
	c.Samples = []sample{{Throughput: 1e3, CPUPerOp: time.Microsecond, P99: time.Millisecond}}
	c.Failures = []string{"wrong echo"}
	if md := renderMarkdown(testSpec(), res); !strings.Contains(md, "1 of 2 rounds FAILED: wrong echo") {
		t.Fatalf("partial failure not shown:\n%s", md)
	}
}

func TestRenderMarkdownBoundsThePerRoundCPURatios(t *testing.T) {
	res := results{}
	us := time.Microsecond
	res.at(cellKey{"pinned", "plaintext", "gnet"}).Samples = []sample{
		{Round: 1, Throughput: 1e5, CPUPerOp: 10 * us},
		{Round: 2, Throughput: 1e5, CPUPerOp: 5 * us},
		{Round: 3, Throughput: 1e5, CPUPerOp: 8 * us},
	}
	// Round 2 of mustaine failed: rounds 1 and 3 pair up (0.90 and 1.25),
	// and round 4, which the baseline lacks, pairs with nothing.
	m := res.at(cellKey{"pinned", "plaintext", "mustaine"})
	m.Samples = []sample{
		{Round: 1, Throughput: 1e5, CPUPerOp: 9 * us},
		{Round: 3, Throughput: 1e5, CPUPerOp: 10 * us},
		{Round: 4, Throughput: 1e5, CPUPerOp: 1 * us},
	}
	md := renderMarkdown(testSpec(), res)
	// Median 9 µs over gnet's median 8 µs.
	if want := "| 9 µs | 1.12× (0.90–1.25) |"; !strings.Contains(md, want) {
		t.Errorf("mustaine row lacks %q\n%s", want, md)
	}
	if strings.Contains(md, "| 1.00× (") {
		t.Errorf("the baseline's own row must not get a per-round range\n%s", md)
	}
}

func TestPairedCPURatiosNeedsTwoRoundsForARange(t *testing.T) {
	res := results{}
	res.at(cellKey{"pinned", "plaintext", "gnet"}).Samples = []sample{{Round: 1, Throughput: 1, CPUPerOp: 4}}
	res.at(cellKey{"pinned", "plaintext", "mustaine"}).Samples = []sample{{Round: 1, Throughput: 1, CPUPerOp: 2}}
	md := renderMarkdown(testSpec(), res)
	if !strings.Contains(md, "| 0.50× |") || strings.Contains(md, "0.50× (") {
		t.Fatalf("one pair must give the plain ratio\n%s", md)
	}
}
