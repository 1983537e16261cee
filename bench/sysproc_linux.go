package main

import "syscall"

// childProcAttr makes a child die with the harness, so no server or load
// generator outlives an interrupted run.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
