package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// errProcFormat reports a /proc file that does not look as documented in
// proc(5).
var errProcFormat = errors.New("unexpected /proc format")

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// The kernel fixes it at 100 on every architecture Go runs on, which is
// why it can be a constant here (sysconf would need cgo).
const clockTicks = 100

// parseStatCPU returns utime+stime from the contents of /proc/<pid>/stat:
// the CPU time of every thread of the process, dead ones included.
func parseStatCPU(stat []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses, so the fields are counted from the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("%w: stat has no ')'", errProcFormat)
	}
	fields := bytes.Fields(stat[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("%w: stat has %d fields after the name", errProcFormat, len(fields))
	}
	u, err1 := strconv.ParseUint(string(fields[utime]), 10, 64)
	s, err2 := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: utime/stime: %v", errProcFormat, err)
	}
	return time.Duration(u+s) * (time.Second / clockTicks), nil
}

// parseStatusRSS returns VmRSS, in bytes, from /proc/<pid>/status.
func parseStatusRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%w: VmRSS line %q", errProcFormat, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS: %v", errProcFormat, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%w: no VmRSS line", errProcFormat)
}

// processCPU returns the CPU time process pid has used so far.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// processRSS returns the resident set size of process pid in bytes.
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(b)
}

// processFDs returns how many file descriptors process pid has open, which
// tells the idle load when the server has accepted every connection.
func processFDs(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}
