//go:build linux

package http

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// Memory an idle connection may cost, with everything the reactor keeps
// for it (its transport, peer address and table slot): the heap allocated
// while it was accepted and made (garbage included: a burst of accepts
// runs between collections, so resident memory follows what was
// allocated, not only what stays live), and the heap it holds after a
// collection. The bench's promise is resident memory (≤ 400 B per idle
// HTTP connection, ≤ 300 B per idle echo connection, 10,000 held); these
// bounds are the heap that promise rests on.
const (
	idleHTTPAllocMax = 420
	idleHTTPLiveMax  = 350
	idleEchoAllocMax = 350
	idleEchoLiveMax  = 290
)

type idleEcho struct{ protocol.Base }

func (e *idleEcho) DataReceived(b []byte) { e.Transport.Write(b) }

// TestIdleConnectionHeap holds idle connections on a live reactor, with
// raw client sockets (no Go heap on the client side), and compares the
// server's live heap per connection with the bound: HTTP connections that
// sent nothing, HTTP connections idle after one request (the request's
// state must be given back), and the bare transport under an echo
// protocol.
func TestIdleConnectionHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds its own bookkeeping to every allocation; run without -race to measure")
	}
	const n = 4000
	for _, loops := range []int{1, 2} {
		for _, tc := range []struct {
			name              string
			http              bool
			touch             bool
			allocMax, liveMax int
		}{
			{"http", true, false, idleHTTPAllocMax, idleHTTPLiveMax},
			{"http-after-request", true, true, 0, idleHTTPLiveMax},
			{"echo", false, false, idleEchoAllocMax, idleEchoLiveMax},
		} {
			t.Run(fmt.Sprintf("loops=%d/%s", loops, tc.name), func(t *testing.T) {
				r, err := reactor.New(reactor.WithLoops(loops))
				if err != nil {
					t.Fatal(err)
				}
				var made atomic.Int64
				var inner protocol.Factory = protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &idleEcho{} })
				if tc.http {
					srv, err := NewServer(HandlerFunc(func(w *ResponseWriter, r *Request) { w.WriteString("ok") }))
					if err != nil {
						t.Fatal(err)
					}
					inner = srv
				}
				f := protocol.FactoryFunc(func(a net.Addr) protocol.Protocol {
					made.Add(1)
					return inner.BuildProtocol(a)
				})
				ln, err := r.ListenTCP("127.0.0.1:0", f)
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- r.Run() }()
				defer func() {
					r.Stop()
					<-done
				}()
				port := ln.Addr().(*net.TCPAddr).Port
				fds := make([]int, n)
				defer func() {
					for _, fd := range fds {
						if fd > 0 {
							unix.Close(fd)
						}
					}
				}()
				// Warm up: the loops' buffers and pools exist before the
				// baseline.
				warm := idleDial(t, port)
				idleExchange(t, warm, tc.http)
				unix.Close(warm)
				waitMade(t, &made, 1)
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				for i := range fds {
					fds[i] = idleDial(t, port)
				}
				if tc.touch {
					for _, fd := range fds {
						idleExchange(t, fd, true)
					}
				}
				waitMade(t, &made, n+1)
				time.Sleep(200 * time.Millisecond) // the last ConnectionMade calls finish
				runtime.ReadMemStats(&m1)
				alloc := int64(m1.TotalAlloc-m0.TotalAlloc) / n
				runtime.GC()
				runtime.ReadMemStats(&m1)
				live := (int64(m1.HeapAlloc) - int64(m0.HeapAlloc)) / n
				t.Logf("per idle connection: %d B allocated (bound %d B), %d B live (bound %d B)", alloc, tc.allocMax, live, tc.liveMax)
				// After one request each the allocations include the
				// requests' own; only what stays is bounded.
				if tc.allocMax > 0 && alloc > int64(tc.allocMax) {
					t.Errorf("accepting an idle connection allocated %d B, more than %d B", alloc, tc.allocMax)
				}
				if live > int64(tc.liveMax) {
					t.Errorf("an idle connection holds %d B of heap, more than %d B", live, tc.liveMax)
				}
			})
		}
	}
}

// idleDial connects a blocking raw socket to the loopback port.
func idleDial(t *testing.T, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

// idleExchange makes one request (or one echo) on fd and reads the whole
// answer.
func idleExchange(t *testing.T, fd int, http bool) {
	t.Helper()
	msg, want := "ping", "ping"
	if http {
		msg = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
		want = "HTTP/1.1 200 OK\r\n"
	}
	if _, err := unix.Write(fd, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	got := 0
	for {
		k, err := unix.Read(fd, buf[got:])
		if err != nil || k == 0 {
			t.Fatalf("reading the answer: %d bytes, %v", got, err)
		}
		got += k
		if http && got >= 4 && string(buf[got-2:got]) == "ok" || !http && got >= len(want) {
			break
		}
	}
	if string(buf[:len(want)]) != want {
		t.Fatalf("answer %q, want it to start with %q", buf[:got], want)
	}
}

// waitMade waits until the factory has built n protocols (ConnectionMade
// runs right after BuildProtocol, in the same loop turn).
func waitMade(t *testing.T, made *atomic.Int64, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for made.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections accepted", made.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
