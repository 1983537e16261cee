package promstats_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/reactor/promstats"
)

// A reactor's counters in a Prometheus registry, after one echo
// connection; serve reg with promhttp.HandlerFor for a /metrics endpoint.
func ExampleNew() {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.Nop()))
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(promstats.New(r))

	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &protocol.Funcs{OnData: func(t protocol.Transport, b []byte) { t.Write(b) }}
	}))
	if err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- r.Run() }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	c.Write([]byte("hello"))
	io.ReadFull(c, make([]byte, 5))
	c.Close()
	for r.Stats().Total().Closed.Total() == 0 {
		time.Sleep(time.Millisecond) // the server counts the close once it has read our FIN
	}

	fams, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range fams {
		switch name := f.GetName(); {
		case strings.HasPrefix(name, "mustaine_connections_"), strings.HasSuffix(name, "_bytes_total"):
			for _, m := range f.GetMetric() {
				if v := m.GetCounter().GetValue() + m.GetGauge().GetValue(); v != 0 {
					fmt.Println(name, labels(m.GetLabel()), v)
				}
			}
		}
	}
	r.Stop()
	<-done
	// Output:
	// mustaine_connections_accepted_total loop=0 1
	// mustaine_connections_closed_total loop=0,reason=peer_closed 1
	// mustaine_received_bytes_total loop=0 5
	// mustaine_sent_bytes_total loop=0 5
}

func labels(ls []*dto.LabelPair) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}
