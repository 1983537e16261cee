package reactor

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestParseBackend(t *testing.T) {
	for in, want := range map[string]Backend{
		"epoll": BackendEpoll, "kqueue": BackendEpoll, "poll": BackendEpoll,
		"io_uring": BackendIOURing, "iouring": BackendIOURing, "uring": BackendIOURing,
	} {
		got, err := ParseBackend(in)
		if err != nil || got != want {
			t.Errorf("ParseBackend(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, b := range []Backend{BackendEpoll, BackendIOURing} {
		if got, err := ParseBackend(b.String()); err != nil || got != b {
			t.Errorf("ParseBackend(%v.String()) = %v, %v", b, got, err)
		}
	}
	if _, err := ParseBackend("select"); err == nil || !strings.Contains(err.Error(), `"select"`) {
		t.Errorf("ParseBackend(select): err = %v, want one naming the bad value", err)
	}
}

// The -backend flag every example takes: parsed, and refused with the
// flag package's usual error when misspelled.
func TestBackendFlag(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b := BackendFlag(fs)
	if *b != BackendEpoll {
		t.Fatalf("default %v, want epoll", *b)
	}
	if err := fs.Parse([]string{"-backend", "io_uring"}); err != nil || *b != BackendIOURing {
		t.Fatalf("-backend io_uring: %v, %v", *b, err)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	BackendFlag(fs)
	if err := fs.Parse([]string{"-backend", "uringx"}); err == nil {
		t.Fatal("-backend uringx accepted")
	}
}

// newLoggedReactor makes (not runs) a reactor whose log goes to logs.
func newLoggedReactor(t *testing.T, logs *syncBuffer, opts ...Option) *Reactor {
	t.Helper()
	opts = append([]Option{WithLoops(1), WithSignalHandling(false),
		WithLogger(zerolog.New(logs).Level(zerolog.WarnLevel))}, opts...)
	r, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, l := range r.loops {
			l.poller.close()
		}
	})
	return r
}

// Off Linux the option falls back the same way, and on Linux it is taken
// where the kernel has io_uring (this machine's does; CI's too).
func TestBackendIOURingChosen(t *testing.T) {
	var logs syncBuffer
	r := newLoggedReactor(t, &logs, WithBackend(BackendIOURing))
	if runtime.GOOS != "linux" {
		if r.Backend() != BackendEpoll || !strings.Contains(logs.String(), "only on Linux") {
			t.Fatalf("Backend() = %v, log %q; want the fallback and why", r.Backend(), logs.String())
		}
		return
	}
	if err := uringProbe(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("io_uring unavailable in CI: %v", err)
		}
		t.Skipf("io_uring unavailable here: %v", err)
	}
	if r.Backend() != BackendIOURing || logs.String() != "" {
		t.Fatalf("Backend() = %v, log %q; want io_uring, silently", r.Backend(), logs.String())
	}
}

// A reactor on each backend echoes a stream byte for byte: the smallest
// end-to-end check that the backend named is the one that runs.
func TestBackendEcho(t *testing.T) {
	for _, b := range []Backend{BackendEpoll, BackendIOURing} {
		for _, loops := range []int{1, 2} {
			for _, locked := range []bool{false, true} {
				name := fmt.Sprintf("%v/loops=%d/locked=%v", b, loops, locked)
				t.Run(name, func(t *testing.T) {
					r := startReactor(t, WithLoops(loops), WithBackend(b), WithLockOSThread(locked))
					c := listenAndDial(t, r, echoFactory())
					want := make([]byte, 1<<20)
					for i := range want {
						want[i] = byte(i * 7)
					}
					go c.Write(want)
					got := make([]byte, len(want))
					if _, err := io.ReadFull(c, got); err != nil {
						t.Fatal(err)
					}
					if string(got) != string(want) {
						t.Fatal("echo differs")
					}
					c.(*net.TCPConn).CloseWrite()
					if n, err := c.Read(got); n != 0 || err != io.EOF {
						t.Fatalf("after CloseWrite: %d, %v; want EOF", n, err)
					}
				})
			}
		}
	}
}
