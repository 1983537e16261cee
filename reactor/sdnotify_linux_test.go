package reactor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/internal/sdnotifytest"
)

// TestSystemdNotifyReadyAndStopping follows sd_notify(3): a Type=notify
// service sends READY=1 once it serves and STOPPING=1 when it begins to
// stop, from its main process, to the socket NOTIFY_SOCKET names (a path
// or an abstract "@name").
func TestSystemdNotifyReadyAndStopping(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("abstract=%v/loops=%d", abstract, loops), func(t *testing.T) {
				m := sdnotifytest.Listen(t, abstract)
				r, err := New(WithLoops(loops), WithSignalHandling(false))
				if err != nil {
					t.Fatal(err)
				}
				ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- r.Run() }()
				got, err := m.Next(30 * time.Second)
				if err != nil {
					t.Fatalf("waiting for READY=1: %v", err)
				}
				if got.State != "READY=1" || got.PID != os.Getpid() {
					t.Fatalf("first notification %+v, want READY=1 from pid %d", got, os.Getpid())
				}
				// READY=1 means the listener accepts.
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatalf("dial after READY=1: %v", err)
				}
				c.Close()
				if err := r.Stop(); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if rest, err := m.Pending(); err != nil || len(rest) != 1 || rest[0].State != "STOPPING=1" || rest[0].PID != os.Getpid() {
					t.Fatalf("after Stop: %+v, %v; want exactly STOPPING=1 from pid %d", rest, err, os.Getpid())
				}
			})
		}
	}
}

func TestSystemdNotifyOffSendsNothing(t *testing.T) {
	m := sdnotifytest.Listen(t, false)
	r, err := New(WithSignalHandling(false), WithSystemdNotify(false))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	waitFor(t, "the reactor to run", r.Running)
	r.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Run sends its notifications before it returns: any would be queued.
	if got, err := m.Pending(); err != nil || len(got) != 0 {
		t.Fatalf("with WithSystemdNotify(false): %+v, %v; want nothing", got, err)
	}
}

func TestSystemdNotifyToAMissingSocketIsLoggedAndChangesNothing(t *testing.T) {
	t.Setenv(envNotifySocket, filepath.Join(t.TempDir(), "nobody-listens"))
	logged := &syncBuffer{}
	r, err := New(WithSignalHandling(false), WithLogger(zerolog.New(logged)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	waitFor(t, "the reactor to run", r.Running)
	r.Stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil: a manager that is not there is not the service's failure", err)
	}
	if !strings.Contains(logged.String(), "cannot notify the service manager") {
		t.Fatalf("log lacks the failed notification:\n%s", logged.String())
	}
}
