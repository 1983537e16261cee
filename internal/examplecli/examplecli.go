// Package examplecli holds what every example command does the same way
// with its flags and its log: refusing a bad flag value as the flag package
// refuses a malformed one, checking -loops, and a console logger that is in
// colour only on a terminal.
package examplecli

import (
	"flag"
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// UsageError refuses the command line as the flag package refuses a
// malformed flag: msg, the usage, exit status 2.
func UsageError(msg string) {
	fmt.Fprintln(flag.CommandLine.Output(), msg)
	flag.Usage()
	os.Exit(2)
}

// CheckLoops refuses a -loops value below 1 with UsageError.
func CheckLoops(loops int) {
	if loops < 1 {
		UsageError(fmt.Sprintf("invalid value \"%d\" for flag -loops: must be at least 1", loops))
	}
}

// Logger is the examples' log on stderr: info level, or debug when
// verbose; timestamps; colour only when stderr is a terminal, so a piped or
// redirected log holds no escape codes.
func Logger(verbose bool) zerolog.Logger {
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	console := zerolog.ConsoleWriter{Out: os.Stderr, NoColor: !isTerminal(os.Stderr)}
	return zerolog.New(console).Level(level).With().Timestamp().Logger()
}

// isTerminal asks for the window size: every terminal answers
// TIOCGWINSZ, on Linux and the BSDs alike, and nothing else does.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil
}
