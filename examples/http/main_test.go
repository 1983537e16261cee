package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mustaine/mustaine/internal/exampletest"
	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/reactor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer runs the example server on a free port until the test ends.
func startServer(t *testing.T, loops int) (*reactor.Reactor, string) {
	t.Helper()
	r, ln, err := newServer("127.0.0.1:0", loops, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return r, ln.Addr().String()
}

func newClient() *nethttp.Client {
	return &nethttp.Client{Timeout: 30 * time.Second, Transport: &nethttp.Transport{}}
}

func get(t *testing.T, c *nethttp.Client, url string) (*nethttp.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestEndpointsAnswerNetHTTPClient(t *testing.T) {
	_, addr := startServer(t, 2)
	c := newClient()
	defer c.CloseIdleConnections()
	base := "http://" + addr
	cases := []struct {
		path, status, ctype, body string
	}{
		{"/", "200 OK", "text/plain", "Hello, World!"},
		{"/json", "200 OK", "application/json", `{"message":"Hello, World!"}`},
		{"/sleep?ms=1", "200 OK", "text/plain", "slept 1 ms\n"},
		{"/stream?n=3", "200 OK", "text/plain", "line 1 of 3\nline 2 of 3\nline 3 of 3\n"},
		{"/nope", "404 Not Found", "text/plain", "404 page not found\n"},
		{"/sleep?ms=abc", "400 Bad Request", "text/plain", "ms must be an integer from 0 to 10000\n"},
	}
	for _, tc := range cases {
		resp, body := get(t, c, base+tc.path)
		if resp.Status != tc.status || resp.Header.Get("Content-Type") != tc.ctype || body != tc.body {
			t.Errorf("GET %s: %s %q %q, want %s %q %q", tc.path, resp.Status, resp.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.body)
		}
		if _, err := nethttp.ParseTime(resp.Header.Get("Date")); err != nil {
			t.Errorf("GET %s: bad Date header %q", tc.path, resp.Header.Get("Date"))
		}
	}
	resp, _ := get(t, c, base+"/stream?n=2")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("/stream transfer encoding %v, want chunked", resp.TransferEncoding)
	}
}

func TestKeepAliveReusesTheConnection(t *testing.T) {
	_, addr := startServer(t, 1)
	c := newClient()
	defer c.CloseIdleConnections()
	var reused []bool
	for range 5 {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
		req, _ := nethttp.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+addr+"/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i, r := range reused[1:] {
		if !r {
			t.Fatalf("request %d opened a new connection: %v", i+2, reused)
		}
	}
}

func TestHundredPipelinedRequestsInOneWriteAreAnsweredInOrder(t *testing.T) {
	_, addr := startServer(t, 1)
	conn := dialRaw(t, addr, 30*time.Second)
	var batch bytes.Buffer
	for i := range 100 {
		// Each answer names its request, and some are answered later
		// from the worker pool: order must hold all the same.
		if i%10 == 3 {
			fmt.Fprintf(&batch, "GET /sleep?ms=%d HTTP/1.1\r\nHost: x\r\n\r\n", 20-i/10)
		} else {
			fmt.Fprintf(&batch, "GET /stream?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", i+1)
		}
	}
	if _, err := conn.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := range 100 {
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("line %d of %d\n", i+1, i+1)
		if i%10 == 3 {
			want = fmt.Sprintf("slept %d ms\n", 20-i/10)
		}
		if !strings.HasSuffix(string(body), want) {
			t.Fatalf("response %d ends %q, want it to end %q", i, body[max(0, len(body)-20):], want)
		}
	}
}

func TestChunkedUploadIsEchoed(t *testing.T) {
	_, addr := startServer(t, 1)
	c := newClient()
	defer c.CloseIdleConnections()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(payload); off += 7000 {
			pw.Write(payload[off:min(off+7000, len(payload))])
		}
		pw.Close()
	}()
	// A body of unknown length: net/http sends it chunked.
	req, _ := nethttp.NewRequest("POST", "http://"+addr+"/echo", pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
		t.Fatalf("status %d, %d bytes back, want 200 and the %d bytes sent", resp.StatusCode, len(got), len(payload))
	}
}

func TestHEADSendsHeadersWithoutBody(t *testing.T) {
	_, addr := startServer(t, 1)
	conn := dialRaw(t, addr, 10*time.Second)
	// The GET after the HEAD shows that no body bytes were sent for HEAD.
	fmt.Fprintf(conn, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	head, err := nethttp.ReadResponse(br, &nethttp.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	if head.StatusCode != 200 || head.ContentLength != 13 {
		t.Fatalf("HEAD: %d, Content-Length %d; want 200 and 13", head.StatusCode, head.ContentLength)
	}
	next, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the response after HEAD: %v", err)
	}
	body, _ := io.ReadAll(next.Body)
	if string(body) != `{"message":"Hello, World!"}` {
		t.Fatalf("the response after HEAD has body %q", body)
	}
}

func TestSleepRequestsOverlapOnThePoolWhileTheLoopServes(t *testing.T) {
	r, addr := startServer(t, 1)
	c := newClient()
	defer c.CloseIdleConnections()
	const sleepers = 8
	var wg sync.WaitGroup
	for range sleepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get("http://" + addr + "/sleep?ms=3000")
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "slept 3000 ms\n" {
				t.Errorf("sleep body %q", body)
			}
		}()
	}
	// Wait until every sleep is running on the pool at once; meanwhile the
	// single loop keeps answering other requests.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the %d sleeps never ran at once: %+v", sleepers, r.PoolStats())
		}
		if st := r.PoolStats(); st.Running == sleepers {
			break
		}
		if _, body := get(t, c, "http://"+addr+"/"); body != "Hello, World!" {
			t.Fatalf("GET / while sleeping: %q", body)
		}
	}
	if _, body := get(t, c, "http://"+addr+"/"); body != "Hello, World!" {
		t.Fatalf("GET / while %d sleeps run: %q", sleepers, body)
	}
	wg.Wait()
}

func curl(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing (.ci/run installs it)")
		}
		t.Skip("curl not installed")
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(path, append([]string{"-sS", "--max-time", "30"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

func TestCurlKeepAliveChunkedUploadAndContinue(t *testing.T) {
	_, addr := startServer(t, 1)
	base := "http://" + addr
	// Two URLs in one curl run share one connection.
	out, errs := curl(t, "-v", base+"/", base+"/json")
	if out != `Hello, World!{"message":"Hello, World!"}` {
		t.Fatalf("curl bodies %q", out)
	}
	if !strings.Contains(errs, "Re-using existing connection") && !strings.Contains(errs, "Reusing existing") {
		t.Fatalf("curl did not reuse the connection:\n%s", errs)
	}
	// A chunked upload with Expect: 100-continue.
	file := t.TempDir() + "/body"
	payload := strings.Repeat("mustaine ", 20000)
	os.WriteFile(file, []byte(payload), 0o600)
	out, errs = curl(t, "-v", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue",
		"--data-binary", "@"+file, base+"/echo")
	if out != payload {
		t.Fatalf("curl echo returned %d bytes, want %d", len(out), len(payload))
	}
	if !strings.Contains(errs, "HTTP/1.1 100 Continue") {
		t.Fatalf("no 100 Continue before the body:\n%s", errs)
	}
	// HEAD.
	out, errs = curl(t, "-I", base+"/")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK") || !strings.Contains(out, "Content-Length: 13") {
		t.Fatalf("curl -I: %q %s", out, errs)
	}
}

func TestMalformedRequestGets400AndClose(t *testing.T) {
	_, addr := startServer(t, 1)
	conn := dialRaw(t, addr, 10*time.Second)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 400 || !resp.Close {
		t.Fatalf("smuggling attempt got %d (close=%v), want 400 and close", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after the 400: %v", err)
	}
}

// dialRaw opens a plain TCP connection for hand-written requests, with a
// deadline, closed when the test ends.
func dialRaw(t *testing.T, addr string, timeout time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(timeout))
	return conn
}

// The flag tests run main in a child process (this test binary, re-executed
// with runMainEnv set), so that they see its exit status and its stderr as
// a user does.

const runMainEnv = "MUSTAINE_HTTP_RUN_MAIN"

// loopbackAddr finds the address in the listening line.
var loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// TestFlagsHelperProcess is not a test: in the child process it runs main
// with the arguments after "--".
func TestFlagsHelperProcess(t *testing.T) { exampletest.HelperProcess(runMainEnv, "http", main) }

func mainCommand(ctx context.Context, stderr *os.File, args ...string) *exec.Cmd {
	return exampletest.MainCommand(ctx, runMainEnv, stderr, args...)
}

func TestFlagsLoopsBelowOneIsAUsageError(t *testing.T) {
	exampletest.CheckLoopsBelowOneIsAUsageError(t, runMainEnv)
}

func TestFlagsMalformedLoopsIsAUsageError(t *testing.T) {
	exampletest.CheckMalformedLoopsIsAUsageError(t, runMainEnv)
}

func TestFlagsLogHasNoColourWhenStderrIsAFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := mainCommand(ctx, f, "-addr", "127.0.0.1:0", "-loops", "1", "-v")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once a response comes back, Run has started, and with it the SIGTERM
	// handling; then stop the server as a user does, so that the shutdown
	// lines are logged too. Polling for the listening line only waits: the
	// outcome does not depend on how long anything takes.
	var addr string
	for addr == "" && ctx.Err() == nil {
		out, _ := os.ReadFile(f.Name())
		if bytes.Contains(out, []byte("server listening")) {
			addr = string(loopbackAddr.Find(out))
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("dial %q: %v", addr, err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, _ := io.ReadAll(conn)
	conn.Close()
	if !bytes.Contains(resp, []byte("Hello, World!")) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no answer from %s: %q", addr, resp)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("http did not stop cleanly on SIGTERM: %v", err)
	}
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("server listening")) || !bytes.Contains(out, []byte("stopped")) {
		t.Fatalf("log lacks the listening and stopped lines:\n%s", out)
	}
	if i := bytes.IndexByte(out, 0x1b); i >= 0 {
		t.Fatalf("log written to a file holds an ESC byte at %d (colour codes):\n%q", i, out)
	}
}

// TestREADMEEchoServerIsTwentyLinesThatBuild pins the README's first
// example: at most 20 lines, gofmt-formatted, no error of the reactor's
// dropped (a named error the compiler then makes the code use), and a
// program that builds against this module.
func TestREADMEEchoServerIsTwentyLinesThatBuild(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := bytes.Cut(readme, []byte("## A 20-line echo server"))
	if ok {
		_, after, ok = bytes.Cut(after, []byte("```go\n"))
	}
	code, _, closed := bytes.Cut(after, []byte("```"))
	if !ok || !closed {
		t.Fatal("README.md has no go block under \"A 20-line echo server\"")
	}
	if n := bytes.Count(code, []byte("\n")); n > 20 {
		t.Errorf("the README's echo server is %d lines, over 20", n)
	}
	if formatted, err := format.Source(code); err != nil || !bytes.Equal(formatted, code) {
		t.Errorf("the README's echo server is not gofmt-formatted (%v):\n%s", err, formatted)
	}
	if dropped := droppedErrors(t, code); len(dropped) > 0 {
		t.Errorf("the README's echo server drops errors (%s):\n%s", strings.Join(dropped, "; "), code)
	}
	if !bytes.Contains(code, []byte("Listen")) || !bytes.Contains(code, []byte("DataReceived")) {
		t.Errorf("the README's echo server does not listen and echo:\n%s", code)
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the README's echo server")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/main.go", code, 0o600); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(gocmd, "build", "-o", dir+"/echo", dir+"/main.go")
	build.Dir = "../.." // this module, whose packages the example imports
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's echo server does not build: %v\n%s", err, out)
	}
}

// droppedErrors lists the calls of code to the reactor's fallible
// functions (New, ListenTCP, ListenAndRun, Run) whose error is not given a
// name: called as a statement, or assigned to _.
func droppedErrors(t *testing.T, code []byte) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", code, 0)
	if err != nil {
		t.Fatal(err)
	}
	fallible := func(e ast.Expr) (string, bool) {
		call, ok := e.(*ast.CallExpr)
		if !ok {
			return "", false
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return "", false
		}
		switch sel.Sel.Name {
		case "New", "ListenTCP", "ListenAndRun", "Run":
			return sel.Sel.Name, true
		}
		return "", false
	}
	var dropped []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ExprStmt:
			if name, ok := fallible(n.X); ok {
				dropped = append(dropped, name+" called as a statement")
			}
		case *ast.AssignStmt:
			if len(n.Rhs) == 1 {
				if name, ok := fallible(n.Rhs[0]); ok {
					if id, isIdent := n.Lhs[len(n.Lhs)-1].(*ast.Ident); isIdent && id.Name == "_" {
						dropped = append(dropped, name+"'s error assigned to _")
					}
				}
			}
		}
		return true
	})
	return dropped
}

// TestREADMENamesTheStepsOfCI pins that README.md names every step
// .ci/run prints a "== <step>" header for, in the same order, and that the
// README sections .ci/run refers to exist.
func TestREADMENamesTheStepsOfCI(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	steps := regexp.MustCompile(`(?m)^step "([^"]+)"$`).FindAllSubmatch(ci, -1)
	if len(steps) == 0 {
		t.Fatal(".ci/run has no step lines")
	}
	rest := readme
	for _, m := range steps {
		name := "`" + string(m[1]) + "`"
		_, after, ok := bytes.Cut(rest, []byte(name))
		if !ok {
			t.Fatalf("README.md does not name .ci/run's step %s (after the previous one)", name)
		}
		rest = after
	}
	for _, m := range regexp.MustCompile(`see README\.md\s*\(([^)]*)\)`).FindAllSubmatch(bytes.ReplaceAll(ci, []byte("\n# "), []byte(" ")), -1) {
		for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllSubmatch(m[1], -1) {
			if !bytes.Contains(readme, append([]byte("## "), q[1]...)) {
				t.Errorf(".ci/run refers to a README section %q that README.md does not have", q[1])
			}
		}
	}
}
