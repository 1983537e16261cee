package main

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/mustaine/mustaine/internal/exampletest"
	"io"
	"net"
	nethttp "net/http"
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

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/reactor"
)

// These tests run the example as a user does: the binary, built here, as
// a child process on a port it picks (-addr 127.0.0.1:0), stopped with
// SIGTERM. The reactor's default shutdown timeout (10 s) applies.

const defaultShutdownTimeout = 10 * time.Second

// exampleBinary builds examples/http into the test's temporary directory.
func exampleBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "http")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is the example server running as a process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *exampletest.Buffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

var listenAddr = regexp.MustCompile(`http://(127\.0\.0\.1:[0-9]+)/`)

func startChild(t *testing.T, loops int, flags ...string) *child {
	t.Helper()
	c := &child{stderr: &exampletest.Buffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(exampleBinary(t), append([]string{"-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops)}, flags...)...)
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			c.stderr.Write([]byte(line + "\n"))
			if m := listenAddr.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pipe)
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill() // by PID: only this child
			<-c.exited
		}
	})
	select {
	case c.addr = <-found:
	case <-c.exited:
		t.Fatalf("server exited before listening: %v\n%s", c.err, c.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not report its address:\n%s", c.stderr)
	}
	return c
}

// terminate sends SIGTERM and waits for the process to exit, returning
// how long that took.
func (c *child) terminate(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
	case <-time.After(3 * defaultShutdownTimeout):
		t.Fatalf("no exit %v after SIGTERM:\n%s", 3*defaultShutdownTimeout, c.stderr)
	}
	if c.err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", c.err, c.stderr)
	}
	return time.Since(start)
}

func (c *child) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(120 * time.Second))
	return conn.(*net.TCPConn)
}

// streamLines is the body /stream?n=n sends.
func streamLines(n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, " of "...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, '\n')
	}
	return b
}

func rawGET(target string) string { return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" }

func TestSIGTERMLetsSleepingAndStreamingClientsFinishThenExitsZero(t *testing.T) {
	const sleepers, streamers, lines = 20, 20, 100000
	want := streamLines(lines)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			srv := startChild(t, loops)
			type client struct {
				conn *net.TCPConn
				br   *bufio.Reader
				resp *nethttp.Response // streamers: the head, read before SIGTERM
			}
			var sleeping, streaming []client
			for i := 0; i < sleepers; i++ {
				// "/" and then /sleep in one write, so in one read: once
				// the answer to "/" is here, /sleep is being served.
				c := client{conn: srv.dial(t)}
				c.br = bufio.NewReader(c.conn)
				if _, err := c.conn.Write([]byte(rawGET("/") + rawGET("/sleep?ms=1500"))); err != nil {
					t.Fatal(err)
				}
				resp, err := nethttp.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				sleeping = append(sleeping, c)
			}
			for i := 0; i < streamers; i++ {
				// The client reads the head, then stops reading until
				// after SIGTERM: the server's producer is held back by
				// flow control, with most of the body still to send.
				c := client{conn: srv.dial(t)}
				c.br = bufio.NewReader(c.conn)
				if _, err := c.conn.Write([]byte(rawGET("/stream?n=" + strconv.Itoa(lines)))); err != nil {
					t.Fatal(err)
				}
				resp, err := nethttp.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.resp = resp
				streaming = append(streaming, c)
			}

			exited := make(chan time.Duration, 1)
			go func() { exited <- srv.terminate(t) }()

			var wg sync.WaitGroup
			errs := make(chan error, sleepers+streamers)
			for i, c := range sleeping {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := nethttp.ReadResponse(c.br, nil)
					if err != nil {
						errs <- fmt.Errorf("sleeper %d: %v", i, err)
						return
					}
					body, err := io.ReadAll(resp.Body)
					if err != nil || resp.StatusCode != 200 || string(body) != "slept 1500 ms\n" || !resp.Close {
						errs <- fmt.Errorf("sleeper %d: %d %q close=%v %v; want 200 \"slept 1500 ms\" with Connection: close",
							i, resp.StatusCode, body, resp.Close, err)
						return
					}
					if rest, err := io.ReadAll(c.br); len(rest) > 0 || err != nil {
						errs <- fmt.Errorf("sleeper %d: %q, %v after the response; want EOF", i, rest, err)
					}
				}()
			}
			for i, c := range streaming {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, err := io.ReadAll(c.resp.Body)
					if err != nil || !bytes.Equal(body, want) {
						errs <- fmt.Errorf("streamer %d: %d of %d body bytes, equal=%v, %v", i, len(body), len(want), bytes.Equal(body, want), err)
						return
					}
					if rest, err := io.ReadAll(c.br); len(rest) > 0 || err != nil {
						errs <- fmt.Errorf("streamer %d: %q, %v after the response; want EOF", i, rest, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			took := <-exited
			if took >= defaultShutdownTimeout {
				t.Errorf("exit took %v after SIGTERM: the drain waited for the %v deadline", took, defaultShutdownTimeout)
			}
			if strings.Contains(srv.stderr.String(), "aborting") {
				t.Errorf("connections aborted:\n%s", srv.stderr)
			}
			t.Logf("exited %v after SIGTERM", took)
		})
	}
}

func TestStopCutsASleepLongerThanTheShutdownTimeoutWithALoggedReason(t *testing.T) {
	// The binary has no shutdown-timeout flag, so this one runs the
	// example's server in the test process, with the example's handler
	// and a short timeout; its log goes to the buffer standing for
	// stderr.
	const timeout = 500 * time.Millisecond
	stderr := &exampletest.Buffer{}
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true}).Level(zerolog.InfoLevel)
	r, ln, err := newServer("127.0.0.1:0", 2, log, reactor.WithShutdownTimeout(timeout), reactor.WithSignalHandling(false))
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	<-running

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	// As in the SIGTERM test, "/" first proves /sleep is being served.
	if _, err := conn.Write([]byte(rawGET("/") + rawGET("/sleep?ms=3000"))); err != nil {
		t.Fatal(err)
	}
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	stopped := time.Now()
	r.Stop()
	rest, err := io.ReadAll(br)
	cut := time.Since(stopped)
	if len(rest) != 0 || err == nil {
		t.Fatalf("client got %q, %v; want the connection cut with no response", rest, err)
	}
	if cut < timeout {
		t.Fatalf("cut %v after Stop, before the %v shutdown timeout", cut, timeout)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logged := stderr.String()
	if !strings.Contains(logged, "WRN shutdown deadline passed; aborting connection still open") ||
		!strings.Contains(logged, "peer="+conn.LocalAddr().String()) || !strings.Contains(logged, "conn=") {
		t.Fatalf("no warning naming the connection:\n%s", logged)
	}
	t.Logf("log:\n%s", logged)
	// The sleep itself cannot be interrupted: let it end so that no
	// worker outlives the test.
	for i := 0; i < 100 && r.PoolStats().Workers > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// vmRSS is a process's resident set size in bytes, or -1 when it cannot
// be read (the sampler runs on its own goroutine and cannot fail the test).
func vmRSS(pid int) int64 {
	n, err := exampletest.RSS(pid)
	if err != nil {
		return -1
	}
	return n
}

// pipelinedBatch is requests written over and over by the flood test:
// every seventh is /json, the rest /, so the order of the responses can
// be checked.
const batchSize = 700

func batchTarget(i int) string {
	if i%7 == 3 {
		return "/json"
	}
	return "/"
}

func TestPipeliningClientsThatNeverReadCannotGrowServerMemory(t *testing.T) {
	const (
		conns     = 4
		perConn   = 10 << 20 // bytes of pipelined requests each
		maxGrowth = 16 << 20
	)
	var batch []byte
	for i := 0; i < batchSize; i++ {
		batch = append(batch, rawGET(batchTarget(i))...)
	}
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			srv := startChild(t, loops)
			pid := srv.cmd.Process.Pid
			// Warm up: the first requests fill the server's pools.
			warm := srv.dial(t)
			warm.Write([]byte(rawGET("/") + rawGET("/json")))
			br := bufio.NewReader(warm)
			for i := 0; i < 2; i++ {
				resp, err := nethttp.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			}
			warm.Close()
			base := vmRSS(pid)

			var peak atomic.Int64
			stopSampling := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					if v := vmRSS(pid); v > peak.Load() {
						peak.Store(v)
					}
					select {
					case <-stopSampling:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}()

			// Writers: 10 MB of requests each, then a half-close.
			var written [conns]atomic.Int64 // requests
			var cs [conns]*net.TCPConn
			var wg sync.WaitGroup
			writeErr := make(chan error, conns)
			for i := range cs {
				cs[i] = srv.dial(t)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for sent := 0; sent < perConn; sent += len(batch) {
						if _, err := cs[i].Write(batch); err != nil {
							writeErr <- fmt.Errorf("conn %d: write: %v", i, err)
							return
						}
						written[i].Add(batchSize)
					}
					cs[i].CloseWrite()
				}()
			}
			// Wait until the writers stop making progress: the server
			// has stopped reading (or has read everything).
			total := func() (n int64) {
				for i := range written {
					n += written[i].Load()
				}
				return n
			}
			for last, still := int64(-1), 0; still < 10; {
				time.Sleep(100 * time.Millisecond)
				if n := total(); n == last {
					still++
				} else {
					last, still = n, 0
				}
			}
			stalledAt := total()
			peakStalled := peak.Load()

			// Readers: every response, in order, then EOF.
			type result struct {
				n   int64
				err error
			}
			results := make(chan result, conns)
			for i := range cs {
				go func() {
					n, err := readFlood(cs[i])
					results <- result{n, err}
				}()
			}
			got := make([]int64, conns)
			for i := 0; i < conns; i++ {
				res := <-results
				if res.err != nil {
					t.Error(res.err)
				}
				got[i] = res.n
			}
			wg.Wait()
			close(writeErr)
			for err := range writeErr {
				t.Fatal(err)
			}
			close(stopSampling)
			<-sampled
			var sent, answered int64
			for i := range cs {
				sent += written[i].Load()
				answered += got[i]
			}
			if answered != sent {
				t.Errorf("%d responses for %d requests", answered, sent)
			}
			growth := peak.Load() - base
			t.Logf("RSS %.1f MiB at start, peak %.1f MiB while %d of %d requests were written unread, %.1f MiB over the whole test (growth %.1f MiB); %d responses",
				float64(base)/(1<<20), float64(peakStalled)/(1<<20), stalledAt, sent,
				float64(peak.Load())/(1<<20), float64(growth)/(1<<20), answered)
			if growth >= maxGrowth {
				t.Errorf("server RSS grew by %.1f MiB, want under %d MiB\n%s", float64(growth)/(1<<20), maxGrowth>>20, srv.stderr)
			}
			srv.terminate(t)
		})
	}
}

// readFlood reads the responses to the flood's requests, checking each
// against the request it answers, until EOF; it returns how many it read.
func readFlood(c net.Conn) (int64, error) {
	br := bufio.NewReaderSize(c, 64<<10)
	var n int64
	body := make([]byte, 64)
	for {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("response %d: %v", n, err)
		}
		if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
			return n, fmt.Errorf("response %d: status line %q", n, line)
		}
		length := -1
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return n, fmt.Errorf("response %d head: %v", n, err)
			}
			if len(line) == 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		want := helloBody
		if batchTarget(int(n%batchSize)) == "/json" {
			want = jsonBody
		}
		if length != len(want) {
			return n, fmt.Errorf("response %d: Content-Length %d, want %d", n, length, len(want))
		}
		if _, err := io.ReadFull(br, body[:length]); err != nil {
			return n, fmt.Errorf("response %d body: %v", n, err)
		}
		if !bytes.Equal(body[:length], want) {
			return n, fmt.Errorf("response %d: body %q, want %q (out of order?)", n, body[:length], want)
		}
		n++
	}
}
