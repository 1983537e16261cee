package reactor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/timer"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd")
	}
	return len(entries)
}

func TestStopClosesEveryConnectionAndListenerAndLeavesNoFD(t *testing.T) {
	before := openFDs(t)
	r, err := New(WithLoops(2), WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	unixLn, err := r.ListenUnix(t.TempDir()+"/echo.sock", echoFactory())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	var conns []net.Conn
	for i := range 40 {
		network, addr := "tcp", ln.Addr().String()
		if i%4 == 0 {
			network, addr = "unix", unixLn.Addr().String()
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "hi")
		conns = append(conns, c)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read %v after Stop, want EOF", err)
		}
		c.Close()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d fds open before the reactor, %d after it stopped", before, after)
	}
	if _, err := os.Stat(unixLn.Addr().String()); !os.IsNotExist(err) {
		t.Fatalf("Unix socket file left behind: %v", err)
	}
	if err := r.Run(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Run after stop: %v, want ErrStopped", err)
	}
	if err := r.Stop(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Stop after stop: %v, want ErrNotRunning", err)
	}
}

func TestRunTwiceAndStopBeforeRunReportErrors(t *testing.T) {
	r, err := New(WithLoops(1), WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Stop before Run: %v, want ErrNotRunning", err)
	}
	started := make(chan struct{})
	r.CallWhenRunning(func() { close(started) })
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	<-started
	if err := r.Run(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v, want ErrAlreadyRunning", err)
	}
	r.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStopAbortsAPeerThatNeverReadsAtTheDeadline(t *testing.T) {
	r, err := New(WithLoops(1), WithLogger(zerolog.New(io.Discard)), WithShutdownTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s := &streamer{total: 1 << 40, chunk: make([]byte, 16<<10), lost: make(chan error, 1)}
	ln, err := r.ListenTCP("127.0.0.1:0", protocolFactory(s))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Read(make([]byte, 1)) // connected and streaming; never read again
	for {
		// Wait until the kernel's buffers are full and output is queued.
		full := make(chan bool)
		r.CallFromThread(func() { full <- s.Transport.BufferedAmount() > 0 && s.paused })
		if <-full {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if reason := <-s.lost; !errors.Is(reason, ErrReactorStopping) {
		t.Fatalf("ConnectionLost(%v), want an abort for the stop", reason)
	}
}

// TestStoppedReactorKeepsNoCallsAlive: once Run has returned, neither a
// CallLater that never became due nor a CallFromThread made afterwards
// keeps its closure (and what it captured) alive through the Reactor, on
// 1 and 2 loops. The pending call's handle reports inactive.
func TestStoppedReactorKeepsNoCallsAlive(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			r, err := New(WithLoops(loops), WithSignalHandling(false))
			if err != nil {
				t.Fatal(err)
			}
			collected := make(chan string, 2*loops)
			capture := func(name string) *[1 << 16]byte {
				big := new([1 << 16]byte)
				runtime.AddCleanup(big, func(n string) { collected <- n }, name)
				return big
			}
			var handles []timer.Handle
			done := make(chan error, 1)
			go func() { done <- r.Run() }()
			waitFor(t, "the reactor to run", r.Running)
			for i, l := range r.Loops() {
				got := make(chan timer.Handle)
				big := capture(fmt.Sprintf("timed %d", i))
				l.CallFromThread(func() { got <- l.CallLater(time.Hour, func() { big[0]++ }) })
				handles = append(handles, <-got)
			}
			r.Stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for i, l := range r.Loops() {
				big := capture(fmt.Sprintf("queued %d", i))
				l.CallFromThread(func() { big[0]++ })
			}
			for i, h := range handles {
				if h.Active() {
					t.Errorf("loop %d: the hour-long call is still pending after Run returned", i)
				}
			}
			var names []string
			for i := 0; i < 100 && len(names) < 2*loops; i++ {
				runtime.GC()
				for drained := false; !drained; {
					select {
					case n := <-collected:
						names = append(names, n)
					case <-time.After(10 * time.Millisecond):
						drained = true
					}
				}
			}
			if len(names) != 2*loops {
				t.Fatalf("collected %q; want every timed and queued call's capture (%d) while r is still referenced", names, 2*loops)
			}
			runtime.KeepAlive(r)
		})
	}
}
