// Command amp serves and calls the calculator of Twisted's AMP
// documentation over Twisted's AMP wire protocol, so either side may be
// Twisted's own ampserver.py or ampclient.py.
//
//	go run ./examples/amp -listen 127.0.0.1:7200          # serve Sum and Divide
//	go run ./examples/amp -call 127.0.0.1:7200            # Sum(13, 81), Divide(1234, 10), Divide(1, 0)
//	go run ./examples/amp -listen 127.0.0.1:7200 -loops 2 -v
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/deferred"
	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor"
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
	call := flag.String("call", "", "call Sum and Divide on the server at this address")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of event loops (at least 1)")
	verbose := flag.Bool("v", false, "log connections and calls (debug level)")
	flag.Parse()
	if *loops < 1 {
		// Refused like a malformed flag: message, usage, exit status 2.
		fmt.Fprintf(flag.CommandLine.Output(), "invalid value \"%d\" for flag -loops: must be at least 1\n", *loops)
		flag.Usage()
		os.Exit(2)
	}
	if (*listen == "") == (*call == "") {
		fmt.Fprintln(flag.CommandLine.Output(), "give one of -listen and -call")
		flag.Usage()
		os.Exit(2)
	}

	level := zerolog.InfoLevel
	if *verbose {
		level = zerolog.DebugLevel
	}
	console := zerolog.ConsoleWriter{Out: os.Stderr, NoColor: !isTerminal(os.Stderr)}
	log := zerolog.New(console).Level(level).With().Timestamp().Logger()

	r, err := reactor.New(reactor.WithLoops(*loops), reactor.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "amp:", err)
		os.Exit(1)
	}
	if *listen != "" {
		serve(r, *listen, log)
		return
	}
	os.Exit(callServer(r, *call, log))
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

// callServer makes the three calls of Twisted's ampclient.py example,
// prints their results on stdout and returns the exit status.
func callServer(r *reactor.Reactor, addr string, log zerolog.Logger) int {
	results := make(chan string, 1)
	var lines []string
	out := func(s string) { lines = append(lines, s) }
	factory := amp.NewFactory(nil, amp.WithLogger(log),
		amp.WithConnectionMade(func(p *amp.Protocol) {
			d := deferred.ThenDeferred(amp.Call(p, sum, SumArgs{13, 81}), func(s SumResult) *deferred.Deferred[DivideResult] {
				out(fmt.Sprintf("Sum(13, 81) = %d", s.Total))
				return amp.Call(p, divide, DivideArgs{1234, 10})
			})
			d = deferred.ThenDeferred(d, func(q DivideResult) *deferred.Deferred[DivideResult] {
				out(fmt.Sprintf("Divide(1234, 10) = %v", q.Result))
				return amp.Call(p, divide, DivideArgs{1, 0})
			})
			d.AddBoth(func(q DivideResult, err error) (DivideResult, error) {
				switch {
				case errors.Is(err, ErrZeroDivision):
					out("Divide(1, 0): ZERO_DIVISION: " + err.(*amp.RemoteError).Description)
					results <- strings.Join(lines, "\n")
				case err != nil:
					results <- "error: " + err.Error()
				default:
					results <- fmt.Sprintf("Divide(1, 0) = %v, want ZERO_DIVISION", q.Result)
				}
				p.Transport().LoseConnection()
				return q, nil
			})
		}),
		amp.WithConnectionLost(func(p *amp.Protocol, reason error) {
			select {
			case results <- "error: connection lost: " + reason.Error():
			default:
			}
		}))
	done := make(chan error, 1)
	r.CallWhenRunning(func() {
		r.ConnectTCP(addr, factory, 10*time.Second).AddErrback(func(err error) (p protocol.Protocol, _ error) {
			results <- "error: " + err.Error()
			return p, nil
		})
	})
	go func() { done <- r.Run() }()
	res := <-results
	_ = r.Stop()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "amp:", err)
		return 1
	}
	if strings.HasPrefix(res, "error: ") || strings.Contains(res, "want ZERO") {
		fmt.Fprintln(os.Stderr, "amp:", strings.TrimPrefix(res, "error: "))
		return 1
	}
	fmt.Println(res)
	return 0
}

// isTerminal reports whether f is a terminal, which is when the log is in
// colour: piped or redirected, it holds no escape codes.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil
}
