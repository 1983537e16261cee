package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mustaine/mustaine/bench/loadgen"
)

func ExampleHistogram() {
	var h loadgen.Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	// Precision is 1/64 of the value, so these print rounded.
	fmt.Println(h.Count(), h.Quantile(0.5).Round(10*time.Microsecond), h.Quantile(0.99).Round(10*time.Microsecond))
	// Output: 1000 500µs 990µs
}

func ExampleRun() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Addr: ln.Addr().String(), Conns: 2, Size: 64, Pipeline: 4,
		Duration: 100 * time.Millisecond,
	})
	fmt.Println("error:", err)
	fmt.Println("echoes verified:", res.Messages > 0)
	// Output:
	// error: <nil>
	// echoes verified: true
}
