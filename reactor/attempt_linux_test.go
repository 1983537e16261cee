package reactor

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// blackhole listens on ip with a backlog of one and fills it, so that
// Linux drops the SYN of every further connect (with the default
// tcp_abort_on_overflow=0): a connect to it neither succeeds nor fails,
// like one to an address that does not answer. It returns the port.
func blackhole(t *testing.T, ip [4]byte) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	addr := net.JoinHostPort(netip.AddrFrom4(ip).String(), itoa(port))
	// Fill the queue: these connects complete (or stay pending) and are
	// never accepted.
	for range 3 {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return port
}

// Happy Eyeballs: a host name whose first address does not answer gets
// its next address tried beside it after the attempt delay, never
// earlier, and that one connects.
func TestConnectRacesTheNextAddressAfterTheAttemptDelay(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		port := blackhole(t, [4]byte{127, 0, 0, 3})
		res := &fakeResolver{answers: map[string][]netip.Addr{
			"two.test":  {netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.1")},
			"dead.test": {netip.MustParseAddr("127.0.0.3")},
		}}
		r := startReactor(t, WithLoops(loops), WithResolver(res))
		ln, err := r.ListenTCP(net.JoinHostPort("127.0.0.1", itoa(port)), echoFactory())
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.1:%d beside the black hole: %v", port, err)
		}
		defer ln.Close()
		f := newNameHooks()
		var d *deferred.Deferred[protocol.Protocol]
		const attempt = 300 * time.Millisecond
		start := time.Now()
		onLoop(t, r, func() {
			d = r.ConnectTCPWith(r.Loops()[0], "two.test:"+itoa(port), f, ConnectOptions{Timeout: 20 * time.Second, AttemptDelay: attempt})
		})
		if _, err := await(t, d); err != nil {
			t.Fatalf("connect: %v", err)
		}
		if el := time.Since(start); el < attempt {
			t.Errorf("the next address was tried after %v, earlier than the %v attempt delay", el, attempt)
		}
		if a := (<-f.built).(*net.TCPAddr); !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("connected to %v, want 127.0.0.1", a)
		}

		// The whole connect's timeout ends it, with ErrConnectTimeout and one
		// ClientConnectionFailed.
		f = newNameHooks()
		start = time.Now()
		onLoop(t, r, func() {
			d = r.ConnectTCPWith(r.Loops()[0], "dead.test:"+itoa(port), f, ConnectOptions{Timeout: attempt})
		})
		_, err = await(t, d)
		if !errors.Is(err, ErrConnectTimeout) {
			t.Fatalf("connect to an address that does not answer: %v, want ErrConnectTimeout", err)
		}
		if el := time.Since(start); el < attempt {
			t.Errorf("timed out after %v, earlier than %v", el, attempt)
		}
		if err := <-f.failed; !errors.Is(err, ErrConnectTimeout) {
			t.Errorf("ClientConnectionFailed(%v)", err)
		}
		onLoop(t, r, func() {})
		select {
		case err := <-f.failed:
			t.Errorf("ClientConnectionFailed called twice: %v", err)
		default:
		}
	})
}
