package main

import (
	"fmt"
	"syscall"
)

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit and returns
// it. Setting it explicitly (Go raises its own limit at start but restores
// the old one in children) makes the servers inherit it, so they can hold
// the idle load's connections.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return uint64(lim.Cur), nil // int64 on FreeBSD
}
