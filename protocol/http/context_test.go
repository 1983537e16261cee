package http

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// TestContextCancelReachesPoolJobWhenClientDisconnects: a handler hands
// work to the worker pool with the request's context; the client closes
// its connection while the job runs; the job sees its context cancelled
// with ErrClientGone and can stop. Real loopback sockets.
func TestContextCancelReachesPoolJobWhenClientDisconnects(t *testing.T) {
	started := make(chan struct{})
	cause := make(chan error, 1)
	rt := NewRouter()
	_ = rt.HandleFunc("GET /work", func(w *ResponseWriter, r *Request) {
		w.Defer()
		d := reactor.DeferToThreadContext(w.Loop(), r.Context(), func(ctx context.Context) (int, error) {
			close(started)
			select {
			case <-ctx.Done():
				cause <- context.Cause(ctx)
				return 0, ctx.Err()
			case <-time.After(20 * time.Second):
				cause <- nil
				return 1, nil
			}
		})
		d.AddBoth(func(n int, err error) (int, error) {
			w.Finish() // too late: the connection is gone
			return n, nil
		})
	})
	srv, _ := NewServer(rt)
	addr := runReactorForTest(t, 1, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET /work HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	<-started
	c.Close()
	if err := <-cause; !errors.Is(err, ErrClientGone) {
		t.Fatalf("job's context cause %v, want ErrClientGone", err)
	}
}

// TestDeferToThreadContextSkipsJobWhoseContextEnded: a context already
// done fails the Deferred with its cause and never runs the job.
func TestDeferToThreadContextSkipsJobWhoseContextEnded(t *testing.T) {
	ran := make(chan struct{}, 1)
	got := make(chan error, 1)
	rt := NewRouter()
	_ = rt.HandleFunc("GET /", func(w *ResponseWriter, r *Request) {
		ctx, cancel := context.WithCancelCause(r.Context())
		cancel(ErrTimeout)
		w.Defer()
		reactor.DeferToThreadContext(w.Loop(), ctx, func(context.Context) (int, error) {
			ran <- struct{}{}
			return 0, nil
		}).AddBoth(func(n int, err error) (int, error) {
			got <- err
			w.Finish()
			return n, nil
		})
	})
	srv, _ := NewServer(rt)
	addr := runReactorForTest(t, 1, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err := <-got; !errors.Is(err, ErrTimeout) {
		t.Fatalf("Deferred failed with %v, want the context's cause", err)
	}
	select {
	case <-ran:
		t.Fatal("the job ran")
	default:
	}
}

// contextCase records the request context of a deferred handler.
type contextCase struct {
	ctx context.Context
	w   *ResponseWriter
}

func (cc *contextCase) ServeHTTP(w *ResponseWriter, r *Request) {
	cc.ctx = r.Context()
	cc.w = w
	w.Defer()
}

func TestContextCauses(t *testing.T) {
	const req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct {
		name  string
		event func(h *harness, cc *contextCase)
		want  error
	}{
		{"finished", func(h *harness, cc *contextCase) { cc.w.Finish() }, context.Canceled},
		{"connection lost", func(h *harness, cc *contextCase) { h.tr.Disconnect(errors.New("reset")) }, ErrClientGone},
		{"client EOF", func(h *harness, cc *contextCase) { h.p.(protocol.HalfCloseable).ReadConnectionLost() }, ErrClientGone},
		{"drain", func(h *harness, cc *contextCase) { h.p.(protocol.Drainer).Drain() }, ErrServerShutdown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cc := &contextCase{}
			h := newHarness(t, cc)
			h.send(req)
			if cc.ctx.Err() != nil {
				t.Fatal("context cancelled while the response is in progress")
			}
			c.event(h, cc)
			if cc.ctx.Err() == nil {
				t.Fatal("context not cancelled")
			}
			if got := context.Cause(cc.ctx); !errors.Is(got, c.want) {
				t.Fatalf("cause %v, want %v", got, c.want)
			}
		})
	}
}

func TestContextWriteTimeout(t *testing.T) {
	cc := &contextCase{}
	h := newHarness(t, cc, WithWriteTimeout(time.Second))
	h.tr.SetWriteBufferLimits(10, 5)
	h.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	cc.w.Write(make([]byte, 64<<10)) // commits and passes the high-water mark
	h.loop.Advance(2 * time.Second)
	if got := context.Cause(cc.ctx); !errors.Is(got, ErrTimeout) {
		t.Fatalf("cause %v, want ErrTimeout", got)
	}
}

func TestDecodedAccess(t *testing.T) {
	var got []string
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		u, err := r.URL()
		if err != nil {
			t.Fatal(err)
		}
		u2, _ := r.URL()
		if u != u2 {
			t.Error("URL not cached")
		}
		v, ok := r.LookupQuery("missing")
		c1, _ := r.Cookie("session")
		c2, _ := r.Cookie("q")
		_, c3 := r.Cookie("none")
		got = append(got, r.Query("name"), r.Query("a b"), u.Path, u.RawQuery, v,
			map[bool]string{true: "t", false: "f"}[ok], c1, c2, map[bool]string{true: "t", false: "f"}[c3])
	}))
	h.send("GET /p%20q?name=J%C3%BCrgen+X&a+b=%zz&x HTTP/1.1\r\nHost: h\r\n" +
		"Cookie: theme=dark; session=abc123\r\nCookie: q=\"quoted\"\r\n\r\n")
	h.response()
	want := []string{"Jürgen X", "%zz", "/p q", "name=J%C3%BCrgen+X&a+b=%zz&x", "", "f", "abc123", "quoted", "f"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestHeaderAndCookieAccessDoNotAllocate(t *testing.T) {
	var r Request
	lim := defaultConfig().limits
	data := []byte("GET /?a=1 HTTP/1.1\r\nHost: h\r\nCookie: a=1; session=abc\r\n\r\n")
	if _, st := parseHead(data, &r, &lim); st != 0 {
		t.Fatal(st)
	}
	r.head = data
	if n := testing.AllocsPerRun(100, func() {
		r.CookieBytes("session")
		r.HeaderBytes("Cookie")
		r.QueryBytes("a")
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
