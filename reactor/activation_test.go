package reactor

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// TestParseActivationFollowsSdListenFds pins sd_listen_fds(3)'s reading
// of the environment: no LISTEN_PID, or another process's, means no
// sockets; LISTEN_FDS sockets start at descriptor 3; LISTEN_FDNAMES names
// them (":"-separated, one per socket) or, unset, every one is "unknown";
// malformed values are errors matching ErrBadActivation.
func TestParseActivationFollowsSdListenFds(t *testing.T) {
	const pid = 4242
	for _, c := range []struct {
		name      string
		env       map[string]string
		wantFDs   []int
		wantNames []string
		wantErr   bool
	}{
		{"nothing set", map[string]string{}, nil, nil, false},
		{"another process's", map[string]string{"LISTEN_PID": "17", "LISTEN_FDS": "2"}, nil, nil, false},
		{"two named", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:admin"}, []int{3, 4}, []string{"http", "admin"}, false},
		{"unnamed", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "1"}, []int{3}, []string{"unknown"}, false},
		{"zero", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "0"}, nil, nil, false},
		{"names do not match the count", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http"}, nil, nil, true},
		{"count not a number", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "two"}, nil, nil, true},
		{"count missing", map[string]string{"LISTEN_PID": "4242"}, nil, nil, true},
		{"negative count", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "-1"}, nil, nil, true},
		{"pid not a number", map[string]string{"LISTEN_PID": "me", "LISTEN_FDS": "1"}, nil, nil, true},
	} {
		fds, names, err := parseActivation(func(k string) string { return c.env[k] }, pid)
		if c.wantErr {
			if !errors.Is(err, ErrBadActivation) {
				t.Errorf("%s: error %v, want ErrBadActivation", c.name, err)
			}
			continue
		}
		if err != nil || !slices.Equal(fds, c.wantFDs) || !slices.Equal(names, c.wantNames) {
			t.Errorf("%s: fds %v names %q err %v, want %v %q", c.name, fds, names, err, c.wantFDs, c.wantNames)
		}
	}
}

const activationHelperEnv = "MUSTAINE_TEST_ACTIVATION_HELPER"

// TestActivationHelperProcess is the child of
// TestSocketActivationServesTheInheritedSocket: started with LISTEN_PID
// set to its own pid by /bin/sh and the socket as descriptor 3, it reports
// what ActivationListeners left in the environment and on the descriptor,
// then serves the socket until SIGTERM.
func TestActivationHelperProcess(t *testing.T) {
	if os.Getenv(activationHelperEnv) != "1" {
		return
	}
	loops, _ := strconv.Atoi(os.Getenv("HELPER_LOOPS"))
	files, err := ActivationListeners()
	if err != nil || len(files) != 1 {
		fmt.Printf("activation: %d files, %v\n", len(files), err)
		os.Exit(1)
	}
	flags, _ := unix.FcntlInt(3, unix.F_GETFD, 0)
	fmt.Printf("name=%s unset=%t cloexec=%t\n", files[0].Name(),
		os.Getenv("LISTEN_PID")+os.Getenv("LISTEN_FDS")+os.Getenv("LISTEN_FDNAMES") == "", flags&unix.FD_CLOEXEC != 0)
	r, err := New(WithLoops(loops), WithReusePort(true), WithLogger(zerolog.New(os.Stdout)))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	_, err = r.ListenActivated("other", pidEchoFactory())
	fmt.Printf("other: no socket %t\n", errors.Is(err, ErrNoActivatedSocket))
	lns, err := r.ListenActivated("web", pidEchoFactory())
	if err != nil || len(lns) != 1 {
		fmt.Printf("ListenActivated: %d listeners, %v\n", len(lns), err)
		os.Exit(1)
	}
	_, err = r.ListenActivated("web", pidEchoFactory())
	fmt.Printf("again: no socket %t\n", errors.Is(err, ErrNoActivatedSocket))
	r.CallWhenRunning(func() { fmt.Printf("serving %s on %d sockets\n", lns[0].Addr(), max(1, len(lns[0].fds))) })
	if err := r.Run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestSocketActivationServesTheInheritedSocket starts a process the way
// systemd does (the listening socket as descriptor 3, LISTEN_FDS=1,
// LISTEN_FDNAMES, LISTEN_PID its own pid) and checks that it serves that
// socket, every byte echoed: ListenActivated finds it by name, and only
// once; the variables are unset and the descriptor close-on-exec; with 2
// loops, a socket with SO_REUSEPORT gets a copy per loop and one without
// it is shared.
func TestSocketActivationServesTheInheritedSocket(t *testing.T) {
	for _, loops := range []int{1, 2} {
		for _, reuse := range []bool{false, true} {
			t.Run(fmt.Sprintf("loops=%d/SO_REUSEPORT=%t", loops, reuse), func(t *testing.T) {
				fd, addr := rawListener(t, reuse)
				f := os.NewFile(uintptr(fd), "listener")
				defer f.Close()
				h := startHelper(t, "TestActivationHelperProcess", []string{
					activationHelperEnv + "=1", "HELPER_LOOPS=" + strconv.Itoa(loops),
					"LISTEN_FDS=1", "LISTEN_FDNAMES=web",
				}, []*os.File{f}, true)
				m, next := h.Wait(t, regexp.MustCompile(`^name=(\S+) unset=(\S+) cloexec=(\S+)$`), 0)
				if m[1] != "web" || m[2] != "true" || m[3] != "true" {
					t.Fatalf("name %q, variables unset %s, close-on-exec %s; want web, true, true", m[1], m[2], m[3])
				}
				if m, _ := h.Wait(t, regexp.MustCompile(`^other: no socket (\S+)$`), next); m[1] != "true" {
					t.Fatal("ListenActivated(\"other\") did not fail with ErrNoActivatedSocket")
				}
				if m, _ := h.Wait(t, regexp.MustCompile(`^again: no socket (\S+)$`), next); m[1] != "true" {
					t.Fatal("a second ListenActivated(\"web\") did not fail with ErrNoActivatedSocket")
				}
				m, _ = h.Wait(t, regexp.MustCompile(`^serving (\S+) on (\d+) sockets$`), next)
				want := "1"
				if reuse && loops > 1 {
					want = strconv.Itoa(loops)
				}
				if m[1] != addr || m[2] != want {
					t.Fatalf("serving %s on %s sockets, want %s on %s", m[1], m[2], addr, want)
				}
				f.Close() // only the child holds the socket now
				for i := range 50 {
					pid, err := pidEcho("tcp", addr, fmt.Sprintf("activated %d", i))
					if err != nil {
						t.Fatal(err)
					}
					if pid != h.cmd.Process.Pid {
						t.Fatalf("served by pid %d, want the activated child %d", pid, h.cmd.Process.Pid)
					}
				}
				h.StopPID(t, h.cmd.Process.Pid)
				if err := h.cmd.Wait(); err != nil {
					t.Fatalf("child after SIGTERM: %v", err)
				}
			})
		}
	}
}
