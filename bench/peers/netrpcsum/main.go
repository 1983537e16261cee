// Command netrpcsum is the net/rpc server the bench's amp load measures
// Mustaine's AMP server against: Go's standard RPC (gob over TCP, a
// goroutine per connection reading requests and one per call) serving
// the same Sum as the AMP calculator, as Calc.Sum.
//
// -loops sets GOMAXPROCS so each target may use the same number of cores.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"runtime"
)

// SumArgs are Sum's arguments; the bench's client declares the same
// fields (gob matches them by name).
type SumArgs struct{ A, B int64 }

// SumReply is Sum's response.
type SumReply struct{ Total int64 }

// Calc is the service.
type Calc struct{}

// Sum adds the two arguments.
func (Calc) Sum(args SumArgs, reply *SumReply) error {
	reply.Total = args.A + args.B
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7200", "listen address host:port")
	loops := flag.Int("loops", 0, "GOMAXPROCS (0 keeps Go's default)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	srv := rpc.NewServer()
	if err := srv.Register(Calc{}); err != nil {
		fmt.Fprintln(os.Stderr, "netrpcsum:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netrpcsum:", err)
		os.Exit(1)
	}
	srv.Accept(ln) // serves each connection on its own goroutine
}
