package reactor

import (
	"testing"
	"time"
)

// BenchmarkUDPEcho measures windows of 16 64-byte datagrams echoed by a
// port (one op = one datagram); with -benchmem it shows the echo
// allocates nothing per datagram. The client is a plain net.UDPConn, so
// the time per op is mostly the client's and the kernel's.
func BenchmarkUDPEcho(b *testing.B) {
	r := startReactor(b, WithLoops(1))
	p, err := r.ListenUDP("127.0.0.1:0", &udpEchoer{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := goUDP(b)
	to := addrPort(p.LocalAddr())
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(10 * time.Minute))
	const window = 16
	// Warm up: the port is attached and its queue and address table made.
	c.WriteToUDPAddrPort(msg, to)
	if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += window {
		n := min(window, b.N-i)
		for range n {
			c.WriteToUDPAddrPort(msg, to)
		}
		for range n {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
