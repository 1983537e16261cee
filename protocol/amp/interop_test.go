package amp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor"
)

// twistedPython is Debian's Python, which python3-twisted installs into.
const twistedPython = "/usr/bin/python3"

func needTwisted(t *testing.T) string {
	t.Helper()
	if err := exec.Command(twistedPython, "-c", "import twisted.protocols.amp").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-twisted is missing: %v", err)
		}
		t.Skip("python3-twisted not installed")
	}
	path := filepath.Join(t.TempDir(), "peer.py")
	if err := os.WriteFile(path, []byte(twistedAMP), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startReactor(t *testing.T, loops int) *reactor.Reactor {
	t.Helper()
	r, err := reactor.New(reactor.WithLoops(loops), reactor.WithLogger(zerolog.New(io.Discard)), reactor.WithSignalHandling(false))
	if err != nil {
		t.Fatal(err)
	}
	reactorrun.Run(t, r)
	return r
}

// startTwistedServer runs the script's server and returns its port; the
// process is killed by PID at cleanup.
func startTwistedServer(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command(twistedPython, script, "server")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("Twisted server printed no port: %v", err)
	}
	return strings.TrimSpace(line)
}

var (
	Notify = amp.Command[struct {
		N int64 `amp:"n"`
	}, struct{}]{Name: "Notify", NoAnswer: true}
	Total = amp.Command[struct{}, SumResp]{Name: "Total"}
	Hang  = amp.Command[struct{}, struct{}]{Name: "Hang"}
)

func randomEcho(rng *rand.Rand) EchoArgs {
	floats := []float64{rng.NormFloat64() * 1e10, rng.Float64() * 1e-300, 1e16, math.Inf(1), math.Inf(-1), math.NaN(), math.Float64frombits(rng.Uint64())}
	f := floats[rng.IntN(len(floats))]
	u := []string{"", "a", "é€😀", "\x00z"}
	a := EchoArgs{
		I:  int64(rng.Uint64()),
		S:  []byte(fmt.Sprint(rng.Uint64())),
		U:  u[rng.IntN(len(u))] + u[rng.IntN(len(u))],
		F:  f,
		B:  rng.IntN(2) == 0,
		D:  time.Date(1+rng.IntN(9999), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000000)*1000, time.FixedZone("", (rng.IntN(1441)-720)*60)),
		Dc: amp.Decimal(fmt.Sprintf("%d.%02d", rng.IntN(2000001)-1000000, rng.IntN(100))),
	}
	for range rng.IntN(5) {
		a.L = append(a.L, int64(rng.IntN(2001)-1000))
	}
	for range rng.IntN(4) {
		a.LU = append(a.LU, u[rng.IntN(len(u))])
	}
	for range rng.IntN(3) {
		a.AL = append(a.AL, Item{Name: u[rng.IntN(len(u))], Count: int64(rng.IntN(100))})
	}
	return a
}

func sameEcho(a, b EchoArgs) string {
	_, oa := a.D.Zone()
	_, ob := b.D.Zone()
	sameF := a.F == b.F || math.IsNaN(a.F) && math.IsNaN(b.F)
	if a.I != b.I || string(a.S) != string(b.S) || a.U != b.U || !sameF || a.B != b.B || !a.D.Equal(b.D) || oa != ob || a.Dc != b.Dc ||
		fmt.Sprint(a.L) != fmt.Sprint(b.L) || fmt.Sprintf("%q", a.LU) != fmt.Sprintf("%q", b.LU) || fmt.Sprint(a.AL) != fmt.Sprint(b.AL) {
		return fmt.Sprintf("sent %+v, got %+v", a, b)
	}
	return ""
}

// callMany makes n calls on p, keeping window outstanding, every result
// checked; it runs on p's loop and sends the failures (at most 10) on done.
func callMany(p *amp.Protocol, n, window int, done chan<- []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	var failures []string
	started, finished, zeros := 0, 0, 0
	fail := func(s string) {
		if len(failures) < 10 {
			failures = append(failures, s)
		}
	}
	var next func()
	complete := func() {
		finished++
		if started < n {
			next()
		} else if finished == n {
			if zeros == 0 {
				fail("no ZERO_DIVISION seen")
			}
			done <- failures
		}
	}
	next = func() {
		i := started
		started++
		switch i % 3 {
		case 0:
			a, b := rng.Int64N(1<<41)-1<<40, rng.Int64N(1<<41)-1<<40
			amp.Call(p, Sum, SumReq{a, b}).AddBoth(func(r SumResp, err error) (SumResp, error) {
				if err != nil || r.Total != a+b {
					fail(fmt.Sprintf("Sum(%d, %d) = %d, %v", a, b, r.Total, err))
				}
				complete()
				return r, nil
			})
		case 1:
			num, den := rng.Int64N(2000001)-1000000, int64(0)
			if rng.IntN(4) != 0 {
				den = 1 + rng.Int64N(1000)
			}
			amp.Call(p, Divide, DivideReq{num, den}).AddBoth(func(r DivideResp, err error) (DivideResp, error) {
				switch {
				case den == 0 && errors.Is(err, ErrZeroDivision):
					zeros++
				case den == 0 || err != nil || r.Result != float64(num)/float64(den):
					fail(fmt.Sprintf("Divide(%d, %d) = %v, %v", num, den, r.Result, err))
				}
				complete()
				return r, nil
			})
		default:
			a := randomEcho(rng)
			amp.Call(p, Echo, a).AddBoth(func(r EchoArgs, err error) (EchoArgs, error) {
				if err != nil {
					fail(fmt.Sprintf("Echo: %v", err))
				} else if d := sameEcho(a, r); d != "" {
					fail("Echo: " + d)
				}
				complete()
				return r, nil
			})
		}
	}
	for range window {
		next()
	}
}

func forLoops(t *testing.T, fn func(t *testing.T, loops int)) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { fn(t, loops) })
	}
}

func TestOurClientCallsATwistedServer(t *testing.T) {
	script := needTwisted(t)
	forLoops(t, func(t *testing.T, loops int) {
		port := startTwistedServer(t, script)
		r := startReactor(t, loops)
		done := make(chan []string, 1)
		total := make(chan SumResp, 1)
		var proto atomic.Pointer[amp.Protocol]
		client := amp.NewFactory(nil, quiet, amp.WithConnectionMade(func(p *amp.Protocol) {
			proto.Store(p)
			callMany(p, 10000, 64, done)
		}))
		// The dial's Deferred belongs to the loop: not touched from here.
		r.ConnectTCP(net.JoinHostPort("127.0.0.1", port), client, 10*time.Second)
		select {
		case failures := <-done:
			if len(failures) > 0 {
				t.Fatalf("%d+ failures, first: %q", len(failures), failures)
			}
		case <-time.After(120 * time.Second):
			t.Fatal("10,000 calls did not finish")
		}
		// Calls without answer, then one with, which Twisted answers
		// after handling the ones before it.
		p := proto.Load()
		p.Transport().Loop().CallFromThread(func() {
			for n := int64(1); n <= 10; n++ {
				amp.Call(p, Notify, struct {
					N int64 `amp:"n"`
				}{n})
			}
			amp.Call(p, Total, struct{}{}).AddBoth(func(r SumResp, err error) (SumResp, error) {
				if err != nil {
					r.Total = -1
				}
				total <- r
				return r, nil
			})
		})
		if got := <-total; got.Total != 55 {
			t.Fatalf("Twisted counted %d from the unanswered Notify calls, want 55", got.Total)
		}
	})
}

func TestTwistedClientCallsOurResponders(t *testing.T) {
	script := needTwisted(t)
	forLoops(t, func(t *testing.T, loops int) {
		r := startReactor(t, loops)
		rs := calculator()
		var notified atomic.Int64
		amp.Respond(rs, Notify, func(a struct {
			N int64 `amp:"n"`
		}) (struct{}, error) {
			notified.Add(a.N)
			return struct{}{}, nil
		})
		amp.Respond(rs, Total, func(struct{}) (SumResp, error) { return SumResp{notified.Load()}, nil })
		ln, err := r.ListenTCP("127.0.0.1:0", amp.NewFactory(rs, quiet))
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, twistedPython, script, "client", port).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("Twisted client: %v\n%s", err, out)
		}
	})
}

func TestTwistedServerDisconnectingMidCallFailsThePendingCall(t *testing.T) {
	script := needTwisted(t)
	forLoops(t, func(t *testing.T, loops int) {
		port := startTwistedServer(t, script)
		r := startReactor(t, loops)
		got := make(chan error, 1)
		client := amp.NewFactory(nil, quiet, amp.WithConnectionMade(func(p *amp.Protocol) {
			amp.Call(p, Hang, struct{}{}).AddBoth(func(_ struct{}, err error) (struct{}, error) {
				got <- err
				return struct{}{}, nil
			})
		}))
		r.ConnectTCP(net.JoinHostPort("127.0.0.1", port), client, 10*time.Second)
		select {
		case err := <-got:
			if !errors.Is(err, protocol.ErrPeerClosed) && !errors.Is(err, protocol.ErrPeerReset) {
				t.Fatalf("pending call failed with %v, want the connection's loss", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("pending call never failed")
		}
	})
}
