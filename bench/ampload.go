package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"strconv"
	"time"
)

// The amp load's generator: go run ./bench ampload -addr A -proto amp|netrpc.
// It keeps -outstanding Sum calls in flight on one connection for
// -duration, checks every answer (total = a + b) and prints an
// ampLoadResult as JSON. Its own CPU is reported too, so that the table
// can show the generator was not what limited the server.
//
// The AMP client is written for the load, not taken from protocol/amp, so
// that it costs as little as it can: it answers each batch it reads with
// one write of the next calls, encoded by hand, and parses the answers in
// place without allocating. The net/rpc client is written the same way
// (see netRPCCalls): Go's rpc.Client, with gob encoding every call and its
// reader goroutine, channels and locks, costs as much CPU per call as the
// server does and would have been the bottleneck.

// ampLoadResult is what one ampload run reports.
type ampLoadResult struct {
	Calls   uint64        // answers received, each checked
	Seconds float64       // how long it measured
	CPU     time.Duration // the generator's own CPU over the run
}

func ampLoadMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench ampload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7200", "server address")
	proto := fs.String("proto", "amp", "what the server speaks: amp (Sum of Twisted's calculator) or netrpc (Calc.Sum)")
	outstanding := fs.Int("outstanding", 64, "calls in flight at once")
	duration := fs.Duration("duration", 5*time.Second, "how long to load")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *outstanding < 1 || *duration <= 0 {
		fmt.Fprintln(stderr, "ampload: -outstanding must be at least 1 and -duration positive")
		return exitUsage
	}
	var run func(string, int, time.Duration) (uint64, error)
	switch *proto {
	case "amp":
		run = ampCalls
	case "netrpc":
		run = netRPCCalls
	default:
		fmt.Fprintf(stderr, "ampload: -proto %q: want amp or netrpc\n", *proto)
		return exitUsage
	}
	cpu0, start := selfCPU(), time.Now()
	n, err := run(*addr, *outstanding, *duration)
	res := ampLoadResult{Calls: n, Seconds: time.Since(start).Seconds(), CPU: selfCPU() - cpu0}
	if err != nil {
		fmt.Fprintln(stderr, "ampload:", err)
		return exitFailure
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return exitFailure
	}
	return exitOK
}

// errBadAnswer reports an answer that is not the sum asked for, or a box
// that is not an answer.
var errBadAnswer = errors.New("wrong answer")

// ampSlot is one call in flight: its arguments, to check the answer.
type ampSlot struct{ a, b int64 }

// ampCalls keeps n Sum calls in flight over AMP until d has passed and
// returns how many were answered correctly. Slot i's calls carry the tag
// i in hexadecimal (a tag is free again once answered).
func ampCalls(addr string, n int, d time.Duration) (uint64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	slots := make([]ampSlot, n)
	var next int64 // the a of the next call
	var out []byte
	ask := func(i int) {
		next++
		slots[i] = ampSlot{next, int64(i)}
		out = appendSumRequest(out, i, next, int64(i))
	}
	for i := range n {
		ask(i)
	}
	var calls uint64
	buf := make([]byte, 0, 256<<10)
	deadline := time.Now().Add(d)
	_ = c.SetDeadline(deadline.Add(10 * time.Second))
	for {
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return calls, err
			}
			out = out[:0]
		}
		if len(buf) == cap(buf) {
			return calls, fmt.Errorf("%w: a box over %d bytes", errBadAnswer, cap(buf))
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return calls, err
		}
		buf = buf[:len(buf)+m]
		more := time.Now().Before(deadline)
		rest := buf
		for {
			tag, total, size, err := parseSumAnswer(rest)
			if err != nil {
				return calls, err
			}
			if size == 0 {
				break
			}
			rest = rest[size:]
			if tag < 0 || tag >= n || total != slots[tag].a+slots[tag].b {
				return calls, fmt.Errorf("%w: tag %d total %d", errBadAnswer, tag, total)
			}
			calls++
			if more {
				ask(tag)
			}
		}
		buf = buf[:copy(buf, rest)]
		if !more {
			return calls, nil
		}
	}
}

// appendSumRequest appends a Sum request box with tag i (hexadecimal).
func appendSumRequest(dst []byte, i int, a, b int64) []byte {
	var num [20]byte
	dst = appendAMPField(dst, "_command", []byte("Sum"))
	dst = appendAMPField(dst, "_ask", strconv.AppendInt(num[:0], int64(i), 16))
	dst = appendAMPField(dst, "a", strconv.AppendInt(num[:0], a, 10))
	dst = appendAMPField(dst, "b", strconv.AppendInt(num[:0], b, 10))
	return append(dst, 0, 0)
}

// appendAMPField appends one key and value of a box.
func appendAMPField(dst []byte, key string, value []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}

// parseSumAnswer parses the box at the start of b, an answer to Sum: its
// tag, its total and its size in bytes; a size of 0 means the box is not
// complete yet. A box without _answer or total is an error (an error box
// among them).
func parseSumAnswer(b []byte) (tag int, total int64, size int, err error) {
	haveTag, haveTotal := false, false
	p := 0
	for {
		if len(b) < p+2 {
			return 0, 0, 0, nil
		}
		klen := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		if klen == 0 {
			break
		}
		if len(b) < p+klen+2 {
			return 0, 0, 0, nil
		}
		key := b[p : p+klen]
		p += klen
		vlen := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		if len(b) < p+vlen {
			return 0, 0, 0, nil
		}
		value := b[p : p+vlen]
		p += vlen
		switch string(key) {
		case "_answer":
			t, perr := strconv.ParseInt(string(value), 16, 64)
			tag, haveTag, err = int(t), true, perr
		case "total":
			total, err = strconv.ParseInt(string(value), 10, 64)
			haveTotal = true
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%w: %q = %q: %v", errBadAnswer, key, value, err)
		}
	}
	if !haveTag || !haveTotal {
		return 0, 0, 0, fmt.Errorf("%w: a box that is not Sum's answer: %q", errBadAnswer, b[:p])
	}
	return tag, total, p, nil
}

// RPCSumArgs is bench/peers/netrpcsum's SumArgs: gob matches the fields
// by name, and net/rpc wants the types exported.
type RPCSumArgs struct{ A, B int64 }

// RPCSumReply is bench/peers/netrpcsum's SumReply.
type RPCSumReply struct{ Total int64 }

// netRPCCalls keeps n Calc.Sum calls in flight over net/rpc's wire format
// until d has passed and returns how many were answered correctly. It
// speaks gob as net/rpc's client does (an rpc.Request header, then the
// arguments; an rpc.Response, then the reply), but cheaply: slot i's call
// (Seq i, Sum(i, 7)) is encoded once and written again each time its
// answer comes (the server only echoes Seq), from one loop that writes
// a batch of calls at a time, as the AMP client does.
func netRPCCalls(addr string, n int, d time.Duration) (uint64, error) {
	calls, first, err := encodeRPCCalls(n)
	if err != nil {
		return 0, err
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deadline := time.Now().Add(d)
	_ = c.SetDeadline(deadline.Add(10 * time.Second))
	r := bufio.NewReader(c)
	dec := gob.NewDecoder(r)
	out := first
	for _, call := range calls[1:] {
		out = append(out, call...)
	}
	// net/rpc's server writes each reply on its own, so the replies come
	// one per read: the calls that replace them are written once eight
	// are waiting (fewer syscalls for both sides; the calls in flight stay
	// between n-8 and n).
	batch := min(8, n)
	var answered uint64
	queued := n
	for left := n; left > 0; {
		if r.Buffered() == 0 && (queued >= batch || queued == left) && len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return answered, err
			}
			out, queued = out[:0], 0
		}
		resp, reply := rpc.Response{}, RPCSumReply{}
		if err := dec.Decode(&resp); err != nil {
			return answered, err
		}
		if resp.Error != "" {
			return answered, fmt.Errorf("%w: %s", errBadAnswer, resp.Error)
		}
		if err := dec.Decode(&reply); err != nil {
			return answered, err
		}
		slot := int(resp.Seq)
		if slot >= n || reply.Total != int64(slot)+7 {
			return answered, fmt.Errorf("%w: call %d: %d + 7 = %d", errBadAnswer, resp.Seq, slot, reply.Total)
		}
		answered++
		left--
		if time.Now().Before(deadline) {
			out = append(out, calls[slot]...)
			queued++
			left++
		}
	}
	return answered, nil
}

// encodeRPCCalls returns the gob encoding of each slot's call, and that of
// slot 0's with the type definitions a gob stream starts with (to be sent
// first, once).
func encodeRPCCalls(n int) (calls [][]byte, first []byte, err error) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	one := func(i int) ([]byte, error) {
		buf.Reset()
		if err := enc.Encode(&rpc.Request{ServiceMethod: "Calc.Sum", Seq: uint64(i)}); err != nil {
			return nil, err
		}
		if err := enc.Encode(&RPCSumArgs{int64(i), 7}); err != nil {
			return nil, err
		}
		return bytes.Clone(buf.Bytes()), nil
	}
	if first, err = one(0); err != nil {
		return nil, nil, err
	}
	calls = make([][]byte, n)
	for i := range calls {
		if calls[i], err = one(i); err != nil {
			return nil, nil, err
		}
	}
	return calls, first, nil
}
