package nethttpbridge_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mustaine/mustaine/internal/reactorrun"
	mhttp "github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/protocol/http/nethttpbridge"
	"github.com/mustaine/mustaine/reactor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveOn runs a reactor serving the handler that build returns (given
// the reactor, for its CallInThread) on a loopback port.
func serveOn(t testing.TB, build func(r *reactor.Reactor) mhttp.Handler) string {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.New(io.Discard)), reactor.WithWorkers(8))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mhttp.NewServer(build(r))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return "http://" + ln.Addr().String()
}

func client() *nethttp.Client {
	return &nethttp.Client{Timeout: 30 * time.Second, Transport: &nethttp.Transport{}}
}

func TestBridgeServesFileServerUnchanged(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, files\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "page.html"), []byte("<html><body>hi</body></html>"), 0o644)
	base := serveOn(t, func(r *reactor.Reactor) mhttp.Handler {
		rt := mhttp.NewRouter()
		fs := nethttp.StripPrefix("/files", nethttp.FileServer(nethttp.Dir(dir)))
		if err := rt.Handle("/files/", nethttpbridge.Handler(fs, r.CallInThread)); err != nil {
			t.Fatal(err)
		}
		return rt
	})
	c := client()
	defer c.CloseIdleConnections()
	get := func(path string, hdr ...string) (*nethttp.Response, string) {
		req, _ := nethttp.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/files/hello.txt")
	if resp.StatusCode != 200 || body != "hello, files\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		resp.Header.Get("Last-Modified") == "" || resp.ContentLength != 13 {
		t.Fatalf("file: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// RFC 9110 §14.2: a Range request gets 206 with the part.
	resp, body = get("/files/hello.txt", "Range", "bytes=0-4")
	if resp.StatusCode != 206 || body != "hello" || resp.Header.Get("Content-Range") != "bytes 0-4/13" {
		t.Fatalf("range: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// RFC 9110 §13.1.3: If-Modified-Since with the same date: 304.
	resp, _ = get("/files/hello.txt", "If-Modified-Since", resp.Header.Get("Last-Modified"))
	if resp.StatusCode != 304 {
		t.Fatalf("conditional: %d", resp.StatusCode)
	}
	resp, body = get("/files/sub/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<a href="page.html">page.html</a>`) {
		t.Fatalf("listing: %d %q", resp.StatusCode, body)
	}
	resp, body = get("/files/sub/page.html")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("html: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ = get("/files/missing"); resp.StatusCode != 404 {
		t.Fatalf("missing: %d", resp.StatusCode)
	}
}

// TestBridgeFlushStreams: each Flush reaches the client before the handler
// writes more (the handler waits for the client to have read each line).
func TestBridgeFlushStreams(t *testing.T) {
	next := make(chan struct{})
	base := serveOn(t, func(r *reactor.Reactor) mhttp.Handler {
		return nethttpbridge.Handler(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "tick %d\n", i)
				w.(nethttp.Flusher).Flush()
				select {
				case <-next:
				case <-req.Context().Done():
					return
				}
			}
		}), r.CallInThread)
	})
	c := client()
	defer c.CloseIdleConnections()
	resp, err := c.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("tick %d\n", i) {
			t.Fatalf("line %d: %q %v", i, line, err)
		}
		next <- struct{}{}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("after the ticks: %q", rest)
	}
}

// TestBridgeRequestBodyAndServeMux: a stdlib ServeMux with path values
// runs behind the bridge, and reads a large streamed body.
func TestBridgeRequestBodyAndServeMux(t *testing.T) {
	base := serveOn(t, func(r *reactor.Reactor) mhttp.Handler {
		mux := nethttp.NewServeMux()
		mux.HandleFunc("POST /sum/{name}", func(w nethttp.ResponseWriter, req *nethttp.Request) {
			h := sha256.New()
			n, err := io.Copy(h, req.Body)
			if err != nil {
				nethttp.Error(w, err.Error(), 400)
				return
			}
			fmt.Fprintf(w, "%s %d %x", req.PathValue("name"), n, h.Sum(nil))
		})
		return nethttpbridge.Handler(mux, r.CallInThread)
	})
	c := client()
	defer c.CloseIdleConnections()
	const size = 8 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(string(data))
		if chunked {
			body = io.MultiReader(body) // unknown length: chunked
		}
		resp, err := c.Post(base+"/sum/x1", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("x1 %d %s", size, hex.EncodeToString(sum[:])); string(b) != want {
			t.Fatalf("chunked=%v: %d %q, want %q", chunked, resp.StatusCode, b, want)
		}
	}
}

// TestBridgeContextEndsWhenClientLeaves: the net/http request's context
// is the server's request context.
func TestBridgeContextEndsWhenClientLeaves(t *testing.T) {
	started := make(chan struct{})
	cause := make(chan error, 1)
	base := serveOn(t, func(r *reactor.Reactor) mhttp.Handler {
		return nethttpbridge.Handler(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
			close(started)
			select {
			case <-req.Context().Done():
				cause <- context.Cause(req.Context())
			case <-time.After(20 * time.Second):
				cause <- nil
			}
		}), r.CallInThread)
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	conn.Close()
	if err := <-cause; !errors.Is(err, mhttp.ErrClientGone) {
		t.Fatalf("cause %v, want ErrClientGone", err)
	}
}

// The cost per request of the bridge beside a native handler, over one
// keep-alive loopback connection, in the same run.
func BenchmarkNative(b *testing.B) {
	benchmarkServer(b, func(r *reactor.Reactor) mhttp.Handler {
		return mhttp.HandlerFunc(func(w *mhttp.ResponseWriter, r *mhttp.Request) {
			w.SetHeader("Content-Type", "text/plain")
			w.WriteString("Hello, World!")
		})
	})
}

func BenchmarkBridge(b *testing.B) {
	benchmarkServer(b, func(r *reactor.Reactor) mhttp.Handler {
		return nethttpbridge.Handler(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "Hello, World!")
		}), r.CallInThread)
	})
}

func BenchmarkNetHTTP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	roundTrips(b, ln.Addr().String())
}

func benchmarkServer(b *testing.B, build func(r *reactor.Reactor) mhttp.Handler) {
	roundTrips(b, strings.TrimPrefix(serveOn(b, build), "http://"))
}

func roundTrips(b *testing.B, addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// RFC 9110 §10.1.1, as net/http does it: 100 Continue goes out only when
// the handler reads the body; a handler that answers without reading
// gets no 100 and the connection closes after the answer.
func TestBridgeContinueOnFirstRead(t *testing.T) {
	base := serveOn(t, func(r *reactor.Reactor) mhttp.Handler {
		return nethttpbridge.Handler(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
			if req.URL.Path == "/deny" {
				w.WriteHeader(401)
				return
			}
			b, err := io.ReadAll(req.Body)
			fmt.Fprintf(w, "%q %v", b, err)
		}), r.CallInThread)
	})
	addr := strings.TrimPrefix(base, "http://")
	for _, c := range []struct{ path, want string }{
		{"/deny", "HTTP/1.1 401"},
		{"/read", "HTTP/1.1 100 Continue"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", c.path)
		br := bufio.NewReader(conn)
		line, _ := br.ReadString('\n')
		if !strings.HasPrefix(line, c.want) {
			t.Fatalf("%s: first line %q, want %q", c.path, line, c.want)
		}
		if c.path == "/read" {
			br.ReadString('\n') // the blank line after 100 Continue
			conn.Write([]byte("hello"))
			resp, err := nethttp.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != `"hello" <nil>` {
				t.Fatalf("body %q", b)
			}
		}
		conn.Close()
	}
}
