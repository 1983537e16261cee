package reactor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
)

var (
	errLogFirst  = errors.New("first cause")
	errLogSecond = errors.New("second cause")
)

// logLines parses the JSON log lines written so far.
func logLines(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// awaitLogField waits until a log line with message msg has field, and
// returns the field's value. The bound only keeps a broken build from
// hanging.
func awaitLogField(t *testing.T, logs *syncBuffer, msg, field string) any {
	t.Helper()
	for range 3000 {
		for _, m := range logLines(t, logs) {
			if m["message"] == msg {
				if v, ok := m[field]; ok {
					return v
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q log line with %q:\n%s", msg, field, logs.String())
	return nil
}

func TestPanicWithAnErrorValueIsLoggedWithItsTextOnOneLine(t *testing.T) {
	cases := []struct {
		name  string
		value error
		want  string
	}{
		{"wrapped", fmt.Errorf("decoding: %w", io.ErrUnexpectedEOF), "decoding: unexpected EOF"},
		{"joined", errors.Join(errLogFirst, errLogSecond), "first cause; second cause"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			r := startReactor(t, WithLoops(1), WithLogger(zerolog.New(&logs)))
			c := listenAndDial(t, r, protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				return &protocol.Funcs{OnData: func(protocol.Transport, []byte) { panic(tc.value) }}
			}))
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if got := awaitLogField(t, &logs, "callback panicked", "panic"); got != tc.want {
				t.Fatalf(`"panic" is %#v, want %q`, got, tc.want)
			}
		})
	}
}

func TestCallInThreadPanicWithAnErrorIsLoggedWithItsText(t *testing.T) {
	var logs syncBuffer
	r := startReactor(t, WithLoops(1), WithLogger(zerolog.New(&logs)))
	if err := r.CallInThread(func() { panic(errors.Join(errLogFirst, errLogSecond)) }); err != nil {
		t.Fatal(err)
	}
	if got := awaitLogField(t, &logs, "CallInThread function panicked", "panic"); got != "first cause; second cause" {
		t.Fatalf(`"panic" is %#v`, got)
	}
}

func TestJoinedReasonsAreLoggedOnOneLine(t *testing.T) {
	var logs syncBuffer
	r := newQuietReactor(t, WithLoops(1), WithLogger(zerolog.New(&logs).Level(zerolog.DebugLevel)))
	mustAdd(t, r, Before, Shutdown, func() *deferred.Deferred[struct{}] {
		return deferred.Fail[struct{}](errors.Join(errLogFirst, errLogSecond))
	})
	lost := make(chan struct{})
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &protocol.Funcs{OnLost: func(protocol.Transport, error) { close(lost) }}
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := runAsync(r)
	// The peer resets the connection: the reason joins ErrPeerReset and
	// ECONNRESET.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Write([]byte("x"))
	c.Close()
	<-lost
	reason := awaitLogField(t, &logs, "connection lost", "reason")
	if s, _ := reason.(string); !strings.Contains(s, protocol.ErrPeerReset.Error()) || strings.ContainsAny(s, "\n\r") {
		t.Errorf(`"reason" is %#v, want the joined reason on one line`, reason)
	}
	r.Stop()
	waitRun(t, done)
	if got := awaitLogField(t, &logs, "before trigger failed", zerolog.ErrorFieldName); got != "first cause; second cause" {
		t.Errorf(`trigger failure "error" is %#v`, got)
	}
}
