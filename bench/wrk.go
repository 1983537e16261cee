package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkInstall is the line the harness prints when wrk is missing.
const wrkInstall = "sudo apt-get install -y wrk"

// errWrkOutput reports wrk output the harness cannot read.
var errWrkOutput = errors.New("unrecognised wrk output")

// wrkResult is what the harness reads from wrk --latency output.
type wrkResult struct {
	Requests      int64         // completed requests ("N requests in …")
	Elapsed       time.Duration // wrk's own measured time
	ReqPerSec     float64       // "Requests/sec:"
	P50, P99      time.Duration // from "Latency Distribution"
	SocketErrors  int64         // connect+read+write+timeout
	Non2xxOr3xx   int64         // "Non-2xx or 3xx responses:"
	SawLatencyDis bool          // --latency table was present
}

// pipelineScript is the wrk Lua script for pipelined loads: each request
// wrk sends is depth copies of the plain GET, sent in one write, and wrk
// counts every response. The depth is passed after "--".
const pipelineScript = `-- Written by Mustaine's bench harness.
-- Sends N copies of the request per write (N is the first script argument).
local batch

function init(args)
  local depth = tonumber(args[1]) or 1
  batch = string.rep(wrk.format(nil, "/"), depth)
end

function request()
  return batch
end
`

// writePipelineScript writes pipelineScript into dir and returns its path.
func writePipelineScript(dir string) (string, error) {
	p := filepath.Join(dir, "pipeline.lua")
	return p, os.WriteFile(p, []byte(pipelineScript), 0o644)
}

// wrkArgs is wrk's command line for one run against url. depth > 1 uses
// the pipelining script at script.
func wrkArgs(url string, threads, conns int, d time.Duration, script string, depth int) []string {
	secs := max(1, int((d+time.Second-1)/time.Second)) // wrk counts whole seconds
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs) + "s", "--latency"}
	if depth > 1 {
		args = append(args, "-s", script, url, "--", strconv.Itoa(depth))
		return args
	}
	return append(args, url)
}

// runWrk runs wrk (prefixed by pin, e.g. taskset, when pin is not empty)
// and parses its report. wrk stops by itself after d; the context bounds
// it in case it does not.
func runWrk(ctx context.Context, pin []string, args []string, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	argv := append(append(append([]string{}, pin...), "wrk"), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, tail(stderr.String(), 300))
	}
	return parseWrk(stdout.String())
}

// parseWrk reads the parts of wrk's text report the harness uses.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var sawTotal, sawRate bool
	inDist := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case line == "Latency Distribution":
			inDist, r.SawLatencyDis = true, true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			switch f[0] {
			case "50%":
				r.P50 = d
			case "99%":
				r.P99 = d
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("%w: %q", errWrkOutput, line)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			r.Requests, r.Elapsed, sawTotal = n, d, true
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("%w: %q", errWrkOutput, line)
			}
			r.ReqPerSec, sawRate = v, true
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 1, write 0, timeout 2"
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("%w: %q", errWrkOutput, line)
				}
				r.SocketErrors += n
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				return r, fmt.Errorf("%w: %q", errWrkOutput, line)
			}
			r.Non2xxOr3xx = n
		default:
			inDist = inDist && len(f) == 2
		}
	}
	if !sawTotal || !sawRate {
		return r, fmt.Errorf("%w: no request count or rate in %q", errWrkOutput, tail(out, 300))
	}
	return r, nil
}

// parseWrkDuration reads wrk's time format: a number followed by us, ms,
// s, m or h ("831.88us", "2.45ms", "1.01s").
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			break
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("%w: duration %q", errWrkOutput, s)
}

// tail returns the last n bytes of s, for error messages.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
