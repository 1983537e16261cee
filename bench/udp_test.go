package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"testing"
)

// udpEcho serves a plain UDP echo on a loopback port until the test ends.
func udpEcho(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c.LocalAddr().String()
}

func TestUDPLoadCountsEchoesWithEitherGenerator(t *testing.T) {
	addr := udpEcho(t)
	for _, gen := range []string{"reactor", "net"} {
		var out bytes.Buffer
		code := udpLoadMain([]string{"-addr", addr, "-clients", "4", "-window", "2", "-duration", "300ms", "-gen", gen}, &out, io.Discard)
		if code != exitOK {
			t.Fatalf("%s: exit status %d", gen, code)
		}
		var r udpResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v in %q", gen, err, out.String())
		}
		if r.Messages == 0 || r.Seconds < 0.3 {
			t.Fatalf("%s: %+v, want echoes counted over at least the duration", gen, r)
		}
	}
}

func TestUDPMedianAndRatio(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median of 3,1,2 = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Fatalf("median of 4,1,3,2 = %v", m)
	}
	if r := ratioOf(3, 2); r != "1.50×" {
		t.Fatalf("ratio %q", r)
	}
	if r := ratioOf(3, 0); r != "–" {
		t.Fatalf("ratio against 0: %q", r)
	}
}
