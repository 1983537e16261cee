package reactor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawListener makes a listening TCP socket on 127.0.0.1 the way a
// supervisor would, with or without SO_REUSEPORT, and returns its fd and
// address.
func rawListener(t *testing.T, reusePort bool) (int, string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// fdOpen reports whether fd is an open descriptor.
func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// TestListenFDServesAdoptedSocket: a socket listening before the reactor
// existed is served, every byte echoed, on 1 and 2 loops; with
// SO_REUSEPORT on it, each further loop gets its own copy bound to the
// same address and the kernel gives connections to both loops; without
// it, all loops share the adopted socket. Close closes every socket.
func TestListenFDServesAdoptedSocket(t *testing.T) {
	for _, loops := range []int{1, 2} {
		for _, reuse := range []bool{false, true} {
			t.Run(fmt.Sprintf("loops=%d/SO_REUSEPORT=%t", loops, reuse), func(t *testing.T) {
				r := startReactor(t, WithLoops(loops), WithReusePort(true))
				net.Dial("tcp", "127.0.0.1:1") // Go's own poller is set up now, not during the test
				before := openFDs(t)
				fd, addr := rawListener(t, reuse)
				lc := &loopCounter{perLoop: map[int]int{}}
				ln, err := r.ListenFD(fd, lc.factory())
				if err != nil {
					t.Fatal(err)
				}
				if ln.Addr().String() != addr {
					t.Fatalf("Addr %s, want the adopted socket's %s", ln.Addr(), addr)
				}
				wantSockets := 1
				if reuse && loops > 1 {
					wantSockets = loops
				}
				if got := max(1, len(ln.fds)); got != wantSockets {
					t.Fatalf("%d listening sockets, want %d", got, wantSockets)
				}
				const conns = 200
				for i := range conns {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					roundTrip(t, c, fmt.Sprintf("message %d", i))
					c.Close()
				}
				lc.mu.Lock()
				total, used := 0, 0
				for _, n := range lc.perLoop {
					total += n
					used++
				}
				lc.mu.Unlock()
				if total != conns {
					t.Fatalf("%d connections served, want %d", total, conns)
				}
				if wantSockets > 1 && used != loops {
					// 200 connections hashed over 2 sockets all land on one
					// with probability 2^-199.
					t.Fatalf("connections per loop %v, want every loop used", lc.perLoop)
				}
				if err := ln.Close(); err != nil {
					t.Fatal(err)
				}
				if fdOpen(fd) {
					t.Fatalf("adopted fd %d still open after Close", fd)
				}
				if _, err := net.Dial("tcp", addr); err == nil {
					t.Fatal("connect succeeded after Close: a socket still listens")
				}
				// The server side of the last connections closes when it
				// reads their EOF, which may come after our Close.
				after := openFDs(t)
				for deadline := time.Now().Add(10 * time.Second); after != before && time.Now().Before(deadline); after = openFDs(t) {
					time.Sleep(5 * time.Millisecond)
				}
				if after != before {
					t.Fatalf("%d fds before, %d after Close", before, after)
				}
			})
		}
	}
}

// TestListenFileServesUnixSocketAndLeavesTheFileTheCallers: a Unix socket
// from net.Listen, handed over as its *os.File, is served on a duplicate:
// the caller's file stays open and valid after the listener closes, and
// the socket file on disk is not removed by a listener that did not make
// it.
func TestListenFileServesUnixSocketAndLeavesTheFileTheCallers(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			nl, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			nl.(*net.UnixListener).SetUnlinkOnClose(false)
			f, err := nl.(*net.UnixListener).File()
			if err != nil {
				t.Fatal(err)
			}
			nl.Close()
			defer f.Close()
			r := startReactor(t, WithLoops(loops))
			ln, err := r.ListenFile(f, echoFactory())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				c, err := net.Dial("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				roundTrip(t, c, fmt.Sprintf("unix %d", i))
				c.Close()
			}
			ln.Close()
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("socket file removed by a listener that adopted it: %v", err)
			}
			if err := checkFile(f); err != nil {
				t.Fatalf("the caller's file is no longer a listening socket after Close: %v", err)
			}
		})
	}
}

// TestListenFDRefusesWhatIsNotAListeningStreamSocket: a regular file, a
// UDP socket, a TCP socket that is bound but not listening and a closed
// descriptor each give ErrNotListeningSocket, and the open ones are left
// open (the caller still owns them).
func TestListenFDRefusesWhatIsNotAListeningStreamSocket(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	file, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(udp)
	bound, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(bound)
	if err := unix.Bind(bound, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	// A number far above what the test opens (a just-closed one could be
	// reused meanwhile by another goroutine).
	const closed = 1<<16 - 7
	if fdOpen(closed) {
		t.Fatalf("fd %d is open", closed)
	}
	for _, c := range []struct {
		name string
		fd   int
		open bool
	}{
		{"regular file", int(file.Fd()), true},
		{"UDP socket", udp, true},
		{"bound TCP socket, not listening", bound, true},
		{"closed descriptor", closed, false},
	} {
		ln, err := r.ListenFD(c.fd, echoFactory())
		if !errors.Is(err, ErrNotListeningSocket) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("%s: ListenFD error %v, want ErrNotListeningSocket", c.name, err)
			continue
		}
		if c.open && !fdOpen(c.fd) {
			t.Errorf("%s: fd closed by a refused ListenFD", c.name)
		}
	}
	if _, err := r.ListenFile(file, echoFactory()); !errors.Is(err, ErrNotListeningSocket) {
		t.Errorf("ListenFile of a regular file: %v, want ErrNotListeningSocket", err)
	}
}
