package amp_test

import (
	"strconv"
	"testing"

	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// sumBatch is n Sum requests in one buffer, tags 1 to n, as a client with
// n calls outstanding sends them.
func sumBatch(t testing.TB, n int) []byte {
	var batch []byte
	for i := 1; i <= n; i++ {
		var err error
		batch, err = amp.AppendBox(batch, amp.Box{
			{Key: "_command", Value: []byte("Sum")},
			{Key: "_ask", Value: []byte(strconv.FormatInt(int64(i), 16))},
			{Key: "a", Value: []byte(strconv.Itoa(i))},
			{Key: "b", Value: []byte("81")},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return batch
}

// BenchmarkServeSum is the server's side of bench's amp load without the
// sockets: one op is one read of 64 Sum requests answered by a responder
// that answers at once (ns/op and allocs/op divided by 64 are per call).
func BenchmarkServeSum(b *testing.B) {
	batch := sumBatch(b, 64)
	server := amp.New(calculator(), quiet)
	tr := reactortest.Connect(server)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		server.DataReceived(batch)
		tr.Clear()
	}
}

// A request answered by a Respond responder costs at most five
// allocations: the parsed box's three (its fields, one string of keys, one
// copy of the values), the decoded arguments and the response, which are
// encoded straight into the connection's output, with no Deferred and no
// intermediate box. The answers are checked too.
func TestRespondAllocatesAtMostFivePerCall(t *testing.T) {
	const calls = 64
	batch := sumBatch(t, calls)
	server := amp.New(calculator(), quiet)
	tr := reactortest.Connect(server)
	server.DataReceived(batch) // warm the output buffers
	tr.Clear()
	perRead := testing.AllocsPerRun(100, func() {
		server.DataReceived(batch)
		if tr.Disconnecting() {
			t.Fatal("the server closed the connection")
		}
		tr.Clear()
	})
	if per := perRead / calls; per > 5 {
		t.Errorf("%.2f allocations per call, want at most 5", per)
	}
	t.Logf("%.2f allocations per call", perRead/calls)
	server.DataReceived(batch)
	out := tr.Value()
	for i := 1; i <= calls; i++ {
		b, n, err := amp.ParseBox(out)
		if err != nil || n == 0 {
			t.Fatalf("answer %d: %v", i, err)
		}
		tag, _ := b.Get("_answer")
		total, _ := b.Get("total")
		if string(tag) != strconv.FormatInt(int64(i), 16) || string(total) != strconv.Itoa(i+81) {
			t.Fatalf("answer %d: %q", i, b)
		}
		out = out[n:]
	}
	if len(out) != 0 {
		t.Fatalf("%d bytes after the %d answers", len(out), calls)
	}
}

// sumAnswers is the answers to n Sum(i, 81) calls whose tags are from+1
// to from+n (hexadecimal, as Call writes them).
func sumAnswers(t testing.TB, from, n int) []byte {
	var batch []byte
	for i := range n {
		var err error
		batch, err = amp.AppendBox(batch, amp.Box{
			{Key: "total", Value: []byte(strconv.Itoa(i + 81))},
			{Key: "_answer", Value: []byte(strconv.FormatInt(int64(from+i+1), 16))},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return batch
}

// BenchmarkCallSum is the client's side: one op is 64 Calls of Sum and the
// read that brings their 64 answers (built with the timer stopped).
func BenchmarkCallSum(b *testing.B) {
	client := amp.New(nil, quiet)
	tr := reactortest.Connect(client)
	check := func(s SumResp, err error) (SumResp, error) {
		if err != nil || s.Total < 81 {
			b.Fatalf("answer: %v, %v", s, err)
		}
		return s, nil
	}
	b.ReportAllocs()
	for j := 0; b.Loop(); j++ {
		for i := range 64 {
			amp.Call(client, Sum, SumReq{int64(i), 81}).AddBoth(check)
		}
		b.StopTimer()
		tr.Clear()
		answers := sumAnswers(b, j*64, 64)
		b.StartTimer()
		client.DataReceived(answers)
		if client.Pending() != 0 {
			b.Fatalf("%d calls not answered", client.Pending())
		}
	}
}
