package main

import (
	"bufio"
	"bytes"
	"errors"
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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The binaries are built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (proxy, echo string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "mustaine-proxy-test")
		if buildErr != nil {
			return
		}
		for _, b := range [][2]string{{"proxy", "."}, {"echo", "../echo"}} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, b[0]), b[1]).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "proxy"), filepath.Join(binDir, "echo")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	listeningAddr = regexp.MustCompile(`addr=(\S+)`)
	ansiEscape    = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

// start runs bin with args, waits for its 'listening addr=' line and
// returns the process, the address and its log; it is killed when the test
// ends.
func start(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *exampletest.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
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
	log := &exampletest.Buffer{}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		line := lines.Text()
		log.Write([]byte(line + "\n"))
		if m := listeningAddr.FindStringSubmatch(ansiEscape.ReplaceAllString(line, "")); m != nil && strings.Contains(line, "listening") {
			go io.Copy(log, stderr)
			return cmd, m[1], log
		}
	}
	t.Fatalf("%s exited before it was listening: %v\n%s", bin, lines.Err(), log)
	return nil, "", nil
}

// startPair runs examples/echo and examples/proxy in front of it, the
// backend given by host name (localhost).
func startPair(t *testing.T, loops int) (proxy *exec.Cmd, proxyAddr string) {
	t.Helper()
	proxyBin, echoBin := binaries(t)
	_, echoAddr, _ := start(t, echoBin, "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops))
	_, port, _ := net.SplitHostPort(echoAddr)
	proxy, proxyAddr, _ = start(t, proxyBin, "-listen", "127.0.0.1:0", "-backend", "localhost:"+port, "-loops", strconv.Itoa(loops))
	return proxy, proxyAddr
}

func eachLoops(t *testing.T, fn func(t *testing.T, loops int)) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", n), func(t *testing.T) { fn(t, n) })
	}
}

func streamByte(i int64) byte { return byte(i*131 + i>>9) }

// 64 MiB sent through the proxy to the echo server by a client that reads
// its echo slower than it writes come back byte for byte, and the proxy's
// RSS grows by under 8 MiB: the backpressure holds both ways (the slow
// client pauses the backend leg, which fills the echo server, which stops
// reading, which fills the backend leg's output, which pauses the client
// leg).
func TestProxy64MiBToEchoWithASlowReaderBoundedRSS(t *testing.T) {
	eachLoops(t, func(t *testing.T, loops int) {
		proxy, addr := startPair(t, loops)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		// Warm up, then take the baseline.
		if _, err := c.Write([]byte{streamByte(0)}); err != nil {
			t.Fatal(err)
		}
		one := make([]byte, 1)
		if _, err := io.ReadFull(c, one); err != nil || one[0] != streamByte(0) {
			t.Fatalf("warm-up echo: %v %v", one, err)
		}
		base := exampletest.MustRSS(t, proxy.Process.Pid)
		const total = 64 << 20
		var peak atomic.Int64
		stopSampling := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stopSampling:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if r := exampletest.MustRSS(t, proxy.Process.Pid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}()
		wrote := make(chan error, 1)
		go func() {
			buf := make([]byte, 256<<10)
			for off := int64(1); off < total+1; {
				n := min(int64(len(buf)), total+1-off)
				for i := range n {
					buf[i] = streamByte(off + i)
				}
				if _, err := c.Write(buf[:n]); err != nil {
					wrote <- err
					return
				}
				off += n
			}
			wrote <- c.(*net.TCPConn).CloseWrite()
		}()
		buf := make([]byte, 64<<10)
		var got int64 = 1
		for {
			n, err := c.Read(buf)
			for i := range n {
				if buf[i] != streamByte(got+int64(i)) {
					t.Fatalf("byte %d is %d, want %d", got+int64(i), buf[i], streamByte(got+int64(i)))
				}
			}
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			time.Sleep(time.Millisecond) // the slow reader
		}
		close(stopSampling)
		<-sampled
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if got != total+1 {
			t.Fatalf("got %d bytes back, want %d", got, total+1)
		}
		growth := peak.Load() - base
		t.Logf("proxy RSS %d KiB at the start, peak growth %d KiB over 64 MiB", base>>10, growth>>10)
		if growth > 8<<20 {
			t.Errorf("proxy RSS grew by %d KiB, want under 8 MiB", growth>>10)
		}
	})
}

// A client's half-close is passed to the backend, whose reply and close
// come back: the client reads everything it sent, then EOF.
func TestProxyPropagatesHalfClose(t *testing.T) {
	eachLoops(t, func(t *testing.T, loops int) {
		_, addr := startPair(t, loops)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		msg := bytes.Repeat([]byte("half-close "), 10000)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read after half-close: %v", err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("got %d bytes, want the %d sent", len(got), len(msg))
		}
	})
}

// A reset on either side reaches the other side as a reset.
func TestProxyPropagatesResets(t *testing.T) {
	eachLoops(t, func(t *testing.T, loops int) {
		proxyBin, _ := binaries(t)
		backend, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer backend.Close()
		_, addr, _ := start(t, proxyBin, "-listen", "127.0.0.1:0", "-backend", backend.Addr().String(), "-loops", strconv.Itoa(loops))
		dial := func() (client, server net.Conn) {
			client, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			server, err = backend.Accept()
			if err != nil {
				t.Fatal(err)
			}
			// One round trip, so that both legs are up and relaying.
			client.Write([]byte("x"))
			b := make([]byte, 1)
			if _, err := io.ReadFull(server, b); err != nil {
				t.Fatal(err)
			}
			client.SetDeadline(time.Now().Add(time.Minute))
			server.SetDeadline(time.Now().Add(time.Minute))
			return client, server
		}
		readErr := func(c net.Conn) error {
			_, err := io.ReadAll(c)
			return err
		}

		client, server := dial()
		client.(*net.TCPConn).SetLinger(0)
		client.Close()
		if err := readErr(server); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client reset: the backend read %v, want ECONNRESET", err)
		}
		server.Close()

		client, server = dial()
		server.(*net.TCPConn).SetLinger(0)
		server.Close()
		if err := readErr(client); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("backend reset: the client read %v, want ECONNRESET", err)
		}
		client.Close()
	})
}

// With the backend down, a client is closed and the proxy logs why; once
// the backend is up, new clients get through without restarting the proxy.
func TestProxyBackendDownThenUp(t *testing.T) {
	eachLoops(t, func(t *testing.T, loops int) {
		proxyBin, echoBin := binaries(t)
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(probe.Addr().String())
		probe.Close()
		_, addr, log := start(t, proxyBin, "-listen", "127.0.0.1:0", "-backend", "localhost:"+port, "-loops", strconv.Itoa(loops))

		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("with the backend down the client read %d bytes, %v; want EOF", n, err)
		}
		c.Close()
		for !strings.Contains(log.String(), "backend connect failed") {
			time.Sleep(10 * time.Millisecond) // the line may trail the close
		}
		if out := log.String(); !strings.Contains(out, "refused") {
			t.Errorf("the log does not give the reason:\n%s", out)
		}

		start(t, echoBin, "-addr", "127.0.0.1:"+port, "-loops", "1")
		c, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write([]byte("back up")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 7)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "back up" {
			t.Fatalf("through the proxy once the backend is up: %q %v", got, err)
		}
	})
}

// -loops below 1 is a usage error, and a log written to a pipe has no
// colour.
func TestProxyFlags(t *testing.T) {
	proxyBin, _ := binaries(t)
	for _, loops := range []string{"0", "-1"} {
		out, err := exec.Command(proxyBin, "-loops", loops).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("-loops %s: %v, want exit status 2", loops, err)
		}
		if want := `invalid value "` + loops + `" for flag -loops: must be at least 1`; !strings.Contains(string(out), want) || !strings.Contains(string(out), "Usage") {
			t.Errorf("-loops %s: output does not say %q with the usage:\n%s", loops, want, out)
		}
	}
	_, _, log := start(t, proxyBin, "-listen", "127.0.0.1:0", "-backend", "localhost:1", "-loops", "1", "-v")
	if strings.Contains(log.String(), "\x1b[") {
		t.Errorf("colour escapes in a log written to a pipe:\n%q", log.String())
	}
}

// Both examples take -listen ENDPOINT: echo and proxy on tcp: endpoints,
// a Unix-socket proxy in front, one round trip through all of them.
func TestListenEndpointFlag(t *testing.T) {
	proxyBin, echoBin := binaries(t)
	_, echoAddr, _ := start(t, echoBin, "-listen", "tcp:0:interface=127.0.0.1", "-loops", "1")
	_, port, _ := net.SplitHostPort(echoAddr)
	_, addr, _ := start(t, proxyBin, "-listen", "tcp:0:interface=127.0.0.1:backlog=64", "-backend", "localhost:"+port, "-loops", "1")
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	start(t, proxyBin, "-listen", "unix:"+sock+":mode=600", "-backend", addr, "-loops", "1")
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi, err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	c.Write([]byte("endpoints"))
	got := make([]byte, 9)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "endpoints" {
		t.Fatalf("through unix proxy, tcp proxy and echo: %q %v", got, err)
	}
}
