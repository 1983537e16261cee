package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	mhttp "github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

// httpLoadReport is what "bench httpload" measured.
type httpLoadReport struct {
	URL        string        `json:"url"`
	Conns      int           `json:"conns"`
	Loops      int           `json:"loops"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"`
	BadStatus  int64         `json:"bad_status"`
	ReqPerSec  float64       `json:"req_per_sec"`
	CPUPerReq  time.Duration `json:"client_cpu_per_req_ns"`
	ClientCPU  time.Duration `json:"client_cpu_ns"`
	Dials      int           `json:"dials"`
	FirstError string        `json:"first_error,omitempty"`
}

// httploadMain runs "bench httpload": a closed-loop HTTP/1.1 load built on
// protocol/http's Client. Each loop runs one Client keeping conns/loops
// GET requests in flight (one per keep-alive connection: the per-host
// limit equals the requests in flight), and the report gives requests/s
// and the client's own CPU per request (getrusage of this process over
// the measured window, after a warm-up).
func httploadMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench httpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/", "URL to GET (http, IP literal or localhost)")
	conns := fs.Int("conns", 64, "connections, each with one request in flight")
	loops := fs.Int("loops", 1, "client event loops (the connections are spread over them)")
	duration := fs.Duration("duration", 5*time.Second, "measured window")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up before the window")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || *conns < 1 || *loops < 1 || *loops > *conns || *duration <= 0 {
		fmt.Fprintln(stderr, "bench httpload: need -conns >= -loops >= 1, a positive -duration and no arguments")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := runHTTPLoad(ctx, *url, *conns, *loops, *warmup, *duration)
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
	} else if err == nil {
		fmt.Fprintf(stdout, "%s: %d conns on %d loop(s), %v: %d requests, %.0f req/s, client CPU %v/req, %d errors, %d non-200, %d dials\n",
			rep.URL, rep.Conns, rep.Loops, rep.Elapsed.Round(time.Millisecond), rep.Requests, rep.ReqPerSec,
			rep.CPUPerReq, rep.Errors, rep.BadStatus, rep.Dials)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench httpload:", err)
		return exitFailure
	}
	if rep.Errors > 0 || rep.BadStatus > 0 {
		fmt.Fprintln(stderr, "bench httpload: failed requests; first error:", rep.FirstError)
		return exitFailure
	}
	return exitOK
}

// loadCounters are one loop's counts, touched only on that loop.
type loadCounters struct {
	requests, errors, badStatus int64
	dials                       int
	firstErr                    error
	counting, stopping          bool
}

func runHTTPLoad(ctx context.Context, url string, conns, loops int, warmup, duration time.Duration) (httpLoadReport, error) {
	rep := httpLoadReport{URL: url, Conns: conns, Loops: loops}
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		return rep, err
	}
	lps := r.Loops()
	clients := make([]*mhttp.Client, loops)
	counters := make([]*loadCounters, loops)
	for i, lp := range lps {
		n := conns / loops
		if i < conns%loops {
			n++
		}
		c, err := mhttp.NewClient(lp, r, mhttp.WithMaxConnsPerHost(n), mhttp.WithConnectTimeout(5*time.Second))
		if err != nil {
			return rep, err
		}
		clients[i], counters[i] = c, &loadCounters{}
		cnt := counters[i]
		var issue func()
		issue = func() {
			if cnt.stopping {
				return
			}
			c.Get(url).AddBoth(func(resp *mhttp.ClientResponse, err error) (*mhttp.ClientResponse, error) {
				if cnt.counting {
					switch {
					case err != nil:
						cnt.errors++
						if cnt.firstErr == nil {
							cnt.firstErr = err
						}
					case resp.StatusCode() != 200:
						cnt.badStatus++
					default:
						cnt.requests++
					}
				}
				if err != nil && !cnt.counting && !cnt.stopping && cnt.firstErr == nil {
					cnt.firstErr = err
				}
				issue()
				return resp, nil
			})
		}
		lp.CallFromThread(func() {
			for range n {
				issue()
			}
		})
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	onEach := func(fn func(i int)) {
		ran := make(chan struct{}, loops)
		for i, lp := range lps {
			lp.CallFromThread(func() { fn(i); ran <- struct{}{} })
		}
		for range loops {
			<-ran
		}
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	ok := sleep(warmup)
	var cpu0, cpu1 time.Duration
	var t0 time.Time
	if ok {
		onEach(func(i int) { counters[i].counting = true })
		cpu0, t0 = rusageCPU(), time.Now()
		ok = sleep(duration)
		onEach(func(i int) { counters[i].counting = false })
		cpu1, rep.Elapsed = rusageCPU(), time.Since(t0)
	}
	onEach(func(i int) {
		counters[i].stopping = true
		counters[i].dials = clients[i].Stats().Dials
		clients[i].Close()
	})
	r.Stop()
	if err := <-done; err != nil {
		return rep, err
	}
	for _, c := range counters {
		rep.Requests += c.requests
		rep.Errors += c.errors
		rep.BadStatus += c.badStatus
		rep.Dials += c.dials
		if rep.FirstError == "" && c.firstErr != nil && !errors.Is(c.firstErr, mhttp.ErrClientClosed) && !errors.Is(c.firstErr, deferred.ErrCancelled) {
			rep.FirstError = c.firstErr.Error()
		}
	}
	if !ok {
		return rep, ctx.Err()
	}
	if rep.Requests == 0 {
		return rep, fmt.Errorf("no request completed (first error: %s)", rep.FirstError)
	}
	rep.ClientCPU = cpu1 - cpu0
	rep.ReqPerSec = float64(rep.Requests) / rep.Elapsed.Seconds()
	rep.CPUPerReq = rep.ClientCPU / time.Duration(rep.Requests)
	return rep, nil
}

// rusageCPU is this process's user and system CPU time so far.
func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
