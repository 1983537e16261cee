package reactor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A port is ours: whatever else listens on it (another Listener of this
// process, another process, a plain Go listener), ListenTCP fails with
// EADDRINUSE rather than share it, also with one SO_REUSEPORT socket per
// loop, where Linux would let every SO_REUSEPORT socket of the same user
// join the group (socket(7)); and a closed Listener gives the port back at
// once.

// listenConfig is one way of running listeners: loops and WithReusePort.
type listenConfig struct {
	loops     int
	reusePort bool
}

func (c listenConfig) String() string {
	return fmt.Sprintf("%d loops, reuseport %v", c.loops, c.reusePort)
}

var listenConfigs = []listenConfig{{1, true}, {1, false}, {2, true}, {2, false}}

func forEachListenConfig(t *testing.T, fn func(t *testing.T, c listenConfig)) {
	for _, c := range listenConfigs {
		t.Run(c.String(), func(t *testing.T) { fn(t, c) })
	}
}

func startConfigured(t *testing.T, c listenConfig) *Reactor {
	return startReactor(t, WithLoops(c.loops), WithReusePort(c.reusePort))
}

func wantAddrInUse(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("%s: %v, want an error matching syscall.EADDRINUSE", what, err)
	}
}

// serves checks that addr is served by an echo listener.
func serves(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "still mine")
}

func TestSecondListenTCPOnAPortThisProcessListensOnFailsWithEADDRINUSE(t *testing.T) {
	reactors := map[listenConfig]*Reactor{}
	for _, c := range listenConfigs {
		reactors[c] = startConfigured(t, c)
	}
	for _, first := range listenConfigs {
		for _, second := range listenConfigs {
			t.Run(fmt.Sprintf("%v then %v", first, second), func(t *testing.T) {
				ln, err := reactors[first].ListenTCP("127.0.0.1:0", echoFactory())
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				addr := ln.Addr().String()
				other, err := reactors[second].ListenTCP(addr, echoFactory())
				if err == nil {
					other.Close()
				}
				wantAddrInUse(t, "second ListenTCP on "+addr, err)
				serves(t, addr)
			})
		}
	}
}

func TestPlainNetListenFailsWhileWeListen(t *testing.T) {
	forEachListenConfig(t, func(t *testing.T, c listenConfig) {
		r := startConfigured(t, c)
		for _, host := range []string{"127.0.0.1", "[::1]"} {
			ln, err := r.ListenTCP(host+":0", echoFactory())
			if err != nil {
				if host == "[::1]" {
					t.Logf("no IPv6 loopback here: %v", err)
					continue
				}
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			if other, err := net.Listen("tcp", addr); err == nil {
				other.Close()
				t.Fatalf("net.Listen(%s) succeeded while we listen there", addr)
			} else {
				wantAddrInUse(t, "net.Listen "+addr, err)
			}
			serves(t, addr)
			ln.Close()
		}
	})
}

// The port-holder child: a second OS process, started by re-running this
// test binary with portHolderEnv set (the usual Go pattern for helper
// processes). In "hold-*" modes it listens on 127.0.0.1:0, prints the
// address and holds the port until its stdin closes; in "try" mode it runs
// a Mustaine ListenTCP on the address in portHolderAddrEnv (2 loops,
// one SO_REUSEPORT socket per loop, like a second copy of examples/http)
// and prints the outcome.
const (
	portHolderEnv     = "MUSTAINE_TEST_PORT_HOLDER"
	portHolderAddrEnv = "MUSTAINE_TEST_PORT_HOLDER_ADDR"
)

func TestPortHolderChild(t *testing.T) {
	mode := os.Getenv(portHolderEnv)
	if mode == "" {
		t.Skip("helper process for the port tests")
	}
	var addr string
	var closeIt func()
	switch mode {
	case "hold-plain": // Go's net.Listen: SO_REUSEADDR, no SO_REUSEPORT
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		addr, closeIt = l.Addr().String(), func() { l.Close() }
	case "hold-reuseport": // any server that sets SO_REUSEPORT itself
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
			return serr
		}}
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		addr, closeIt = l.Addr().String(), func() { l.Close() }
	case "hold-mustaine", "try":
		r, err := New(WithLoops(2), WithReusePort(true), WithSignalHandling(false))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		want := "127.0.0.1:0"
		if mode == "try" {
			want = os.Getenv(portHolderAddrEnv)
		}
		ln, err := r.ListenTCP(want, echoFactory())
		if mode == "try" {
			if errors.Is(err, syscall.EADDRINUSE) {
				fmt.Println("EADDRINUSE")
			} else {
				fmt.Println("listening, err:", err)
			}
			os.Exit(0)
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		addr, closeIt = ln.Addr().String(), func() { ln.Close() }
	}
	fmt.Println(addr)
	io.Copy(io.Discard, os.Stdin)
	closeIt()
	os.Exit(0)
}

// portHolder starts the child in mode and returns the first line it
// printed and its stdin (closing it ends a holder; the test's end does).
func portHolder(t *testing.T, mode, addr string) (string, io.Closer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPortHolderChild$")
	cmd.Env = append(os.Environ(), portHolderEnv+"="+mode, portHolderAddrEnv+"="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("port holder %s: %v", mode, err)
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "error") {
		t.Fatalf("port holder %s: %s", mode, line)
	}
	return line, stdin
}

func TestListenTCPFailsOnAPortAnotherProcessListensOn(t *testing.T) {
	for _, mode := range []string{"hold-plain", "hold-reuseport", "hold-mustaine"} {
		t.Run(mode, func(t *testing.T) {
			addr, _ := portHolder(t, mode, "")
			forEachListenConfig(t, func(t *testing.T, c listenConfig) {
				r := startConfigured(t, c)
				ln, err := r.ListenTCP(addr, echoFactory())
				if err == nil {
					ln.Close()
				}
				wantAddrInUse(t, "ListenTCP on "+addr+" held by another process", err)
			})
		})
	}
}

// The case the issue saw: a second copy of a Mustaine server started on
// the port of a running one said "listening" and took most connections.
func TestAnotherProcessCannotListenOnOurPort(t *testing.T) {
	forEachListenConfig(t, func(t *testing.T, c listenConfig) {
		r := startConfigured(t, c)
		ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if got, _ := portHolder(t, "try", ln.Addr().String()); got != "EADDRINUSE" {
			t.Fatalf("a second process's ListenTCP on our port: %s, want EADDRINUSE", got)
		}
		serves(t, ln.Addr().String())
	})
}

// The check behind step 2 of listenReusePortGroup: a SO_REUSEPORT socket
// of ours that is not one of the listener's sockets (so it is in the
// kernel's group) is seen, on any overlapping address.
func TestPortOwnershipCheckSeesAnotherSocketInTheReusePortGroup(t *testing.T) {
	r := startReactor(t, WithLoops(2), WithReusePort(true))
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bound, err := unix.Getsockname(ln.fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPortOwned(bound, ln.fds); err != nil {
		t.Fatalf("our own group alone: %v", err)
	}
	intruder, err := tcpListenSocket(unix.AF_INET, true)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(intruder)
	if err := bindListen(intruder, bound); err != nil {
		t.Fatalf("the kernel refused a same-user SO_REUSEPORT socket (%v): the group is closed already", err)
	}
	wantAddrInUse(t, "checkPortOwned with an intruder", checkPortOwned(bound, ln.fds))
	// The same port on another address is no intrusion.
	other := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 2}, Port: bound.(*unix.SockaddrInet4).Port}
	if err := checkPortOwned(other, []int{intruder}); err != nil {
		t.Fatalf("a listener on 127.0.0.2 with the same port: %v; 127.0.0.1 does not overlap it", err)
	}
}

func TestListenTCPRightAfterCloseOnTheSamePortSucceeds(t *testing.T) {
	forEachListenConfig(t, func(t *testing.T, c listenConfig) {
		r := startConfigured(t, c)
		addr := "127.0.0.1:0"
		for i := range 50 {
			ln, err := r.ListenTCP(addr, echoFactory())
			if err != nil {
				t.Fatalf("round %d: ListenTCP(%s) after Close: %v", i, addr, err)
			}
			addr = ln.Addr().String()
			// A connection that outlives its listener keeps the port
			// bound (the kernel's children inherit it) and must not get in
			// the way.
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			roundTrip(t, conn, "x")
			// Close from a goroutine of the test and from inside a loop
			// callback, where it cannot wait for the other loops.
			if i%2 == 0 {
				err = ln.Close()
			} else {
				onLoop(t, r, func() { err = ln.Close() })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// Listen and close again and again inside one loop callback, so
		// that each listener is closed before any loop attached it and the
		// next one most likely gets the same fd number: the last one must
		// still serve.
		var last *Listener
		var err error
		onLoop(t, r, func() {
			for i := range 50 {
				ln, lerr := r.ListenTCP(addr, echoFactory())
				if lerr != nil {
					err = fmt.Errorf("round %d on a loop: %w", i, lerr)
					return
				}
				if i == 49 {
					last = ln
					return
				}
				ln.Close()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		serves(t, addr)
		if err := last.Close(); err != nil {
			t.Fatal(err)
		}
		// The port is really free: a plain Go listener takes it too.
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("net.Listen(%s) after Close: %v", addr, err)
		}
		l.Close()
	})
}

// The address overlap rule of the ownership check, as Linux's bind
// conflict check has it: the same address or a wildcard, and IPv4 against
// an IPv6 socket that also takes IPv4.
func TestBoundAddrOverlapFollowsTheKernelsBindConflictRule(t *testing.T) {
	v4 := func(s string) boundAddr { return boundAddr{ip: netip.MustParseAddr(s)} }
	v6 := func(s string, only bool) boundAddr { return boundAddr{ip: netip.MustParseAddr(s), v6only: only} }
	for _, tc := range []struct {
		a, b boundAddr
		want bool
	}{
		{v4("127.0.0.1"), v4("127.0.0.1"), true},
		{v4("127.0.0.1"), v4("127.0.0.2"), false},
		{v4("0.0.0.0"), v4("127.0.0.2"), true},
		{v6("::1", false), v6("::1", false), true},
		{v6("::1", false), v6("::2", false), false},
		{v6("::", true), v6("::1", false), true},
		{v4("127.0.0.1"), v6("::", false), true},
		{v4("127.0.0.1"), v6("::", true), false},
		{v4("127.0.0.1"), v6("::1", false), false},
		{v4("127.0.0.1"), v6("::ffff:127.0.0.1", false), true},
		{v4("127.0.0.1"), v6("::ffff:127.0.0.2", false), false},
		{v4("0.0.0.0"), v6("::ffff:127.0.0.2", false), true},
	} {
		if got := tc.a.overlaps(tc.b); got != tc.want {
			t.Errorf("%v (v6only %v) overlaps %v (v6only %v): %v, want %v", tc.a.ip, tc.a.v6only, tc.b.ip, tc.b.v6only, got, tc.want)
		}
		if got := tc.b.overlaps(tc.a); got != tc.want {
			t.Errorf("%v overlaps %v: %v, want %v (the rule is symmetric)", tc.b.ip, tc.a.ip, got, tc.want)
		}
	}
}
