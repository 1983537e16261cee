package promstats_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/reactor/promstats"
)

// A /metrics endpoint for a reactor: register the Collector in a registry
// and serve it with promhttp (here on a test server; in a program, on an
// http.Server of its own, as examples/http -metrics does). Stats answers
// before Run too, so the scrape shows the two loops with nothing counted.
func ExampleNew() {
	r, err := reactor.New(reactor.WithLoops(2), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.Nop()))
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(promstats.New(r))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if line := sc.Text(); strings.Contains(line, "connections_accepted") || strings.Contains(line, `reason="clean"`) {
			fmt.Println(line)
		}
	}
	// Output:
	// # HELP mustaine_connections_accepted_total Connections accepted from listeners that got a Protocol.
	// # TYPE mustaine_connections_accepted_total counter
	// mustaine_connections_accepted_total{loop="0"} 0
	// mustaine_connections_accepted_total{loop="1"} 0
	// mustaine_connections_closed_total{loop="0",reason="clean"} 0
	// mustaine_connections_closed_total{loop="1",reason="clean"} 0
}
