package reactor_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// hosts is a Resolver with a fixed table, as a test would inject.
type hosts map[string][]netip.Addr

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := h[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Connecting by host name: the name is looked up off the loop (here by a
// fixed table given with WithResolver; by default net.DefaultResolver) and
// the addresses are tried in order, the first refusing here.
func ExampleWithResolver() {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithResolver(hosts{
		"echo.internal": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")},
	}))
	if err != nil {
		panic(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &Echo{} }))
	if err != nil {
		panic(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	r.CallWhenRunning(func() {
		client := &protocol.Funcs{
			OnConnect: func(t protocol.Transport) { t.Write([]byte("hello by name")) },
			OnData: func(t protocol.Transport, data []byte) {
				fmt.Printf("%s from %v\n", data, t.RemoteAddr().(*net.TCPAddr).IP)
				r.Stop()
			},
		}
		d := r.ConnectTCP(fmt.Sprintf("echo.internal:%d", port), protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return client }), 5*time.Second)
		d.AddErrback(func(err error) (protocol.Protocol, error) {
			fmt.Println(err)
			r.Stop()
			return nil, nil
		})
	})
	if err := r.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: hello by name from 127.0.0.1
}
