package main

import (
	"os"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "loadgen":
			os.Exit(loadgenMain(os.Args[2:], os.Stdout, os.Stderr))
		case "udp":
			os.Exit(udpMain(os.Args[2:], os.Stdout, os.Stderr))
		case "udpload":
			os.Exit(udpLoadMain(os.Args[2:], os.Stdout, os.Stderr))
		case "httpload":
			os.Exit(httploadMain(os.Args[2:], os.Stdout, os.Stderr))
		case "amp":
			os.Exit(ampMain(os.Args[2:], os.Stdout, os.Stderr))
		case "ampload":
			os.Exit(ampLoadMain(os.Args[2:], os.Stdout, os.Stderr))
		case "tlsload":
			os.Exit(tlsloadMain(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(harnessMain(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses of both the harness and the loadgen subcommand.
const (
	exitOK      = 0 // everything that ran was correct
	exitFailure = 1 // a server failed, or an echo or response was wrong
	exitUsage   = 2 // bad flags or a missing tool; nothing was measured
)
