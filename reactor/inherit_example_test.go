package reactor_test

import (
	"fmt"
	"net"
	"syscall"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// Serving a listening socket made by someone else (a supervisor, systemd,
// a parent process): here net.Listen stands in for them. With
// WithUpgradeOn, a SIGHUP would hand the socket on to a new copy of the
// program (see Reactor.Upgrade).
func ExampleReactor_ListenFile() {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := nl.Addr().String()
	f, err := nl.(*net.TCPListener).File()
	nl.Close() // f holds the socket now
	if err != nil {
		panic(err)
	}

	r, err := reactor.New(reactor.WithLoops(1), reactor.WithUpgradeOn(syscall.SIGHUP))
	if err != nil {
		panic(err)
	}
	ln, err := r.ListenFile(f, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &Echo{} }))
	f.Close() // the listener serves its own duplicate
	if err != nil {
		panic(err)
	}

	r.CallWhenRunning(func() {
		fmt.Println("serving the adopted socket:", ln.Addr().String() == addr)
		r.Stop()
	})
	if err := r.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: serving the adopted socket: true
}
