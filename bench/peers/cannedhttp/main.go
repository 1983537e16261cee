// Command cannedhttp is the bench peer gnethttp's canned responder (see
// package canned) written on Mustaine's reactor instead of gnet: the same
// bytes in, the same bytes out, no HTTP parsing. Measured beside gnethttp it
// shows what the reactor alone costs against gnet's event loop; measured
// beside examples/http, what Mustaine's RFC 9112 server adds to that.
//
// Usage:
//
//	cannedhttp -addr 127.0.0.1:8080 -loops 1 -backend epoll
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mustaine/mustaine/bench/peers/internal/canned"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// date is shared by every loop; it is refreshed once per second.
var date canned.DateCache

// responder answers every complete request in its input with one Write
// per read, keeping an unfinished request for the next read, as gnethttp
// does.
type responder struct {
	protocol.Base
	pending []byte // an unfinished request's bytes
	out     []byte // the response buffer, reused across reads
}

// DataReceived answers the complete requests in data (after what is
// pending).
func (p *responder) DataReceived(data []byte) {
	in := data
	if len(p.pending) > 0 {
		p.pending = append(p.pending, data...)
		in = p.pending
	}
	out, n := canned.AppendResponses(p.out[:0], in, date.Get())
	p.out = out
	if len(out) > 0 {
		_, _ = p.Transport.Write(out)
	}
	rest := in[n:]
	if len(rest) > canned.MaxPending {
		p.Transport.LoseConnection()
		return
	}
	p.pending = append(p.pending[:0], rest...)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address host:port")
	loops := flag.Int("loops", 1, "number of reactor loops")
	backend := reactor.BackendFlag(flag.CommandLine)
	flag.Parse()
	date.Set(time.Now())
	stop := make(chan struct{})
	go date.Refresh(stop)
	err := run(*addr, *loops, *backend)
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannedhttp:", err)
		os.Exit(1)
	}
}

func run(addr string, loops int, backend reactor.Backend) error {
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithBackend(backend))
	if err != nil {
		return err
	}
	if _, err := r.ListenTCP(addr, protocol.ForProtocol[responder]()); err != nil {
		return err
	}
	return r.Run()
}
