package reactor

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

// sockopts reads back what the kernel holds for a connection's socket.
type sockopts struct {
	keepAlive, idle, interval, count, noDelay, rcvBuf, sndBuf int
}

func readSockopts(t *testing.T, fd int) sockopts {
	t.Helper()
	get := func(level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			t.Fatalf("getsockopt %d/%d: %v", level, opt, err)
		}
		return v
	}
	return sockopts{
		keepAlive: get(unix.SOL_SOCKET, unix.SO_KEEPALIVE),
		idle:      get(unix.IPPROTO_TCP, sysTCPKeepIdle),
		interval:  get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
		count:     get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
		noDelay:   get(unix.IPPROTO_TCP, unix.TCP_NODELAY),
		rcvBuf:    get(unix.SOL_SOCKET, unix.SO_RCVBUF),
		sndBuf:    get(unix.SOL_SOCKET, unix.SO_SNDBUF),
	}
}

// transportFD runs on the transport's loop and returns its socket's
// options.
func transportOpts(t *testing.T, tr protocol.Transport) sockopts {
	t.Helper()
	var o sockopts
	done := make(chan struct{})
	tr.Loop().CallFromThread(func() {
		defer close(done)
		o = readSockopts(t, tr.(*conn).fd)
	})
	<-done
	return o
}

var testSocketOptions = SocketOptions{
	KeepAliveIdle: 30 * time.Second, KeepAliveInterval: 5 * time.Second, KeepAliveCount: 3,
	RecvBuffer: 96 << 10, SendBuffer: 80 << 10, NoDelayOff: true,
}

func checkOpts(t *testing.T, side string, o sockopts) {
	t.Helper()
	if o.keepAlive == 0 || o.idle != 30 || o.interval != 5 || o.count != 3 {
		t.Errorf("%s: keepalive %d idle %d interval %d count %d, want on, 30, 5, 3", side, o.keepAlive, o.idle, o.interval, o.count)
	}
	if o.noDelay != 0 {
		t.Errorf("%s: TCP_NODELAY is on, want off", side)
	}
	// The kernel may round (Linux doubles) but not give less.
	if o.rcvBuf < 96<<10 || o.sndBuf < 80<<10 {
		t.Errorf("%s: SO_RCVBUF %d, SO_SNDBUF %d, want at least %d and %d", side, o.rcvBuf, o.sndBuf, 96<<10, 80<<10)
	}
}

// Socket options given per listener apply to every accepted connection,
// options given per connect to the outgoing one; without options a
// connection has TCP_NODELAY on and no keepalive.
func TestSocketOptionsPerListenerAndPerConnect(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		accepted := make(chan protocol.Transport, 2)
		serve := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
			return &protocol.Funcs{OnConnect: func(tr protocol.Transport) { accepted <- tr }}
		})
		ln, err := r.ListenTCPWith("127.0.0.1:0", serve, ListenOptions{Backlog: 16, Socket: testSocketOptions})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := r.ListenTCP("127.0.0.1:0", serve)
		if err != nil {
			t.Fatal(err)
		}
		connect := func(addr string, opts ConnectOptions) protocol.Transport {
			var d *deferred.Deferred[protocol.Protocol]
			b := &protocol.Base{}
			onLoop(t, r, func() { d = r.ConnectTCPWith(r.Loops()[0], addr, protocolFactory(b), opts) })
			if _, err := await(t, d); err != nil {
				t.Fatal(err)
			}
			return b.Transport
		}
		client := connect(plain.Addr().String(), ConnectOptions{Timeout: 5 * time.Second, Socket: testSocketOptions})
		checkOpts(t, "connect with options", transportOpts(t, client))
		if o := transportOpts(t, <-accepted); o.noDelay == 0 || o.keepAlive != 0 {
			t.Errorf("accepted without options: TCP_NODELAY %d, SO_KEEPALIVE %d; want on and off", o.noDelay, o.keepAlive)
		}
		client2 := connect(ln.Addr().String(), ConnectOptions{})
		checkOpts(t, "accepted by a listener with options", transportOpts(t, <-accepted))
		if o := transportOpts(t, client2); o.noDelay == 0 || o.keepAlive != 0 {
			t.Errorf("connect without options: TCP_NODELAY %d, SO_KEEPALIVE %d; want on and off", o.noDelay, o.keepAlive)
		}
	})
}

// IPV6_V6ONLY: a listener on [::] takes IPv4 connections unless V6Only.
func TestSocketOptionV6Only(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	dual, err := r.ListenTCP("[::]:0", echoFactory())
	if err != nil {
		t.Skipf("no IPv6 here: %v", err)
	}
	defer dual.Close()
	only, err := r.ListenTCPWith("[::]:0", echoFactory(), ListenOptions{Socket: SocketOptions{V6Only: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	v4 := func(ln *Listener) string {
		return net.JoinHostPort("127.0.0.1", itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	c, err := net.Dial("tcp", v4(dual))
	if err != nil {
		t.Fatalf("IPv4 to a dual-stack listener: %v", err)
	}
	c.Close()
	if c, err := net.Dial("tcp", v4(only)); err == nil {
		c.Close()
		t.Fatal("an IPv6-only listener accepted an IPv4 connection")
	}
}
