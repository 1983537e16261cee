package reactor

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol/http"
)

// The idle-memory measurement is a measurement, not a test: it runs with
// MUSTAINE_MEASURE=1 and only logs its figures.
//
//	MUSTAINE_MEASURE=1 go test ./reactor/ -run TestTLSIdleConnectionMemory -v
const (
	measureEnv = "MUSTAINE_MEASURE"
)

// TestTLSMemServer is the server process of the measurement: it serves
// "GET /" with the server its mode names, prints its address, and answers
// each line on stdin with its RSS and its live heap and stacks (after GC).
func TestTLSMemServer(t *testing.T) {
	mode := os.Getenv(memServerEnv)
	if mode == "" {
		t.Skip("server process of TestTLSIdleConnectionMemory")
	}
	if os.Getenv("MUSTAINE_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for exact sizes per connection
	}
	cert := getTLSPKI(t).goodCert(t)
	hello := []byte("Hello, World!")
	var addr string
	switch mode {
	case "net/http":
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) { w.Write(hello) }),
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
		go hs.ServeTLS(nl, "", "")
		defer hs.Close()
		addr = nl.Addr().String()
	default:
		opts := []Option{WithLoops(1)}
		if n, err := strconv.Atoi(os.Getenv("MUSTAINE_TLS_HANDSHAKES")); err == nil {
			opts = append(opts, WithTLSHandshakes(n))
		}
		r := startReactor(t, opts...)
		srv, err := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, req *http.Request) { w.Write(hello) }))
		if err != nil {
			t.Fatal(err)
		}
		var ln *Listener
		if mode == "tls" {
			ln, err = r.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}, srv)
		} else {
			ln, err = r.ListenTCP("127.0.0.1:0", srv)
		}
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
	}
	fmt.Println(addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "cpu" {
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			fmt.Println(time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Microseconds(), 0)
			continue
		}
		h := tlsHeapInUse()
		fmt.Println(tlsRSSKiB(), h)
		if os.Getenv("MUSTAINE_MEMSTATS") != "" {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(os.Stderr, "%s %s: HeapInuse %d HeapAlloc %d HeapIdle-Released %d StackInuse %d NextGC %d NumGC %d TotalAlloc %d goroutines %d\n",
				mode, sc.Text(), ms.HeapInuse, ms.HeapAlloc, ms.HeapIdle-ms.HeapReleased, ms.StackInuse, ms.NextGC, ms.NumGC, ms.TotalAlloc, runtime.NumGoroutine())
		}
		if p := os.Getenv("MUSTAINE_HEAP_PROFILE"); p != "" && sc.Text() == "profile" && mode == "tls" {
			f, _ := os.Create(p)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
}

const memServerEnv = "MUSTAINE_TLS_MEM_SERVER"

func tlsRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return -1
}

func tlsHeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// tlsMeasureIdle starts a server process in mode, holds n idle keep-alive
// connections to it after one GET each, and returns the server's growth
// per connection.
func tlsMeasureIdle(t *testing.T, mode string, n int) (rssPer, heapPer float64) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSMemServer$")
	cmd.Env = append(os.Environ(), memServerEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	addr, _ := out.ReadString('\n')
	addr = strings.TrimSpace(addr)
	sample := func(cmd string) (int64, int64) {
		io.WriteString(stdin, cmd+"\n")
		line, _ := out.ReadString('\n')
		var rss, heap int64
		fmt.Sscan(line, &rss, &heap)
		return rss, heap
	}
	// One connection first, so that what every server allocates once
	// (the certificate parsed, pools, the first goroutines) is in the
	// baseline.
	conns := []net.Conn{tlsDialGet(t, addr, mode)}
	rss0, heap0 := sample("m")
	for i := 1; i <= n; i++ {
		conns = append(conns, tlsDialGet(t, addr, mode))
	}
	time.Sleep(300 * time.Millisecond) // the last handshake goroutines exit
	rss1, heap1 := sample("profile")
	for _, c := range conns {
		c.Close()
	}
	return float64(rss1-rss0) * 1024 / float64(n), float64(heap1-heap0) / float64(n)
}

func tlsDialGet(t *testing.T, addr, mode string) net.Conn {
	var c net.Conn
	var err error
	if mode == "plain" {
		c, err = net.Dial("tcp", addr)
	} else {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte("Hello, World!")) {
		m, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:m]...)
	}
	return c
}

// TestTLSIdleConnectionMemory measures what an idle keep-alive HTTPS
// connection costs the server after one request: Mustaine's protocol/http
// over ListenTLS against net/http's ServeTLS, each server in its own
// process; plain-TCP Mustaine for reference.
func TestTLSIdleConnectionMemory(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skip("a measurement: set " + measureEnv + "=1")
	}
	n := 5000
	if s := os.Getenv("MUSTAINE_MEASURE_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	nhRSS, nhHeap := tlsMeasureIdle(t, "net/http", n)
	mRSS, mHeap := tlsMeasureIdle(t, "tls", n)
	pRSS, pHeap := tlsMeasureIdle(t, "plain", n)
	t.Logf("idle keep-alive connections after one GET, %d held, server growth per connection:", n)
	t.Logf("  net/http TLS:        RSS %6.0f B  heap+stacks %6.0f B", nhRSS, nhHeap)
	t.Logf("  Mustaine TLS:        RSS %6.0f B  heap+stacks %6.0f B  (%.2fx net/http's RSS)", mRSS, mHeap, mRSS/nhRSS)
	t.Logf("  Mustaine plain TCP:  RSS %6.0f B  heap+stacks %6.0f B", pRSS, pHeap)
}

// startMeasuredServer starts a server process in mode (GOMAXPROCS=1) and
// returns its address and a function that asks it a question ("m", "cpu",
// "profile") and returns the two numbers it answers.
func startMeasuredServer(t *testing.T, mode string) (string, func(string) (int64, int64)) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSMemServer$")
	cmd.Env = append(os.Environ(), memServerEnv+"="+mode, "GOMAXPROCS=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	out := bufio.NewReader(stdout)
	addr, _ := out.ReadString('\n')
	return strings.TrimSpace(addr), func(q string) (int64, int64) {
		io.WriteString(stdin, q+"\n")
		line, _ := out.ReadString('\n')
		var a, b int64
		fmt.Sscan(line, &a, &b)
		return a, b
	}
}

// TestTLSHandshakeAndRequestCost measures the server's CPU (user+system,
// its process at GOMAXPROCS=1) per full TLS 1.3 handshake (a new
// connection per request, 8 clients at once) and per request on 16
// keep-alive HTTPS connections, for Mustaine and net/http. The clients run
// in this process, so what they cost does not count.
//
//	MUSTAINE_MEASURE=1 go test ./reactor/ -run TestTLSHandshakeAndRequestCost -v
func TestTLSHandshakeAndRequestCost(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skip("a measurement: set " + measureEnv + "=1")
	}
	const handshakes, requests = 2000, 40000
	type result struct{ hs, req float64 }
	measure := func(mode string) result {
		addr, ask := startMeasuredServer(t, mode)
		// No ClientSessionCache: every handshake is a full one.
		cfg := &tls.Config{InsecureSkipVerify: true}
		run := func(workers, total int, keepAlive bool) float64 {
			cpu0, _ := ask("cpu")
			var wg sync.WaitGroup
			per := total / workers
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var c net.Conn
					var br *bufio.Reader
					for i := 0; i < per; i++ {
						if c == nil {
							var err error
							if c, err = tls.Dial("tcp", addr, cfg); err != nil {
								t.Error(err)
								return
							}
							br = bufio.NewReader(c)
						}
						io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
						resp, err := nethttp.ReadResponse(br, nil)
						if err != nil {
							t.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if !keepAlive {
							c.Close()
							c = nil
						}
					}
					if c != nil {
						c.Close()
					}
				}()
			}
			wg.Wait()
			cpu1, _ := ask("cpu")
			return float64(cpu1-cpu0) / float64(per*workers)
		}
		run(4, 200, false) // warm up
		return result{hs: run(8, handshakes, false), req: run(16, requests, true)}
	}
	nh := measure("net/http")
	m := measure("tls")
	t.Logf("server CPU (its own process, GOMAXPROCS=1), TLS 1.3, ECDSA P-256, Go clients in the test process:")
	t.Logf("  per handshake (new connection per GET): Mustaine %.0f µs, net/http %.0f µs (%.2fx)", m.hs, nh.hs, m.hs/nh.hs)
	t.Logf("  per keep-alive GET over TLS:            Mustaine %.1f µs, net/http %.1f µs (%.2fx)", m.req, nh.req, m.req/nh.req)
}
