// Command amp serves and calls the calculator of Twisted's AMP
// documentation over Twisted's AMP wire protocol, so either side may be
// Twisted's own ampserver.py or ampclient.py.
//
//	go run ./examples/amp -listen 127.0.0.1:7200          # serve Sum and Divide
//	go run ./examples/amp -call 127.0.0.1:7200            # Sum(13, 81), Divide(1234, 10), Divide(1, 0)
//	go run ./examples/amp -call 127.0.0.1:7200 -count 600 -every 100ms
//	go run ./examples/amp -listen 127.0.0.1:7200 -loops 2 -v
//
// -call makes -count rounds of the three calls, one round every -every
// (from the start of one to the start of the next); round k calls
// Sum(13, 80+k), Divide(1234·k, 10) and Divide(1, 0) and prints the three
// results once all three are in. Its connection is kept up by
// protocol.ReconnectingClientFactory, so it survives a server restart:
// after a failed connect or a lost connection it connects again, about
// 0.14 s, 0.37 s and 1 s later and then every second, and gives up (exit
// status 1) after -retries failed connects in a row. Calls wait for the
// connection: a round due while disconnected is made once the client is
// connected again, and a round whose calls were lost with the connection
// is made again, whole, on the next one (Sum and Divide have no side
// effects, so a second call is harmless; a command that changes something
// would need to find out whether the server did it). So every round is
// printed exactly once, in order. An error answer the commands do not
// declare ends the program with exit status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/internal/examplecli"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor"
	"github.com/mustaine/mustaine/timer"
)

// The commands, with Twisted's names and keys.

// SumArgs are Sum's arguments.
type SumArgs struct {
	A int64 `amp:"a"`
	B int64 `amp:"b"`
}

// SumResult is Sum's response.
type SumResult struct {
	Total int64 `amp:"total"`
}

// DivideArgs are Divide's arguments.
type DivideArgs struct {
	Numerator   int64 `amp:"numerator"`
	Denominator int64 `amp:"denominator"`
}

// DivideResult is Divide's response.
type DivideResult struct {
	Result float64 `amp:"result"`
}

// ErrZeroDivision is Divide's declared error, Python's ZeroDivisionError.
var ErrZeroDivision = errors.New("division by zero")

var (
	sum    = amp.Command[SumArgs, SumResult]{Name: "Sum"}
	divide = amp.Command[DivideArgs, DivideResult]{
		Name:   "Divide",
		Errors: []amp.ErrorCode{{Code: "ZERO_DIVISION", Err: ErrZeroDivision}},
	}
)

func calculator(log zerolog.Logger) *amp.Responders {
	rs := amp.NewResponders()
	amp.Respond(rs, sum, func(a SumArgs) (SumResult, error) {
		log.Debug().Int64("a", a.A).Int64("b", a.B).Msg("Sum")
		return SumResult{a.A + a.B}, nil
	})
	amp.Respond(rs, divide, func(a DivideArgs) (DivideResult, error) {
		log.Debug().Int64("numerator", a.Numerator).Int64("denominator", a.Denominator).Msg("Divide")
		if a.Denominator == 0 {
			return DivideResult{}, ErrZeroDivision
		}
		return DivideResult{float64(a.Numerator) / float64(a.Denominator)}, nil
	})
	return rs
}

func main() {
	listen := flag.String("listen", "", "serve Sum and Divide on this address")
	call := flag.String("call", "", "call Sum and Divide on the server at this address, reconnecting when the connection fails")
	count := flag.Int("count", 1, "with -call: rounds of calls to make (at least 1)")
	every := flag.Duration("every", time.Second, "with -call: time from the start of one round to the next")
	retries := flag.Int("retries", 3, "with -call: connects that may fail in a row, after a failure or a lost connection, before giving up")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of event loops (at least 1)")
	verbose := flag.Bool("v", false, "log connections and calls (debug level)")
	flag.Parse()
	examplecli.CheckLoops(*loops)
	switch {
	case *count < 1 || *every < 0 || *retries < 0:
		examplecli.UsageError("-count must be at least 1, -every and -retries not negative")
	case (*listen == "") == (*call == ""):
		examplecli.UsageError("give one of -listen and -call")
	}

	log := examplecli.Logger(*verbose)

	r, err := reactor.New(reactor.WithLoops(*loops), reactor.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "amp:", err)
		os.Exit(1)
	}
	if *listen != "" {
		serve(r, *listen, log)
		return
	}
	os.Exit(callServer(r, *call, callOptions{count: *count, every: *every, retries: *retries}, log))
}

func serve(r *reactor.Reactor, addr string, log zerolog.Logger) {
	// The reactor logs connections at debug level (-v) itself.
	ln, err := r.ListenTCP(addr, amp.NewFactory(calculator(log), amp.WithLogger(log)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "amp:", err)
		os.Exit(1)
	}
	r.CallWhenRunning(func() {
		log.Info().Str("addr", ln.Addr().String()).Int("loops", len(r.Loops())).Msg("amp server listening")
	})
	if err := r.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "amp:", err)
		os.Exit(1)
	}
	log.Info().Msg("amp server stopped")
}

// callServer makes -count rounds of the calls of Twisted's ampclient.py
// example over a connection that a ReconnectingClientFactory keeps up,
// prints their results on stdout and returns the exit status.
func callServer(r *reactor.Reactor, addr string, o callOptions, log zerolog.Logger) int {
	c := &caller{opts: o, log: log, done: make(chan error, 1)}
	// Twisted's growth (e) from a short first delay: retries come about
	// 0.14 s, 0.37 s and 1 s after a failure, then every second.
	c.InitialDelay = 50 * time.Millisecond
	c.MaxDelay = time.Second
	c.Clock = r // loop 0's clock, where ConnectTCP runs, and the rounds too
	c.factory = amp.NewFactory(nil, amp.WithLogger(log),
		amp.WithConnectionMade(c.connected),
		amp.WithConnectionLost(func(*amp.Protocol, error) { c.conn = nil }))
	done := make(chan error, 1)
	r.CallWhenRunning(func() { c.Connect(r, addr, c, 10*time.Second) })
	go func() { done <- r.Run() }()
	err := <-c.done
	_ = r.Stop()
	if rerr := <-done; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "amp:", oneLine(err))
		return 1
	}
	return 0
}

// oneLine is err's text on one line: errors.Join puts a newline between
// the parts ("connection refused" and the system's reason), which would
// split a log line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// callOptions are -call's flags.
type callOptions struct {
	count   int           // rounds of calls
	every   time.Duration // from the start of one round to the next
	retries int           // failed connects in a row before giving up
}

// caller is the -call client: a ReconnectingClientFactory (it reconnects
// after a failed connect or a lost connection) that makes its rounds of
// calls whenever it is connected. Everything runs on loop 0.
//
// Round k calls Sum(13, 80+k), Divide(1234·k, 10) and Divide(1, 0), one
// after the other; its three results are printed once all three are in,
// so a round is printed whole or not at all. A round due while the client
// is disconnected waits for the connection; a round whose calls are lost
// with the connection is made again, whole, on the next one (Sum and
// Divide have no side effects, so calling them twice is harmless). An
// answer that is an error the commands do not declare ends the program.
type caller struct {
	protocol.ReconnectingClientFactory
	opts    callOptions
	log     zerolog.Logger
	factory protocol.Factory
	done    chan error // the outcome, sent once

	conn     *amp.Protocol // nil while disconnected
	round    int           // the round in flight or due next, from 1
	busy     bool          // a round is in flight
	start    time.Time     // when round 1 started: round k is due at start+(k-1)·every
	wait     timer.Handle  // the wait for the next round's time
	finished bool
}

// BuildProtocol builds the AMP protocol of a new connection and resets the
// reconnect delay, as Twisted's reconnecting clients do.
func (c *caller) BuildProtocol(addr net.Addr) protocol.Protocol {
	c.ResetDelay()
	return c.factory.BuildProtocol(addr)
}

// ClientConnectionFailed gives up after -retries failed connects in a row,
// and otherwise retries.
func (c *caller) ClientConnectionFailed(addr net.Addr, reason error) {
	if c.finished {
		return
	}
	if c.Retries() >= c.opts.retries {
		c.finish(fmt.Errorf("%w (gave up after %d retries)", reason, c.Retries()))
		return
	}
	c.ReconnectingClientFactory.ClientConnectionFailed(addr, reason)
	c.log.Warn().Str("error", oneLine(reason)).Stringer("retry_in", c.Delay().Round(time.Millisecond)).Msg("connect failed")
}

// ClientConnectionLost reconnects, unless the calls are done.
func (c *caller) ClientConnectionLost(addr net.Addr, reason error) {
	if c.finished {
		return
	}
	c.ReconnectingClientFactory.ClientConnectionLost(addr, reason)
	c.log.Warn().Str("error", oneLine(reason)).Stringer("retry_in", c.Delay().Round(time.Millisecond)).Msg("connection lost, reconnecting")
}

func (c *caller) connected(p *amp.Protocol) {
	c.log.Info().Str("addr", p.Transport().RemoteAddr().String()).Msg("connected")
	c.conn = p
	c.next()
}

// next starts the due round if the client is connected and idle, or waits
// for its time.
func (c *caller) next() {
	if c.finished || c.busy || c.conn == nil {
		return
	}
	if c.round == 0 {
		c.round, c.start = 1, c.Clock.Now()
	}
	if c.round > c.opts.count {
		c.finish(nil)
		return
	}
	c.wait.Cancel()
	if wait := c.start.Add(time.Duration(c.round-1) * c.opts.every).Sub(c.Clock.Now()); wait > 0 {
		c.wait = c.Clock.CallLater(wait, c.next)
		return
	}
	c.busy = true
	k, p := c.round, c.conn
	var lines []string
	d := deferred.ThenDeferred(amp.Call(p, sum, SumArgs{13, int64(80 + k)}), func(s SumResult) *deferred.Deferred[DivideResult] {
		lines = append(lines, fmt.Sprintf("Sum(13, %d) = %d", 80+k, s.Total))
		return amp.Call(p, divide, DivideArgs{int64(1234 * k), 10})
	})
	d = deferred.ThenDeferred(d, func(q DivideResult) *deferred.Deferred[DivideResult] {
		lines = append(lines, fmt.Sprintf("Divide(%d, 10) = %v", 1234*k, q.Result))
		return amp.Call(p, divide, DivideArgs{1, 0})
	})
	d.AddBoth(func(q DivideResult, err error) (DivideResult, error) {
		c.busy = false
		var remote *amp.RemoteError
		switch {
		case errors.Is(err, ErrZeroDivision):
			fmt.Println(strings.Join(lines, "\n") + "\nDivide(1, 0): ZERO_DIVISION: " + err.(*amp.RemoteError).Description)
			c.round++
			c.next()
		case errors.As(err, &remote):
			c.finish(fmt.Errorf("round %d: %w", k, err))
		case err != nil:
			// Lost with the connection: made again once reconnected.
			c.log.Warn().Str("error", oneLine(err)).Int("round", k).Msg("round lost with the connection; it is made again once reconnected")
		default:
			c.finish(fmt.Errorf("round %d: Divide(1, 0) = %v, want ZERO_DIVISION", k, q.Result))
		}
		return q, nil
	})
}

// finish stops reconnecting, closes the connection and reports err.
func (c *caller) finish(err error) {
	c.finished = true
	c.StopTrying()
	c.wait.Cancel()
	if c.conn != nil {
		c.conn.Transport().LoseConnection()
	}
	c.done <- err
}
