package reactor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

const emfileChildEnv = "MUSTAINE_EMFILE_CHILD"

// emfileChild runs in a subprocess with few descriptors: an echo server
// that prints its address, then its accept back-off count (Stats) for each
// line read from stdin, and stops when its stdin closes, printing the
// count a last time.
func emfileChild() {
	lim := unix.Rlimit{Cur: 48, Max: 48}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(2)
	}
	r, err := New(WithLoops(1), WithLogger(zerolog.New(os.Stderr).Level(zerolog.WarnLevel)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		os.Exit(2)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", echoFactory())
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		for in := bufio.NewScanner(os.Stdin); in.Scan(); {
			fmt.Println(r.Stats().Total().AcceptBackoffs)
		}
		r.Stop()
	}()
	if err := r.Run(); err != nil {
		os.Exit(3)
	}
	fmt.Println(r.Stats().Total().AcceptBackoffs)
	os.Exit(0)
}

// cpuTicks reads a process's user+system time from /proc/pid/stat.
func cpuTicks(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func TestAcceptEMFILEBacksOffWithoutSpinningAndRecovers(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewReader(stdout)
	line := func() string {
		s, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("child: %v\n%s", err, stderr.String())
		}
		return strings.TrimSpace(s)
	}
	backoffs := func() string {
		stdin.Write([]byte("stats\n"))
		return line()
	}
	addr := line()
	if n := backoffs(); n != "0" {
		t.Fatalf("Stats counts %s accept back-offs before any connection", n)
	}

	// Far more connections than the child has descriptors: the kernel
	// completes them into the backlog, the child runs out of fds.
	var flood []net.Conn
	for range 120 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		flood = append(flood, c)
	}
	for !strings.Contains(stderr.String(), "backing off") {
		time.Sleep(20 * time.Millisecond)
	}
	// Each back-off is counted before it is logged.
	logged := strings.Count(stderr.String(), "backing off")
	if n, _ := strconv.Atoi(backoffs()); n < logged {
		t.Errorf("Stats counts %d accept back-offs, %d were logged before", n, logged)
	}
	before := cpuTicks(t, cmd.Process.Pid)
	time.Sleep(time.Second)
	if used := cpuTicks(t, cmd.Process.Pid) - before; used > 300*time.Millisecond {
		t.Errorf("child used %v of CPU in one second out of descriptors: spinning", used)
	}
	for _, c := range flood {
		c.Close()
	}
	// Once descriptors are free the listener accepts again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(3 * time.Second))
			c.Write([]byte("alive"))
			buf := make([]byte, 5)
			_, err = io.ReadFull(c, buf)
			c.Close()
			if err == nil && string(buf) == "alive" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener did not recover: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stdin.Close()
	final := line()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child exited with %v\n%s", err, stderr.String())
	}
	if want := strconv.Itoa(strings.Count(stderr.String(), "backing off")); final != want {
		t.Errorf("Stats counts %s accept back-offs, %s were logged", final, want)
	}
}
