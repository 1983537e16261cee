package reactor_test

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

var errAbandoned = errors.New("abandoned thread job error")

// The abandon helpers each make a Deferred through a library entry point
// and drop it without handling its error. They are not inlined so that
// their names show in the creation site.

//go:noinline
func abandonDeferToThread(lp protocol.Loop) {
	reactor.DeferToThread(lp, func() (int, error) { return 0, errAbandoned })
}

//go:noinline
func abandonDeferToThreadNil(lp protocol.Loop) {
	reactor.DeferToThread[int](lp, nil)
}

//go:noinline
func abandonConnectTCP(r *reactor.Reactor, addr string) {
	r.ConnectTCP(addr, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
}

//go:noinline
func abandonConnectTCPOn(r *reactor.Reactor, addr string) {
	r.ConnectTCPOn(r.Loops()[0], addr, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
}

//go:noinline
func abandonConnectUnix(r *reactor.Reactor, path string) {
	r.ConnectUnix(path, protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &protocol.Base{} }), 0)
}

// TestLibraryDeferredsReportTheCallersSite pins that the unhandled-error
// report of a Deferred made by DeferToThread, ConnectTCP, ConnectTCPOn or
// ConnectUnix names the user's line that called the library, not the
// library's own line inside the reactor package.
func TestLibraryDeferredsReportTheCallersSite(t *testing.T) {
	reports := captureUnhandledSites(t)
	r := runSiteReactor(t)
	// A port nobody listens on: connects to it are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	noSocket := filepath.Join(t.TempDir(), "none.sock")

	cases := []struct {
		helper string
		run    func()
	}{
		{"abandonDeferToThread", func() { abandonDeferToThread(r.Loops()[0]) }},
		{"abandonDeferToThreadNil", func() { abandonDeferToThreadNil(r.Loops()[0]) }},
		{"abandonConnectTCP", func() { abandonConnectTCP(r, refused) }},
		{"abandonConnectTCPOn", func() { abandonConnectTCPOn(r, refused) }},
		{"abandonConnectTCPOn", func() { abandonConnectTCPOn(r, "not an address") }},
		{"abandonConnectUnix", func() { abandonConnectUnix(r, noSocket) }},
	}
	for _, tc := range cases {
		r.CallFromThread(tc.run)
		at := awaitSite(t, reports, tc.helper)
		if !strings.Contains(at, "callersite_test.go:") {
			t.Errorf("%s: creation site %q is not in the test file", tc.helper, at)
		}
	}
}

// captureUnhandledSites returns the creation sites of the unhandled-error
// reports made until the test ends.
func captureUnhandledSites(t *testing.T) <-chan string {
	reports := make(chan string, 64)
	prev := deferred.SetUnhandledErrorHook(func(err error, at string) {
		select {
		case reports <- at:
		default:
		}
	})
	t.Cleanup(func() { deferred.SetUnhandledErrorHook(prev) })
	return reports
}

// runSiteReactor runs a one-loop reactor until the test ends.
func runSiteReactor(t *testing.T) *reactor.Reactor {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return r
}

// awaitSite runs the garbage collector until a report whose creation site
// names helper arrives, and returns it. The bound only keeps a broken build
// from hanging; nothing is asserted about time.
func awaitSite(t *testing.T, reports <-chan string, helper string) string {
	t.Helper()
	var seen []string
	for range 500 {
		runtime.GC()
		select {
		case at := <-reports:
			if strings.Contains(at, "."+helper+" ") {
				return at
			}
			seen = append(seen, at)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no unhandled-error report created in %s; reports seen: %q", helper, seen)
	return ""
}
