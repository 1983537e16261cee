//go:build linux

package reactor

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Where io_uring_setup fails (a kernel without io_uring: ENOSYS; a
// seccomp profile or io_uring_disabled: EPERM) the reactor runs on the
// readiness backend and says why in one log line; the option changes
// nothing else.
func TestBackendFallbackWhenSetupFails(t *testing.T) {
	for _, errno := range []error{unix.ENOSYS, unix.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			saved := uringSetup
			uringSetup = func(uint32, *uringParams) (int, error) { return -1, errno }
			t.Cleanup(func() { uringSetup = saved })
			var logs syncBuffer
			r := newLoggedReactor(t, &logs, WithBackend(BackendIOURing))
			if r.Backend() != BackendEpoll {
				t.Fatalf("Backend() = %v after a failed setup, want epoll", r.Backend())
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "io_uring backend unavailable") ||
				!strings.Contains(lines[0], errno.Error()) {
				t.Fatalf("log = %q, want one line naming the fallback and %v", logs.String(), errno)
			}
		})
	}
}

// io_uring_disabled = 2 turns io_uring off for everyone: the probe says so
// without trying.
func TestBackendFallbackWhenDisabled(t *testing.T) {
	path := t.TempDir() + "/io_uring_disabled"
	if err := os.WriteFile(path, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := uringDisabledPath
	uringDisabledPath = path
	t.Cleanup(func() { uringDisabledPath = saved })
	var logs syncBuffer
	r := newLoggedReactor(t, &logs, WithBackend(BackendIOURing))
	if r.Backend() != BackendEpoll || !strings.Contains(logs.String(), "io_uring is disabled") {
		t.Fatalf("Backend() = %v, log %q; want epoll and the reason", r.Backend(), logs.String())
	}
}
