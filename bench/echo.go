package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// errWrongEcho reports an echo server that sent back something else.
var errWrongEcho = errors.New("wrong echo")

// echoLoad is one run of the Go echo load generator.
type echoLoad struct {
	Self     string   // this harness's executable, which has the loadgen subcommand
	Pin      []string // taskset prefix, or nil
	Addr     string
	Conns    int
	Size     int
	Pipeline int
	Duration time.Duration
}

// run starts the load generator as a child process, so it can be pinned to
// its own CPU, and reads its JSON report.
func (l echoLoad) run(ctx context.Context) (echoReport, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Duration+30*time.Second)
	defer cancel()
	argv := append(append([]string{}, l.Pin...), l.Self, "loadgen", "-json",
		"-addr", l.Addr, "-conns", strconv.Itoa(l.Conns), "-size", strconv.Itoa(l.Size),
		"-pipeline", strconv.Itoa(l.Pipeline), "-duration", l.Duration.String())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = childProcAttr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep echoReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("loadgen: %v: %s", cmpOr(runErr, err), tail(stderr.String(), 300))
	}
	switch {
	case rep.Mismatch:
		return rep, fmt.Errorf("%w: %s", errWrongEcho, rep.Error)
	case rep.Error != "":
		return rep, errors.New(rep.Error)
	case runErr != nil:
		return rep, fmt.Errorf("loadgen: %w: %s", runErr, tail(stderr.String(), 300))
	}
	return rep, nil
}
