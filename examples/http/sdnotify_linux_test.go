package main

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mustaine/mustaine/internal/exampletest"
	"github.com/mustaine/mustaine/internal/sdnotifytest"
)

// TestSIGHUPUpgradeUnderSystemdNotify runs the example as a systemd
// Type=notify service does (NOTIFY_SOCKET set; the fake manager reads each
// sender's pid as systemd does, and NotifyAccess=main would only take the
// main process's): the first process sends READY=1 once it listens; on
// SIGHUP it names its ready successor the main process (MAINPID=<new
// pid>) and sends no STOPPING=1, since the service goes on; the successor
// sends STOPPING=1 when it is stopped with SIGTERM, and nothing else.
func TestSIGHUPUpgradeUnderSystemdNotify(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			m := sdnotifytest.Listen(t, false)
			s := startProcess(t, []string{"NOTIFY_SOCKET=" + m.Addr()}, nil, false,
				"-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops))
			first := s.pid
			next := func(what string) sdnotifytest.Notification {
				t.Helper()
				n, err := m.Next(30 * time.Second)
				if err != nil {
					t.Fatalf("waiting for %s: %v", what, err)
				}
				return n
			}
			if n := next("READY=1"); n != (sdnotifytest.Notification{State: "READY=1", PID: first}) {
				t.Fatalf("first notification %+v, want READY=1 from pid %d", n, first)
			}
			if code, _, err := fetch(keepAliveClient(), "http://"+s.addr+"/healthz"); err != nil || code != 200 {
				t.Fatalf("GET /healthz after READY=1: %d %v", code, err)
			}
			syscall.Kill(first, syscall.SIGHUP)
			s.waitListening(t)
			successor := s.pid
			if successor == first {
				t.Fatalf("after SIGHUP the same pid %d listens", first)
			}
			want := sdnotifytest.Notification{State: "MAINPID=" + strconv.Itoa(successor), PID: first}
			if n := next("MAINPID"); n != want {
				t.Fatalf("after SIGHUP: %+v, want %+v", n, want)
			}
			if err := exampletest.WaitExit(t, s.cmd); err != nil {
				t.Fatalf("old process after the upgrade: %v, want exit status 0", err)
			}
			// The old process has exited: whatever it sent is queued.
			if rest, err := m.Pending(); err != nil || len(rest) != 0 {
				t.Fatalf("after the old process's exit: %+v, %v; want nothing more (no STOPPING=1, no READY=1 from the successor)", rest, err)
			}
			s.out.StopPID(t, successor)
			if n := next("STOPPING=1"); n != (sdnotifytest.Notification{State: "STOPPING=1", PID: successor}) {
				t.Fatalf("after SIGTERM to the successor: %+v, want STOPPING=1 from pid %d", n, successor)
			}
		})
	}
}
