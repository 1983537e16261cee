//go:build !linux

package main

import "syscall"

// childProcAttr is empty where there is no parent-death signal; the
// harness refuses to measure outside Linux anyway.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
