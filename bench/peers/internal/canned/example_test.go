package canned_test

import (
	"fmt"
	"time"

	"github.com/mustaine/mustaine/bench/peers/internal/canned"
)

// Two pipelined requests and the start of a third: two responses, and the
// third request's bytes are left for the next read.
func ExampleAppendResponses() {
	var d canned.DateCache
	d.Set(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	in := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /")
	out, n := canned.AppendResponses(nil, in, d.Get())
	fmt.Println(n, len(in)-n, len(out) == 2*len(canned.ResponseHead+string(d.Get())+canned.ResponseTail))
	// Output: 54 5 true
}
