package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor"
)

type sumArgs struct {
	A int64 `amp:"a"`
	B int64 `amp:"b"`
}

type sumResult struct {
	Total int64 `amp:"total"`
}

// ampSumServer serves Sum with Mustaine's AMP on a loopback port until the
// test ends; off is added to every total (0 for the right answer).
func ampSumServer(t *testing.T, off int64) string {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false), reactor.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	rs := amp.NewResponders()
	amp.Respond(rs, amp.Command[sumArgs, sumResult]{Name: "Sum"}, func(a sumArgs) (sumResult, error) {
		return sumResult{a.A + a.B + off}, nil
	})
	ln, err := r.ListenTCP("127.0.0.1:0", amp.NewFactory(rs, amp.WithLogger(zerolog.Nop())))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	t.Cleanup(func() {
		_ = r.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// rpcCalc is bench/peers/netrpcsum's service, with an offset as above.
type rpcCalc struct{ off int64 }

func (c *rpcCalc) Sum(args RPCSumArgs, reply *RPCSumReply) error {
	reply.Total = args.A + args.B + c.off
	return nil
}

// netRPCSumServer serves Calc.Sum with net/rpc until the test ends.
func netRPCSumServer(t *testing.T, off int64) string {
	t.Helper()
	srv := rpc.NewServer()
	if err := srv.RegisterName("Calc", &rpcCalc{off}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Accept(ln)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func runAMPLoad(t *testing.T, addr, proto string) (int, ampLoadResult, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := ampLoadMain([]string{"-addr", addr, "-proto", proto, "-outstanding", "64", "-duration", "300ms"}, &out, &errOut)
	var r ampLoadResult
	if code == exitOK {
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%v in %q", err, out.String())
		}
	}
	return code, r, errOut.String()
}

// The load generator counts answers over at least its duration from both
// kinds of server, and a server that answers a wrong sum fails the run.
func TestAMPLoadChecksEverySum(t *testing.T) {
	for _, proto := range []string{"amp", "netrpc"} {
		server := map[string]func(*testing.T, int64) string{"amp": ampSumServer, "netrpc": netRPCSumServer}[proto]
		code, r, stderr := runAMPLoad(t, server(t, 0), proto)
		if code != exitOK || r.Calls < 64 || r.Seconds < 0.3 {
			t.Fatalf("%s: exit status %d, %+v, want at least the 64 first calls answered over 300 ms; stderr:\n%s", proto, code, r, stderr)
		}
		code, _, stderr = runAMPLoad(t, server(t, 1), proto)
		if code != exitFailure || !strings.Contains(stderr, errBadAnswer.Error()) {
			t.Fatalf("%s, off by one: exit status %d, stderr:\n%s", proto, code, stderr)
		}
	}
}

// The load generator's box parser: a box split anywhere is incomplete, not
// an error; whole, it gives its tag, total and size; an error box (what a
// server sends for an unknown command) is an error.
func TestParseSumAnswer(t *testing.T) {
	box, err := amp.AppendBox(nil, amp.Box{{Key: "total", Value: []byte("-42")}, {Key: "_answer", Value: []byte("3f")}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(box) {
		if _, _, size, err := parseSumAnswer(box[:i]); size != 0 || err != nil {
			t.Fatalf("%d of %d bytes: size %d, %v", i, len(box), size, err)
		}
	}
	tag, total, size, err := parseSumAnswer(append(box, 0, 5))
	if err != nil || tag != 0x3f || total != -42 || size != len(box) {
		t.Fatalf("tag %d total %d size %d (of %d), %v", tag, total, size, len(box), err)
	}
	bad, _ := amp.AppendBox(nil, amp.Box{{Key: "_error", Value: []byte("1")}, {Key: "_error_code", Value: []byte("UNHANDLED")}})
	if _, _, _, err := parseSumAnswer(bad); !errors.Is(err, errBadAnswer) {
		t.Fatalf("error box: %v", err)
	}
}

// The request encoder writes the box protocol/amp's reader reads as Sum.
func TestSumRequestIsAnAMPBox(t *testing.T) {
	addr := ampSumServer(t, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(appendSumRequest(nil, 0x2a, 40, -2)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, 512)
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[:len(buf)+n]
		tag, total, size, err := parseSumAnswer(buf)
		if err != nil {
			t.Fatal(err)
		}
		if size > 0 {
			if tag != 0x2a || total != 38 || size != len(buf) {
				t.Fatalf("tag %#x total %d size %d of %d", tag, total, size, len(buf))
			}
			return
		}
	}
}

// Twisted's AMP server of the load answers the load generator's calls.
func TestTwistedAMPServerAnswersTheLoad(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import twisted.protocols.amp").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted is missing: %v", err)
		}
		t.Skip("python3-twisted not installed")
	}
	script := filepath.Join(t.TempDir(), "server.py")
	if err := os.WriteFile(script, []byte(twistedAMPServer), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ampTargets, func(t ampTarget) bool { return t.Name == "twisted" })
	srv, err := startCommand(ampTargets[i].argv(script, addr), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop(stopGrace)
	if err := srv.waitListening(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, r, stderr := runAMPLoad(t, addr, "amp"); code != exitOK || r.Calls < 64 {
		t.Fatalf("exit status %d, %+v; stderr:\n%s\nserver:\n%s", code, r, stderr, srv.out.String())
	}
}

func TestAMPLoadRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-proto", "http"}, {"-outstanding", "0"}, {"-duration", "0s"}} {
		if code := ampLoadMain(args, io.Discard, io.Discard); code != exitUsage {
			t.Errorf("%v: exit status %d, want %d", args, code, exitUsage)
		}
	}
}
