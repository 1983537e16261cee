package basic_test

import (
	"bytes"

	"testing"

	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// readSize is the size of the reads the benchmarks feed: not a multiple of
// the message size, so that every read ends inside a message and the tail
// copy is measured too.
const readSize = 16<<10 + 7

// benchFeed feeds stream to p in readSize reads, b.N times, and reports
// bytes/s and allocations per message.
func benchFeed(b *testing.B, p interface{ DataReceived([]byte) }, stream []byte, perStream int, count *int) {
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for data := stream; len(data) > 0; {
			n := min(readSize, len(data))
			p.DataReceived(data[:n])
			data = data[n:]
		}
	}
	b.StopTimer()
	if *count != b.N*perStream {
		b.Fatalf("delivered %d messages, want %d", *count, b.N*perStream)
	}
}

func BenchmarkLineReceiver64ByteLines(b *testing.B) {
	const lines = 4096
	line := append(bytes.Repeat([]byte("x"), 62), "\r\n"...)
	stream := bytes.Repeat(line, lines)
	var count int
	r := basic.NewLineReceiver(basic.LineFunc[*basic.LineReceiver](func(_ *basic.LineReceiver, l []byte) {
		count++
	}))
	reactortest.Connect(r)
	benchFeed(b, r, stream, lines, &count)
}

func BenchmarkLineOnlyReceiver64ByteLines(b *testing.B) {
	const lines = 4096
	line := append(bytes.Repeat([]byte("x"), 62), "\r\n"...)
	stream := bytes.Repeat(line, lines)
	var count int
	r := basic.NewLineOnlyReceiver(basic.LineFunc[*basic.LineOnlyReceiver](func(_ *basic.LineOnlyReceiver, l []byte) {
		count++
	}))
	reactortest.Connect(r)
	benchFeed(b, r, stream, lines, &count)
}

func BenchmarkInt32StringReceiver64ByteMessages(b *testing.B) {
	const msgs = 4096
	msg := appendPrefix(nil, 4, 60)
	msg = append(msg, bytes.Repeat([]byte("x"), 60)...)
	stream := bytes.Repeat(msg, msgs)
	var count int
	r := basic.NewInt32StringReceiver(basic.StringFunc[*basic.IntStringReceiver](func(_ *basic.IntStringReceiver, s []byte) {
		count++
	}))
	reactortest.Connect(r)
	benchFeed(b, r, stream, msgs, &count)
}

func BenchmarkNetstringReceiver64ByteMessages(b *testing.B) {
	const msgs = 4096
	msg := []byte("60:" + string(bytes.Repeat([]byte("x"), 60)) + ",")
	stream := bytes.Repeat(msg, msgs)
	var count int
	r := basic.NewNetstringReceiver(basic.StringFunc[*basic.NetstringReceiver](func(_ *basic.NetstringReceiver, s []byte) {
		count++
	}))
	reactortest.Connect(r)
	benchFeed(b, r, stream, msgs, &count)
}
