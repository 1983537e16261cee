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

// Heap an idle connection may hold, after a GC, with everything the
// reactor keeps for it (its transport, peer address and table slot). The
// bench's promise is resident memory (≤ 400 B per idle HTTP connection,
// ≤ 300 B per idle echo connection, 10,000 held); these bounds are the
// live heap that promise rests on.
const (
	idleHTTPHeapMax = 360
	idleEchoHeapMax = 260
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
	const n = 3000
	for _, loops := range []int{1, 2} {
		for _, tc := range []struct {
			name  string
			http  bool
			touch bool
			max   int
		}{
			{"http", true, false, idleHTTPHeapMax},
			{"http-after-request", true, true, idleHTTPHeapMax},
			{"echo", false, false, idleEchoHeapMax},
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
				before := liveHeap()
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
				per := (int64(liveHeap()) - int64(before)) / n
				t.Logf("%d B of live heap per idle connection (bound %d B)", per, tc.max)
				if per > int64(tc.max) {
					t.Fatalf("an idle connection holds %d B of heap, more than %d B", per, tc.max)
				}
			})
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
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
