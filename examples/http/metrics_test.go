package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mustaine/mustaine/internal/exampletest"
)

var (
	serverLine  = regexp.MustCompile(`http server listening.*?(127\.0\.0\.1:[0-9]+)`)
	metricsLine = regexp.MustCompile(`metrics listening.*?(127\.0\.0\.1:[0-9]+)/metrics`)
)

// scrapeMetrics GETs /metrics and sums each family over its labels, with
// closed connections also by reason ("closed/clean").
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := nethttp.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			sums[name] += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					sums["closed/"+l.GetValue()] += v
				}
			}
		}
		if strings.HasSuffix(name, "_total") && f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is a %v, want a counter", name, f.GetType())
		}
	}
	return sums
}

// TestMetricsFlagServesCountersThatMoveWithTraffic runs the program as a
// user does, with -metrics, makes known requests on raw connections (so
// every byte either way is known), and checks in what /metrics reports
// that the counters moved by exactly those connections and bytes.
func TestMetricsFlagServesCountersThatMoveWithTraffic(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			f, err := os.Create(t.TempDir() + "/stderr")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := mainCommand(ctx, f, "-addr", "127.0.0.1:0", "-loops", fmt.Sprint(loops), "-metrics", "127.0.0.1:0")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				if err := cmd.Wait(); err != nil {
					t.Errorf("http did not stop cleanly on SIGTERM: %v", err)
				}
			}()
			var addr, metrics string
			var out []byte
			for (addr == "" || metrics == "") && ctx.Err() == nil {
				out, _ = os.ReadFile(f.Name())
				if m := serverLine.FindSubmatch(out); m != nil {
					addr = string(m[1])
				}
				if m := metricsLine.FindSubmatch(out); m != nil {
					metrics = string(m[1])
				}
				time.Sleep(10 * time.Millisecond)
			}
			if ctx.Err() != nil {
				t.Fatalf("no listening lines:\n%s", out)
			}

			before := scrapeMetrics(t, metrics)
			// Three connections of one request each and one of three
			// pipelined requests; the last request of each asks to close.
			reqs := [][]string{{"/"}, {"/json"}, {"/users/7"}, {"/", "/json", "/"}}
			var sent, received int
			for _, paths := range reqs {
				var req bytes.Buffer
				for i, p := range paths {
					fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x\r\n", p)
					if i == len(paths)-1 {
						req.WriteString("Connection: close\r\n")
					}
					req.WriteString("\r\n")
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(time.Minute))
				n, err := c.Write(req.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				resp, err := io.ReadAll(c) // to the server's FIN
				c.Close()
				if err != nil || bytes.Count(resp, []byte("HTTP/1.1 200 OK")) != len(paths) {
					t.Fatalf("%v: %q, %v", paths, resp, err)
				}
				sent += n
				received += len(resp)
			}
			conns := float64(len(reqs))
			var after map[string]float64
			for after == nil || after["mustaine_connections_closed_total"]-before["mustaine_connections_closed_total"] < conns {
				if ctx.Err() != nil {
					t.Fatalf("the connections were never counted closed: %v", after)
				}
				time.Sleep(10 * time.Millisecond)
				after = scrapeMetrics(t, metrics)
			}
			for name, want := range map[string]float64{
				"mustaine_connections_accepted_total": conns,
				"mustaine_connections_closed_total":   conns,
				"closed/clean":                        conns, // the server closed after Connection: close
				"mustaine_received_bytes_total":       float64(sent),
				"mustaine_sent_bytes_total":           float64(received),
				"mustaine_connections_open":           0,
				"mustaine_accept_backoffs_total":      0,
			} {
				if got := after[name] - before[name]; got != want {
					t.Errorf("%s moved by %v, want %v", name, got, want)
				}
			}
			if after["mustaine_read_syscalls_total"]-before["mustaine_read_syscalls_total"] < conns ||
				after["mustaine_write_syscalls_total"]-before["mustaine_write_syscalls_total"] < conns {
				t.Errorf("fewer read or write calls than connections: %v then %v", before, after)
			}
			// /users/7 ran on the worker pool.
			if got := after["mustaine_pool_jobs_completed_total"] - before["mustaine_pool_jobs_completed_total"]; got != 1 {
				t.Errorf("pool jobs completed moved by %v, want 1", got)
			}
			if after["go_goroutines"] == 0 || after["process_open_fds"] == 0 {
				t.Errorf("the Go and process collectors are missing: %v", after)
			}
		})
	}
}

// TestMetricsFlagBadAddressFailsTheStart: an address that cannot be
// listened on ends the program with status 1 and says why.
func TestMetricsFlagBadAddressFailsTheStart(t *testing.T) {
	code, stderr := exampletest.RunMain(t, runMainEnv, "-addr", "127.0.0.1:0", "-metrics", "127.0.0.1:notaport")
	if code != 1 || !strings.Contains(stderr, "-metrics") || !strings.Contains(stderr, "notaport") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
