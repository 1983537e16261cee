//go:build linux

package reactor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// On loopback, Linux never refuses a UDP datagram for want of send-buffer
// room (the loopback device releases it at once; the receiver drops what
// it cannot hold), so the send queue's bound is tested through a Unix
// datagram socket pair under the same port code: there the sender's
// buffer holds each datagram until the peer reads it, and a tiny SO_SNDBUF
// fills after a few.
func TestUDPSendQueueIsBoundedWhenTheKernelIsFullAndDropsAreCounted(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
			t.Fatal(err)
		}
		peerFile := os.NewFile(uintptr(fds[1]), "peer")
		peerConn, err := net.FilePacketConn(peerFile)
		peerFile.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer peerConn.Close()
		const bound, burst, size = 8, 200, 1000
		rec := newRecorder()
		cfg := udpConfig{queueBytes: defaultUDPQueueBytes, queueCount: bound}
		p := newUDPPort(r, lp.(*loop), fds[0], unix.AF_UNIX, rec, cfg)
		p.flags |= uConnected // a socket pair is connected
		p.start()
		t.Cleanup(func() { p.Close() })
		waitChan(t, rec.started, "StartProtocol")

		var accepted []int
		dropped := 0
		onLoopOf(t, lp, func() {
			for i := 0; i < burst; i++ {
				b := bytes.Repeat([]byte{byte(i)}, size)
				binary.BigEndian.PutUint32(b, uint32(i))
				_, err := p.Write(b)
				switch {
				case err == nil:
					accepted = append(accepted, i)
				case errors.Is(err, protocol.ErrDatagramDropped):
					dropped++
				default:
					t.Errorf("write %d: %v", i, err)
				}
			}
		})
		t.Logf("%d accepted (sent or queued), %d dropped", len(accepted), dropped)
		// The kernel takes at least one datagram (a socket's first always
		// fits), then the queue holds the bound, then writes are dropped.
		if dropped == 0 || len(accepted) <= bound || len(accepted)+dropped != burst {
			t.Fatalf("%d accepted, %d dropped of %d: want drops once the kernel and the queue are full", len(accepted), dropped, burst)
		}
		if s := p.Stats(); s.Dropped != uint64(dropped) {
			t.Fatalf("Stats().Dropped = %d, want %d", s.Dropped, dropped)
		}
		// Every accepted datagram arrives, in order and intact, as the
		// peer makes room (the writability event resumes the queue).
		buf := make([]byte, 2*size)
		for _, i := range accepted {
			peerConn.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, _, err := peerConn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("reading datagram %d: %v", i, err)
			}
			if n != size || int(binary.BigEndian.Uint32(buf)) != i || buf[size-1] != byte(i) {
				t.Fatalf("got datagram %d (%d bytes), want %d", binary.BigEndian.Uint32(buf), n, i)
			}
		}
		waitFor(t, "the queue to drain", func() bool { return p.Stats().Sent == uint64(len(accepted)) })
		// Once drained, writes are accepted again.
		var err2 error
		onLoopOf(t, lp, func() { _, err2 = p.Write([]byte("again")) })
		if err2 != nil {
			t.Fatalf("write after the queue drained: %v", err2)
		}
		peerConn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, _, err := peerConn.ReadFrom(buf); err != nil || string(buf[:n]) != "again" {
			t.Fatalf("got %q, %v", buf[:n], err)
		}
	})
}

// A datagram the kernel refuses when the queue is sent (here EMSGSIZE: a
// Unix datagram larger than the socket's send buffer; a UDP route's MTU
// with don't-fragment set is the same case) is dropped alone and counted:
// the datagrams around it, in the same sendmmsg batch, go out.
func TestUDPDatagramTheKernelRefusesIsDroppedAloneAndCounted(t *testing.T) {
	udpLoops(t, func(t *testing.T, r *Reactor, lp protocol.Loop) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
			t.Fatal(err)
		}
		peerFile := os.NewFile(uintptr(fds[1]), "peer")
		peerConn, err := net.FilePacketConn(peerFile)
		peerFile.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer peerConn.Close()
		rec := newRecorder()
		p := newUDPPort(r, lp.(*loop), fds[0], unix.AF_UNIX, rec, udpConfig{queueBytes: defaultUDPQueueBytes, queueCount: defaultUDPQueueDatagrams})
		p.flags |= uConnected
		p.start()
		t.Cleanup(func() { p.Close() })
		waitChan(t, rec.started, "StartProtocol")
		var errs []error
		onLoopOf(t, lp, func() {
			for _, d := range [][]byte{[]byte("first"), bytes.Repeat([]byte("x"), 16000), []byte("last")} {
				_, err := p.Write(d)
				errs = append(errs, err)
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("write %d: %v (queued writes fail only when sent)", i, err)
			}
		}
		buf := make([]byte, 32000)
		for _, want := range []string{"first", "last"} {
			peerConn.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, _, err := peerConn.ReadFrom(buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("got %d bytes %q, %v; want %q", n, buf[:min(n, 16)], err, want)
			}
		}
		// The peer can read the last datagram before the loop, back from
		// the syscall, has counted it: wait for both counts.
		waitFor(t, "the refusal and both sends to be counted", func() bool {
			s := p.Stats()
			return s.Errors == 1 && s.Sent == 2
		})
		if s := p.Stats(); s.Sent != 2 || s.Dropped != 0 {
			t.Fatalf("stats %+v, want 2 sent and 1 error", s)
		}
	})
}
