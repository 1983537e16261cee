package main

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/mustaine/mustaine/internal/exampletest"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// buildEcho builds this example once per test binary.
func buildEcho(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "echo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var (
	listeningAddr = regexp.MustCompile(`addr=(\S+)`)
	ansiEscape    = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

// startEcho runs the example binary on a free loopback port and returns its
// process and address; the process is killed when the test ends.
func startEcho(t *testing.T, bin string, loops int) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		line := ansiEscape.ReplaceAllString(lines.Text(), "")
		if m := listeningAddr.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
			go io.Copy(io.Discard, stderr)
			return cmd, m[1]
		}
	}
	t.Fatalf("the server exited before it was listening: %v", lines.Err())
	return nil, ""
}

func streamByte(i int64) byte { return byte(i*131 + i>>9) }

// The idiom this example shows is that there is none to write: a client
// that sends 50 MiB and reads nothing makes the server stop reading from it
// once its unsent echo is above the high-water mark, so the server's RSS
// grows by at most 8 MiB; once the client reads, it gets all 50 MiB back,
// byte for byte.
func TestClientThatDoesNotReadCannotGrowTheServer(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the server's RSS")
	}
	bin := buildEcho(t)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			const total = 50 << 20
			cmd, addr := startEcho(t, bin, loops)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A first round trip: the server's per-connection state and
			// read buffers exist before the baseline is taken.
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			baseline := exampletest.MustRSS(t, cmd.Process.Pid)
			var written atomic.Int64
			writeDone := make(chan error, 1)
			go func() {
				chunk := make([]byte, 64<<10)
				var off int64
				for off < total {
					for i := range chunk {
						chunk[i] = streamByte(off + int64(i))
					}
					n, err := c.Write(chunk)
					off += int64(n)
					written.Store(off)
					if err != nil {
						writeDone <- err
						return
					}
				}
				writeDone <- nil
			}()
			// Wait until the writer is held back.
			for last := int64(-1); ; {
				time.Sleep(300 * time.Millisecond)
				now := written.Load()
				if now == last {
					break
				}
				last = now
			}
			held := written.Load()
			grown := exampletest.MustRSS(t, cmd.Process.Pid) - baseline
			t.Logf("writer held back after %d KiB; server RSS grew by %d KiB", held>>10, grown>>10)
			if held >= total {
				t.Fatalf("the server read all %d bytes from a client that did not read", held)
			}
			if grown > 8<<20 {
				t.Fatalf("server RSS grew by %d bytes; want at most 8 MiB", grown)
			}
			got := make([]byte, 256<<10)
			var off int64
			var want [256 << 10]byte
			for off < total {
				c.SetReadDeadline(time.Now().Add(time.Minute))
				n, err := c.Read(got)
				for i := range got[:n] {
					want[i] = streamByte(off + int64(i))
				}
				if !bytes.Equal(got[:n], want[:n]) {
					t.Fatalf("echo differs within bytes %d..%d", off, off+int64(n))
				}
				off += int64(n)
				if err != nil {
					t.Fatalf("after %d echoed bytes: %v", off, err)
				}
			}
			if err := <-writeDone; err != nil {
				t.Fatal(err)
			}
		})
	}
}
