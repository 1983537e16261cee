package reactor

import (
	"errors"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// ListenAndRun fails at once on an address in use, leaving no descriptor
// behind.
func TestListenAndRunReturnsTheListenErrorAndReleasesTheReactor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before := openFDs(t)
	for range 3 {
		err := ListenAndRun(ln.Addr().String(), protocol.ForProtocol[echoProto](),
			WithLogger(zerolog.New(io.Discard)), WithLoops(2))
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Fatalf("ListenAndRun on a port in use: %v, want EADDRINUSE", err)
		}
	}
	if after := openFDs(t); after > before {
		t.Fatalf("%d descriptors open after three failed ListenAndRun, %d before", after, before)
	}
}

// ListenAndRun serves until SIGTERM, then returns nil.
func TestListenAndRunServesUntilSIGTERM(t *testing.T) {
	guard := make(chan os.Signal, 4) // a SIGTERM that comes early must not kill the test
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	done := make(chan error, 1)
	go func() {
		done <- ListenAndRun(addr, protocol.ForProtocol[echoProto](), WithLogger(zerolog.New(io.Discard)))
	}()
	var c net.Conn
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("ListenAndRun returned %v before serving", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never listening on %s: %v", addr, err)
		}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenAndRun after SIGTERM: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ListenAndRun did not return after SIGTERM")
	}
}
