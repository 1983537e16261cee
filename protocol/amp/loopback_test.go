package amp_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor"
)

// A client that sends 2,000 requests at once to a server that works on at
// most 8 at a time (its responder answers every one from the reactor's
// pool): every call is answered correctly, and the server never had more
// than 8 in hand.
func TestFloodIsBoundedByTheOutstandingLimitOverLoopback(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, loops)
		var inHand, most, started atomic.Int64
		rs := amp.NewResponders()
		amp.RespondDeferred(rs, Sum, func(p *amp.Protocol, a SumReq) *deferred.Deferred[SumResp] {
			started.Add(1)
			n := inHand.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			// Every answer comes from the reactor's pool, back through
			// CallFromThread: 2,000 results racing the loop's sleep guard
			// the lost-wakeup fix in the loop (a set wakePending with no
			// wake-up queued made the loop sleep through them).
			return reactor.DeferToThread(p.Transport().Loop(), func() (SumResp, error) {
				inHand.Add(-1)
				return SumResp{a.A + a.B}, nil
			})
		})
		amp.Respond(rs, Divide, func(d DivideReq) (DivideResp, error) {
			if d.Denominator == 0 {
				return DivideResp{}, fmt.Errorf("dividing %d: %w", d.Numerator, ErrZeroDivision)
			}
			return DivideResp{float64(d.Numerator) / float64(d.Denominator)}, nil
		})
		ln, err := r.ListenTCP("127.0.0.1:0", amp.NewFactory(rs, quiet, amp.WithMaxOutstanding(8)))
		if err != nil {
			t.Fatal(err)
		}
		const n = 2000
		done := make(chan string, 1)
		client := amp.NewFactory(nil, quiet, amp.WithConnectionMade(func(p *amp.Protocol) {
			left, bad := n, ""
			for i := range n {
				amp.Call(p, Sum, SumReq{int64(i), 1}).AddBoth(func(s SumResp, err error) (SumResp, error) {
					if (err != nil || s.Total != int64(i)+1) && bad == "" {
						bad = fmt.Sprintf("Sum(%d, 1) = %d, %v", i, s.Total, err)
					}
					if left--; left == 0 {
						done <- bad
					}
					return s, nil
				})
			}
		}))
		r.ConnectTCP(ln.Addr().String(), client, 10*time.Second)
		select {
		case bad := <-done:
			if bad != "" {
				t.Fatal(bad)
			}
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("calls not answered; in hand %d, most %d, started %d; goroutines:\n%s", inHand.Load(), most.Load(), started.Load(), buf[:runtime.Stack(buf, true)])
		}
		if m := most.Load(); m > 8 || m < 1 {
			t.Fatalf("the server had %d requests in hand at once, limit 8", m)
		}
	})
}

// A declared error wrapped by the responder (fmt.Errorf with %w) is still
// sent with its code, and a connection dropped by our own server fails the
// client's pending calls with the loss.
func TestDeclaredErrorAndLossOverLoopback(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, loops)
		rs := calculator()
		hang := amp.Command[struct{}, struct{}]{Name: "Hang"}
		amp.RespondDeferred(rs, hang, func(p *amp.Protocol, _ struct{}) *deferred.Deferred[struct{}] {
			p.Transport().AbortConnection()
			return deferred.New[struct{}]()
		})
		ln, err := r.ListenTCP("127.0.0.1:0", amp.NewFactory(rs, quiet))
		if err != nil {
			t.Fatal(err)
		}
		results := make(chan error, 2)
		client := amp.NewFactory(nil, quiet, amp.WithConnectionMade(func(p *amp.Protocol) {
			amp.Call(p, Divide, DivideReq{1, 0}).AddBoth(func(_ DivideResp, err error) (DivideResp, error) {
				results <- err
				amp.Call(p, hang, struct{}{}).AddBoth(func(_ struct{}, err error) (struct{}, error) {
					results <- err
					return struct{}{}, nil
				})
				return DivideResp{}, nil
			})
		}))
		r.ConnectTCP(ln.Addr().String(), client, 10*time.Second)
		if err := <-results; !errors.Is(err, ErrZeroDivision) {
			t.Fatalf("Divide(1, 0): %v", err)
		}
		if err := <-results; !errors.Is(err, protocol.ErrPeerReset) && !errors.Is(err, protocol.ErrPeerClosed) {
			t.Fatalf("call pending at the loss: %v", err)
		}
	})
}
