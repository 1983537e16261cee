//go:build linux

package reactor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// needUring skips (or fails, in CI) where the kernel has no io_uring.
func needUring(t *testing.T) {
	t.Helper()
	if err := uringProbe(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("io_uring unavailable in CI: %v", err)
		}
		t.Skipf("io_uring unavailable here: %v", err)
	}
}

// withEnter makes every ring created until the test ends use sys.
func withEnter(t *testing.T, sys uringEnterFunc) {
	saved := uringEnter
	uringEnter = sys
	t.Cleanup(func() { uringEnter = saved })
}

// realEnter is the system call itself.
var realEnter = uringEnter

// refusingRing is a four-entry ring whose io_uring_enter answers ENOMEM
// whenever refuse says so, closed when the test ends.
func refusingRing(t *testing.T, refuse func(toSubmit uint32) bool) *ring {
	t.Helper()
	withEnter(t, func(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr) (int, unix.Errno) {
		if refuse(toSubmit) {
			return 0, unix.ENOMEM
		}
		return realEnter(fd, toSubmit, minComplete, flags, arg, argSize)
	})
	r, err := newRing(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.close() })
	return r
}

// reapAll collects the user_data of the completions in r's ring.
func reapAll(r *ring, into []uint64) []uint64 {
	head, tail := *r.cqHead, r.cqTailNow()
	for ; head != tail; head++ {
		into = append(into, r.cqes[head&r.cqMask].userData)
	}
	r.cqAdvance(head)
	return into
}

// A turn may make more requests than the submission ring has entries, and
// the kernel may refuse a submission for a moment (EAGAIN, ENOMEM, EBUSY):
// no request is lost, overwritten or reordered, and making one never
// blocks. Pinned with a four-entry ring given 40 NOPs, the kernel's
// answer to the first enters being ENOMEM.
func TestUringRingBacklogKeepsEveryRequestInOrder(t *testing.T) {
	needUring(t)
	var refused atomic.Int32
	r := refusingRing(t, func(uint32) bool { return refused.Add(1) <= 3 })
	const n = 40
	for i := range n {
		s := r.sqe()
		s.opcode = 0 // IORING_OP_NOP
		s.userData = uint64(i)
	}
	if len(r.backlog) != n-4 {
		t.Fatalf("backlog holds %d SQEs, want %d (a 4-entry ring, %d requests)", len(r.backlog), n-4, n)
	}
	var got []uint64
	for round := 0; len(got) < n && round < 100; round++ {
		if err := r.enter(0, 0, -1); err != nil {
			t.Fatalf("enter: %v", err)
		}
		got = reapAll(r, got)
	}
	if refused.Load() <= 3 {
		t.Fatalf("the fault was never injected")
	}
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("completions %v, want %v", got, want)
	}
}

// An io_uring_enter error other than the transient ones means the ring is
// unusable: enter returns it wrapped in ErrRingFailed, with the errno, and
// every later enter does too, without calling the kernel again.
func TestUringRingFailureIsSticky(t *testing.T) {
	needUring(t)
	var calls atomic.Int32
	withEnter(t, func(int, uint32, uint32, uint32, unsafe.Pointer, uintptr) (int, unix.Errno) {
		calls.Add(1)
		return 0, unix.EBADF
	})
	r, err := newRing(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	for range 2 {
		err := r.enter(1, 0, int64(time.Millisecond))
		if !errors.Is(err, ErrRingFailed) || !errors.Is(err, unix.EBADF) {
			t.Fatalf("enter = %v, want ErrRingFailed and EBADF", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("io_uring_enter called %d times, want 1", calls.Load())
	}
}

// A kernel that refuses every submission (ENOMEM) is given
// uringRefuseLimit to recover: until then each enter returns no error and
// keeps the request queued; once the refusals have lasted that long, the
// ring counts as failed (ErrRingFailed, with the errno), never earlier.
func TestUringRingLastingRefusalFails(t *testing.T) {
	needUring(t)
	saved := uringRefuseLimit
	uringRefuseLimit = 20 * time.Millisecond
	t.Cleanup(func() { uringRefuseLimit = saved })
	r := refusingRing(t, func(toSubmit uint32) bool { return toSubmit > 0 })
	r.sqe().opcode = 0 // IORING_OP_NOP
	start := time.Now()
	calls := 0
	for {
		calls++
		err := r.enter(0, 0, -1)
		if err == nil {
			if time.Since(start) > 10*time.Second {
				t.Fatal("the refusals never made the ring fail")
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if elapsed := time.Since(start); elapsed < uringRefuseLimit {
			t.Fatalf("failed after %v of refusals, before the %v limit", elapsed, uringRefuseLimit)
		}
		if !errors.Is(err, ErrRingFailed) || !errors.Is(err, unix.ENOMEM) {
			t.Fatalf("enter = %v, want ErrRingFailed and ENOMEM", err)
		}
		break
	}
	if calls < 2 {
		t.Fatalf("failed on the first refusal")
	}
	if r.unsubmitted != 1 {
		t.Fatalf("%d requests queued, want the refused one kept", r.unsubmitted)
	}
}

// faultProto echoes and records why its connection was lost and on which
// loop it ran.
type faultProto struct {
	protocol.Base
	loop   chan *loop
	reason chan error
}

func (p *faultProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	p.loop <- t.(*conn).loop
}
func (p *faultProto) DataReceived(b []byte)       { p.Transport.Write(b) }
func (p *faultProto) ConnectionLost(reason error) { p.reason <- reason }

// faultServer is an io_uring reactor serving faultProto, whose Run error
// the test reads from done; logs gets its warnings and errors.
type faultServer struct {
	r    *Reactor
	addr string
	made chan *faultProto
	done chan error
}

func newFaultServer(t *testing.T, loops int, logs *syncBuffer) *faultServer {
	t.Helper()
	r, err := New(WithBackend(BackendIOURing), WithLoops(loops), WithSignalHandling(false),
		WithLogger(zerolog.New(logs).Level(zerolog.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Backend() != BackendIOURing {
		t.Fatalf("backend %v, want io_uring", r.Backend())
	}
	s := &faultServer{r: r, made: make(chan *faultProto, 16), done: make(chan error, 1)}
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		p := &faultProto{loop: make(chan *loop, 1), reason: make(chan error, 1)}
		s.made <- p
		return p
	}))
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	returned := make(chan struct{})
	go func() {
		s.done <- r.Run()
		close(returned)
	}()
	t.Cleanup(func() {
		r.Stop()
		select {
		case <-returned:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	return s
}

// dial connects a client, closed when the test ends, and returns it with
// its server-side protocol and loop.
func (s *faultServer) dial(t *testing.T) (net.Conn, *faultProto, *loop) {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := <-s.made
	return c, p, <-p.loop
}

// dialWhere dials until a connection lands on a loop that want accepts.
func (s *faultServer) dialWhere(t *testing.T, want func(*loop) bool) (net.Conn, *faultProto) {
	t.Helper()
	for range 64 {
		if c, p, l := s.dial(t); want(l) {
			return c, p
		}
	}
	t.Fatal("no connection landed on the loop wanted")
	return nil, nil
}

// echoRound writes msg on c and reads it back, byte for byte.
func echoRound(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echoed %q, want %q", got, msg)
	}
	return nil
}

// A request the kernel fails (here every SEND of one connection completes
// with EIO) closes that connection only: its ConnectionLost gets an error
// naming the request that errors.Is matches with EIO, one warning is
// logged with the connection's fields, and a second connection on the
// same loop goes on echoing, byte for byte. Run with 1 and 2 loops.
func TestUringFailedRequestClosesOnlyItsConnection(t *testing.T) {
	needUring(t)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			var victim atomic.Int64 // fd+1 of the connection whose sends fail
			saved := uringCQEFault
			uringCQEFault = func(cqe *uringCQE) {
				if uint8(cqe.userData>>56) == udSend && int64(uint32(cqe.userData))+1 == victim.Load() {
					cqe.res = -int32(unix.EIO)
				}
			}
			t.Cleanup(func() { uringCQEFault = saved })
			var logs syncBuffer
			srv := newFaultServer(t, loops, &logs)
			a, pa, la := srv.dial(t)
			// The bystander must share a's loop (with 2 loops, dial
			// until one lands there).
			b, pb := srv.dialWhere(t, func(l *loop) bool { return l == la })
			var fd int
			onLoopOf(t, la, func() { fd = pa.Transport.(*conn).fd })
			victim.Store(int64(fd) + 1)

			a.SetDeadline(time.Now().Add(10 * time.Second))
			a.Write([]byte("doomed"))
			var reason error
			select {
			case reason = <-pa.reason:
			case <-time.After(10 * time.Second):
				t.Fatal("the failed connection was not lost")
			}
			var se *os.SyscallError
			if !errors.Is(reason, unix.EIO) || !errors.As(reason, &se) || se.Syscall != "io_uring send" {
				t.Fatalf("ConnectionLost(%v), want the io_uring send's EIO", reason)
			}
			if _, err := io.ReadAll(a); err != nil && !errors.Is(err, unix.ECONNRESET) {
				t.Fatalf("the failed connection's peer: %v, want EOF or a reset", err)
			}
			for i := range 3 {
				if err := echoRound(b, []byte(fmt.Sprintf("bystander round %d", i))); err != nil {
					t.Fatalf("the other connection on the loop: %v", err)
				}
			}
			select {
			case err := <-pb.reason:
				t.Fatalf("the bystander was lost: %v", err)
			default:
			}
			if n := strings.Count(logs.String(), "io_uring request failed"); n != 1 {
				t.Fatalf("%d log lines for the failed request, want 1; log:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), `"conn"`) {
				t.Fatalf("the log line lacks the connection's fields: %s", logs.String())
			}
		})
	}
}

// A ring that becomes unusable (io_uring_enter fails with EBADF) stops its
// loop, not the process: the error is logged once, the loop's connections
// get ConnectionLost with it (ErrAborted, ErrRingFailed and the errno all
// match), the reactor shuts down (with 2 loops the other loop's
// connections are drained, not aborted) and Run returns the error.
func TestUringRingFailureStopsLoopAndRunReturnsIt(t *testing.T) {
	needUring(t)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			var broken sync.Map // ring fds that fail from now on
			var brokenUsed atomic.Bool
			withEnter(t, func(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr) (int, unix.Errno) {
				if _, ok := broken.Load(fd); ok {
					brokenUsed.Store(true)
					return 0, unix.EBADF
				}
				return realEnter(fd, toSubmit, minComplete, flags, arg, argSize)
			})
			var logs syncBuffer
			srv := newFaultServer(t, loops, &logs)
			r, done := srv.r, srv.done
			a, pa, la := srv.dial(t)
			if err := echoRound(a, []byte("before")); err != nil {
				t.Fatal(err)
			}
			var other net.Conn
			var pOther *faultProto
			if loops > 1 {
				other, pOther = srv.dialWhere(t, func(l *loop) bool { return l != la })
			}
			broken.Store(la.ur.ring.fd, true)
			a.Write([]byte("wake the loop")) // its next enter fails

			var reason error
			select {
			case reason = <-pa.reason:
			case <-time.After(10 * time.Second):
				t.Fatal("the broken loop's connection was not lost")
			}
			if !errors.Is(reason, ErrRingFailed) || !errors.Is(reason, unix.EBADF) || !errors.Is(reason, protocol.ErrAborted) {
				t.Fatalf("ConnectionLost(%v), want ErrAborted, ErrRingFailed and EBADF", reason)
			}
			var runErr error
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after its loop failed")
			}
			if !errors.Is(runErr, ErrRingFailed) || !errors.Is(runErr, unix.EBADF) ||
				!strings.Contains(runErr.Error(), fmt.Sprintf("loop %d", la.index)) {
				t.Fatalf("Run = %v, want the failed loop's ErrRingFailed (EBADF)", runErr)
			}
			if !brokenUsed.Load() {
				t.Fatal("the fault was never injected")
			}
			if n := strings.Count(logs.String(), "poll failed"); n != 1 {
				t.Fatalf("%d log lines for the failed ring, want 1; log:\n%s", n, logs.String())
			}
			if other != nil {
				if err := <-pOther.reason; errors.Is(err, ErrRingFailed) || errors.Is(err, protocol.ErrAborted) {
					t.Fatalf("the healthy loop's connection was lost with %v, want a graceful close", err)
				}
				other.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadAll(other); err != nil {
					t.Fatalf("the healthy loop's connection: %v, want a clean EOF", err)
				}
			}
			if r.Running() {
				t.Fatal("the reactor still runs")
			}
		})
	}
}
