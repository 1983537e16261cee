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
