// Command echo is Mustaine's echo server: every byte a client sends comes
// back. It is the first program to read.
//
//	go run ./examples/echo            # 127.0.0.1:7000
//	go run ./examples/echo -addr [::1]:7000 -loops 2 -v
//	go run ./examples/echo -reuseport=false   # one listening socket shared by the loops
//	go run ./examples/echo -listen tcp:7000:interface=127.0.0.1:backlog=512
//	go run ./examples/echo -listen unix:/tmp/echo.sock:mode=660
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// echo writes back what it receives. It is half-close aware: when the
// client shuts down its write side, everything echoed so far is still
// delivered, then the connection closes.
//
// It needs no flow-control code, and that is the idiom: Write never blocks,
// and a client that sends without reading cannot make the server grow,
// because once a connection's unsent output is above the transport's
// high-water mark (reactor.WithWaterMarks) the reactor stops reading from
// it, and reads again once the output has drained below the low mark. A
// protocol that writes data it did not just read (a file, another
// connection) registers a Producer instead, which the transport pauses and
// resumes at the same marks.
type echo struct{ protocol.Base }

func (e *echo) DataReceived(data []byte) { e.Transport.Write(data) }

func (e *echo) ReadConnectionLost() { e.Transport.LoseConnection() }

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	listen := flag.String("listen", "", "endpoint to listen on instead of -addr (tcp:7000:interface=127.0.0.1, unix:/tmp/echo.sock:mode=660)")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of event loops (at least 1)")
	verbose := flag.Bool("v", false, "log connections (debug level)")
	reusePort := flag.Bool("reuseport", runtime.GOOS == "linux", "one listening socket per loop (SO_REUSEPORT); false: one shared socket")
	flag.Parse()
	if *loops < 1 {
		// Refused like a malformed flag: message, usage, exit status 2.
		fmt.Fprintf(flag.CommandLine.Output(), "invalid value \"%d\" for flag -loops: must be at least 1\n", *loops)
		flag.Usage()
		os.Exit(2)
	}

	level := zerolog.InfoLevel
	if *verbose {
		level = zerolog.DebugLevel
	}
	console := zerolog.ConsoleWriter{Out: os.Stderr, NoColor: !isTerminal(os.Stderr)}
	log := zerolog.New(console).Level(level).With().Timestamp().Logger()

	r, err := reactor.New(reactor.WithLoops(*loops), reactor.WithLogger(log), reactor.WithReusePort(*reusePort))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	factory := protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &echo{} })
	var ln *reactor.Listener
	if *listen != "" {
		ln, err = r.ListenEndpoint(*listen, factory)
	} else {
		ln, err = r.ListenTCP(*addr, factory)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	// Logged once Run has started, so a supervisor that sends SIGTERM as
	// soon as it sees this line gets a graceful stop.
	r.CallWhenRunning(func() {
		log.Info().Str("addr", ln.Addr().String()).Int("loops", *loops).Msg("echo server listening")
	})
	if err := r.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	log.Info().Msg("echo server stopped")
}

// isTerminal reports whether f is a terminal, which is when the log is in
// colour: piped or redirected, it holds no escape codes. TIOCGWINSZ is
// answered by every terminal, on Linux and the BSDs alike.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil
}
