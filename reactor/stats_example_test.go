package reactor_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// Stats after one echo connection: the loops count in plain fields and
// copy them out when asked, so it is cheap to leave on and to call from a
// metrics endpoint (see reactor/promstats for Prometheus).
func ExampleReactor_Stats() {
	r, err := reactor.New(reactor.WithLoops(2), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.Nop()))
	if err != nil {
		panic(err)
	}
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
	c.Write([]byte("hello, stats"))
	io.ReadFull(c, make([]byte, 12))
	c.Close()
	for r.Stats().Total().Closed.Total() == 0 {
		time.Sleep(time.Millisecond) // the server counts the close once it read our FIN
	}

	s := r.Stats()
	tot := s.Total()
	fmt.Println("loops:", len(s.Loops))
	fmt.Println("accepted:", tot.Accepted, "open:", tot.Open, "closed by the peer:", tot.Closed.PeerClosed)
	fmt.Println("bytes in:", tot.BytesIn, "out:", tot.BytesOut)
	r.Stop()
	<-done
	// Output:
	// loops: 2
	// accepted: 1 open: 0 closed by the peer: 1
	// bytes in: 12 out: 12
}
