package reactor

import (
	"io"
	"net"
	"testing"
)

// dialEcho connects to a fresh echo listener and warms the connection up.
func dialEcho(tb testing.TB, r *Reactor) net.Conn {
	tb.Helper()
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		tb.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func echoRoundTrip(tb testing.TB, c net.Conn, msg, buf []byte) {
	if _, err := c.Write(msg); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		tb.Fatal(err)
	}
}

func TestEchoRoundTripAllocatesNothingInSteadyState(t *testing.T) {
	if testing.Short() {
		t.Skip("counts allocations over many round trips")
	}
	r := startReactor(t, WithLoops(1))
	c := dialEcho(t, r)
	msg, buf := make([]byte, 64), make([]byte, 64)
	for range 100 {
		echoRoundTrip(t, c, msg, buf)
	}
	// AllocsPerRun counts every allocation in the process: the loop's as
	// well as the client's (which allocates nothing per round trip).
	if n := testing.AllocsPerRun(2000, func() { echoRoundTrip(t, c, msg, buf) }); n > 0 {
		t.Fatalf("%.2f allocations per echo round trip, want 0", n)
	}
}

func BenchmarkEchoRoundTrip64B(b *testing.B) {
	r := startReactor(b, WithLoops(1))
	c := dialEcho(b, r)
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		echoRoundTrip(b, c, msg, buf)
	}
}

// BenchmarkNetEchoRoundTrip64B is the same round trip against a
// goroutine-per-connection echo server from Go's net package, measured in
// the same run for comparison.
func BenchmarkNetEchoRoundTrip64B(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(s, s); s.Close() }()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		echoRoundTrip(b, c, msg, buf)
	}
}
