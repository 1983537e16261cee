package amp_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

var quiet = amp.WithLogger(zerolog.New(io.Discard))

// result records how a Deferred fired.
type result[T any] struct {
	fired bool
	v     T
	err   error
}

func watch[T any](d *deferred.Deferred[T]) *result[T] {
	r := &result[T]{}
	d.AddBoth(func(v T, err error) (T, error) {
		r.fired, r.v, r.err = true, v, err
		return v, nil
	})
	return r
}

type lostRecorder struct {
	lost   bool
	reason error
}

func (l *lostRecorder) opt() amp.Option {
	return amp.WithConnectionLost(func(_ *amp.Protocol, reason error) { l.lost, l.reason = true, reason })
}

func calcPair(t *testing.T, serverOpts ...amp.Option) (server, client *amp.Protocol, pair *reactortest.Pair) {
	t.Helper()
	server = amp.New(calculator(), append([]amp.Option{quiet}, serverOpts...)...)
	client = amp.New(nil, quiet)
	return server, client, reactortest.ConnectedPair(server, client)
}

func TestCallAnswersWithTheResponse(t *testing.T) {
	_, c, pair := calcPair(t)
	r := watch(amp.Call(c, Sum, SumReq{13, 81}))
	pair.Flush()
	if !r.fired || r.err != nil || r.v.Total != 94 {
		t.Fatalf("Sum(13, 81): %+v", r)
	}
}

func TestRequestCarriesCommandAndAskOnTheWire(t *testing.T) {
	p := amp.New(nil, quiet)
	tr := reactortest.Connect(p)
	amp.Call(p, Sum, SumReq{1, 2})
	b, n, err := amp.ParseBox(tr.Value())
	if err != nil || n != len(tr.Value()) {
		t.Fatalf("output %q: %v", tr.Value(), err)
	}
	for k, want := range map[string]string{"_command": "Sum", "a": "1", "b": "2"} {
		if v, _ := b.Get(k); string(v) != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if v, ok := b.Get("_ask"); !ok || len(v) == 0 {
		t.Errorf("no _ask tag in %q", tr.Value())
	}
}

func TestDeclaredErrorArrivesAsItsSentinel(t *testing.T) {
	_, c, pair := calcPair(t)
	r := watch(amp.Call(c, Divide, DivideReq{1, 0}))
	pair.Flush()
	if !errors.Is(r.err, ErrZeroDivision) {
		t.Fatalf("Divide(1, 0): %v", r.err)
	}
	var re *amp.RemoteError
	if !errors.As(r.err, &re) || re.Code != "ZERO_DIVISION" {
		t.Fatalf("error %v is not a ZERO_DIVISION RemoteError", r.err)
	}
	// A declared error keeps the connection.
	r2 := watch(amp.Call(c, Divide, DivideReq{1, 4}))
	pair.Flush()
	if r2.err != nil || r2.v.Result != 0.25 {
		t.Fatalf("Divide(1, 4) after the error: %+v", r2)
	}
}

func TestUnknownCommandAnswersUnhandledAndKeepsTheConnection(t *testing.T) {
	_, c, pair := calcPair(t)
	nope := amp.Command[SumReq, SumResp]{Name: "Nope"}
	r := watch(amp.Call(c, nope, SumReq{}))
	pair.Flush()
	if !errors.Is(r.err, amp.ErrUnhandledCommand) {
		t.Fatalf("got %v", r.err)
	}
	r2 := watch(amp.Call(c, Sum, SumReq{1, 1}))
	pair.Flush()
	if r2.err != nil || r2.v.Total != 2 {
		t.Fatalf("Sum after UNHANDLED: %+v", r2)
	}
}

var errUndeclared = errors.New("undeclared")

func TestUndeclaredErrorOrPanicAnswersUnknownAndCloses(t *testing.T) {
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			rs := amp.NewResponders()
			amp.Respond(rs, Sum, func(SumReq) (SumResp, error) {
				if mode == "panic" {
					panic("boom")
				}
				return SumResp{}, errUndeclared
			})
			var sl, cl lostRecorder
			s := amp.New(rs, quiet, sl.opt())
			c := amp.New(nil, quiet, cl.opt())
			pair := reactortest.ConnectedPair(s, c)
			r := watch(amp.Call(c, Sum, SumReq{}))
			pair.Flush()
			if !errors.Is(r.err, amp.ErrUnknownRemote) {
				t.Fatalf("call: %v", r.err)
			}
			if !pair.Server.Disconnecting() || !sl.lost || !cl.lost {
				t.Fatalf("connection not closed: server disconnecting %v, lost %v/%v", pair.Server.Disconnecting(), sl.lost, cl.lost)
			}
		})
	}
}

func TestDeferredResponderAnswersWhenItFires(t *testing.T) {
	rs := amp.NewResponders()
	var held *deferred.Deferred[SumResp]
	amp.RespondDeferred(rs, Sum, func(*amp.Protocol, SumReq) *deferred.Deferred[SumResp] {
		held = deferred.New[SumResp]()
		return held
	})
	s, c := amp.New(rs, quiet), amp.New(nil, quiet)
	pair := reactortest.ConnectedPair(s, c)
	r := watch(amp.Call(c, Sum, SumReq{}))
	pair.Flush()
	if r.fired || held == nil {
		t.Fatal("answered before the responder's Deferred fired")
	}
	_ = held.Callback(SumResp{7})
	pair.Flush()
	if r.err != nil || r.v.Total != 7 {
		t.Fatalf("got %+v", r)
	}
}

func TestPendingCallsFailWithTheLossReason(t *testing.T) {
	p := amp.New(nil, quiet)
	reactortest.Connect(p)
	r1 := watch(amp.Call(p, Sum, SumReq{}))
	r2 := watch(amp.Call(p, Divide, DivideReq{}))
	p.ConnectionLost(protocol.ErrPeerReset)
	for _, err := range []error{r1.err, r2.err} {
		if !errors.Is(err, protocol.ErrPeerReset) {
			t.Fatalf("pending call failed with %v", err)
		}
	}
	if r := watch(amp.Call(p, Sum, SumReq{})); !errors.Is(r.err, amp.ErrNotConnected) {
		t.Fatalf("call after loss: %v", r.err)
	}
}

func TestCancelledCallIgnoresItsLateAnswer(t *testing.T) {
	_, c, pair := calcPair(t)
	d := amp.Call(c, Sum, SumReq{1, 2})
	r := watch(d)
	d.Cancel()
	if !errors.Is(r.err, deferred.ErrCancelled) {
		t.Fatalf("cancelled call: %v", r.err)
	}
	pair.Flush()
	if pair.Client.Disconnecting() || c.Pending() != 0 {
		t.Fatal("the late answer of a cancelled call closed the connection")
	}
	r2 := watch(amp.Call(c, Sum, SumReq{2, 2}))
	pair.Flush()
	if r2.v.Total != 4 {
		t.Fatalf("next call: %+v", r2)
	}
}

func TestCallTimesOut(t *testing.T) {
	p := amp.New(nil, quiet)
	tr := reactortest.Connect(p)
	r := watch(amp.Call(p, Sum, SumReq{}).AddTimeout(time.Second, tr.Loop()))
	tr.FakeLoop().Advance(999 * time.Millisecond)
	if r.fired {
		t.Fatal("timed out early")
	}
	tr.FakeLoop().Advance(time.Millisecond)
	if !errors.Is(r.err, deferred.ErrTimeout) || p.Pending() != 0 {
		t.Fatalf("after 1s: %v, pending %d", r.err, p.Pending())
	}
}

func TestNoAnswerCommandSendsNoAsk(t *testing.T) {
	got := make(chan SumReq, 1)
	rs := amp.NewResponders()
	notify := amp.Command[SumReq, struct{}]{Name: "Notify", NoAnswer: true}
	amp.Respond(rs, notify, func(r SumReq) (struct{}, error) { got <- r; return struct{}{}, nil })
	s, c := amp.New(rs, quiet), amp.New(nil, quiet)
	pair := reactortest.ConnectedPair(s, c)
	r := watch(amp.Call(c, notify, SumReq{5, 6}))
	if !r.fired || r.err != nil {
		t.Fatalf("no-answer call: %+v", r)
	}
	if strings.Contains(pair.Client.String(), "_ask") {
		t.Fatalf("sent %q", pair.Client.String())
	}
	pair.Flush()
	if (<-got) != (SumReq{5, 6}) || pair.Server.String() != "" {
		t.Fatalf("server wrote %q", pair.Server.String())
	}
}

func TestBadInputClosesTheConnection(t *testing.T) {
	cases := map[string][]byte{
		"answer to an unknown tag": []byte("\x00\x07_answer\x00\x0299\x00\x00"),
		"error for an unknown tag": []byte("\x00\x06_error\x00\x0299\x00\x0b_error_code\x00\x01X\x00\x00"),
		"key over 255 bytes":       []byte("\x01\x00"),
		"box without a role":       []byte("\x00\x01a\x00\x01b\x00\x00"),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			p := amp.New(calculator(), quiet)
			tr := reactortest.Connect(p)
			p.DataReceived(in)
			if !tr.Disconnecting() {
				t.Fatal("connection kept")
			}
		})
	}
}

func TestBoxesMayComeInAnyKeyOrderAndAnyChunks(t *testing.T) {
	p := amp.New(calculator(), quiet)
	tr := reactortest.Connect(p)
	raw, _ := amp.AppendBox(nil, amp.Box{{Key: "b", Value: []byte("2")}, {Key: "_ask", Value: []byte("x1")}, {Key: "a", Value: []byte("40")}, {Key: "_command", Value: []byte("Sum")}})
	for i := range raw {
		p.DataReceived(raw[i : i+1])
	}
	b, _, err := amp.ParseBox(tr.Value())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("_answer"); string(v) != "x1" {
		t.Fatalf("answer %q", tr.Value())
	}
	if v, _ := b.Get("total"); string(v) != "42" {
		t.Fatalf("answer %q", tr.Value())
	}
}

func TestFloodOfRequestsPausesReadingAtTheLimit(t *testing.T) {
	rs := amp.NewResponders()
	var held []*deferred.Deferred[SumResp]
	amp.RespondDeferred(rs, Sum, func(*amp.Protocol, SumReq) *deferred.Deferred[SumResp] {
		d := deferred.New[SumResp]()
		held = append(held, d)
		return d
	})
	p := amp.New(rs, quiet, amp.WithMaxOutstanding(3))
	tr := reactortest.Connect(p)
	var in []byte
	for i := 0; i < 5; i++ {
		in, _ = amp.AppendBox(in, amp.Box{{Key: "_command", Value: []byte("Sum")}, {Key: "_ask", Value: []byte{'a' + byte(i)}}, {Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("1")}})
	}
	p.DataReceived(in)
	if len(held) != 3 || !tr.ReadingPaused() {
		t.Fatalf("%d requests started, reading paused %v; want 3 and paused", len(held), tr.ReadingPaused())
	}
	_ = held[0].Callback(SumResp{2})
	if len(held) != 4 || !tr.ReadingPaused() {
		t.Fatalf("after one answer: %d started, paused %v; want the kept 4th started and paused again", len(held), tr.ReadingPaused())
	}
	_ = held[1].Callback(SumResp{2})
	_ = held[2].Callback(SumResp{2})
	if len(held) != 5 || tr.ReadingPaused() {
		t.Fatalf("after three answers: %d started, paused %v", len(held), tr.ReadingPaused())
	}
}

func TestInputDeliveredWhilePausedWaitsForAnAnswer(t *testing.T) {
	rs := amp.NewResponders()
	var held []*deferred.Deferred[SumResp]
	amp.RespondDeferred(rs, Sum, func(*amp.Protocol, SumReq) *deferred.Deferred[SumResp] {
		d := deferred.New[SumResp]()
		held = append(held, d)
		return d
	})
	p := amp.New(rs, quiet, amp.WithMaxOutstanding(1))
	tr := reactortest.Connect(p)
	req := func(tag string) []byte {
		b, _ := amp.AppendBox(nil, amp.Box{{Key: "_command", Value: []byte("Sum")}, {Key: "_ask", Value: []byte(tag)}, {Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}})
		return b
	}
	p.DataReceived(req("1"))
	if !tr.ReadingPaused() {
		t.Fatal("not paused at the limit of 1")
	}
	p.DataReceived(req("2")) // a transport may still deliver what it read
	if len(held) != 1 {
		t.Fatalf("%d requests in hand over a limit of 1", len(held))
	}
	_ = held[0].Callback(SumResp{3})
	if len(held) != 2 {
		t.Fatalf("the kept request did not start after the answer: %d", len(held))
	}
}

func TestResponseTooLongForTheWireAnswersUnknownAndCloses(t *testing.T) {
	type blob struct {
		B []byte `amp:"b"`
	}
	big := amp.Command[struct{}, blob]{Name: "Big"}
	rs := amp.NewResponders()
	amp.Respond(rs, big, func(struct{}) (blob, error) { return blob{make([]byte, 65536)}, nil })
	s, c := amp.New(rs, quiet), amp.New(nil, quiet)
	pair := reactortest.ConnectedPair(s, c)
	r := watch(amp.Call(c, big, struct{}{}))
	pair.Flush()
	if !errors.Is(r.err, amp.ErrUnknownRemote) || !pair.Server.Disconnecting() {
		t.Fatalf("call: %v, server closing %v", r.err, pair.Server.Disconnecting())
	}
}

// Twisted hands the failure of a request sent without _ask to
// unhandledError, which drops the connection.
func TestUnknownCommandWithoutAskCloses(t *testing.T) {
	p := amp.New(calculator(), quiet)
	tr := reactortest.Connect(p)
	raw, _ := amp.AppendBox(nil, amp.Box{{Key: "_command", Value: []byte("Nope")}})
	p.DataReceived(raw)
	if !tr.Disconnecting() || tr.String() != "" {
		t.Fatalf("closing %v, wrote %q", tr.Disconnecting(), tr.String())
	}
}

// An answer must carry the tag exactly as it was asked: "01", "A", "1 "
// or "" for the pending call "1" are tags never asked, and close the
// connection; the exact tag answers the call.
func TestAnswerTagMustBeTheAskedTagExactly(t *testing.T) {
	for _, tag := range []string{"01", "A", "1 ", "", "10000000000000001"} {
		p := amp.New(nil, quiet)
		tr := reactortest.Connect(p)
		r := watch(amp.Call(p, Sum, SumReq{1, 2}))
		answer, err := amp.AppendBox(nil, amp.Box{{Key: "_answer", Value: []byte(tag)}, {Key: "total", Value: []byte("3")}})
		if err != nil {
			t.Fatal(err)
		}
		p.DataReceived(answer)
		if !tr.Disconnecting() || r.fired {
			t.Errorf("answer tagged %q to the call tagged 1: connection kept %v, call answered %+v", tag, !tr.Disconnecting(), r)
		}
	}
	p := amp.New(nil, quiet)
	tr := reactortest.Connect(p)
	r := watch(amp.Call(p, Sum, SumReq{1, 2}))
	answer, _ := amp.AppendBox(nil, amp.Box{{Key: "_answer", Value: []byte("1")}, {Key: "total", Value: []byte("3")}})
	p.DataReceived(answer)
	if tr.Disconnecting() || !r.fired || r.err != nil || r.v.Total != 3 {
		t.Fatalf("answer tagged 1: closed %v, %+v", tr.Disconnecting(), r)
	}
}
