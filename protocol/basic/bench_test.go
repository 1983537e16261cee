package basic_test

import (
	"bytes"
	"testing"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// readSize is the size of the reads the benchmarks feed: not a multiple of
// the message size, so that every read ends inside a message and the tail
// copy is measured too.
const readSize = 16<<10 + 7

// benchFramer feeds the framer newFramer builds (its handler counting
// messages in *count) a stream of 4096 copies of msg, in readSize reads,
// b.N times, and reports bytes/s and allocations.
func benchFramer(b *testing.B, msg []byte, newFramer func(count *int) protocol.Protocol) {
	const msgs = 4096
	stream := bytes.Repeat(msg, msgs)
	var count int
	p := newFramer(&count)
	reactortest.Connect(p)
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
	if count != b.N*msgs {
		b.Fatalf("delivered %d messages, want %d", count, b.N*msgs)
	}
}

// line64 is a 64-byte line, delimiter included.
var line64 = append(bytes.Repeat([]byte("x"), 62), "\r\n"...)

func BenchmarkLineReceiver64ByteLines(b *testing.B) {
	benchFramer(b, line64, func(count *int) protocol.Protocol {
		return basic.NewLineReceiver(basic.LineFunc[*basic.LineReceiver](func(*basic.LineReceiver, []byte) { *count++ }))
	})
}

func BenchmarkLineOnlyReceiver64ByteLines(b *testing.B) {
	benchFramer(b, line64, func(count *int) protocol.Protocol {
		return basic.NewLineOnlyReceiver(basic.LineFunc[*basic.LineOnlyReceiver](func(*basic.LineOnlyReceiver, []byte) { *count++ }))
	})
}

func BenchmarkInt32StringReceiver64ByteMessages(b *testing.B) {
	msg := append(appendPrefix(nil, 4, 60), bytes.Repeat([]byte("x"), 60)...)
	benchFramer(b, msg, func(count *int) protocol.Protocol {
		return basic.NewInt32StringReceiver(basic.StringFunc[*basic.IntStringReceiver](func(*basic.IntStringReceiver, []byte) { *count++ }))
	})
}

func BenchmarkNetstringReceiver64ByteMessages(b *testing.B) {
	msg := append([]byte("60:"), bytes.Repeat([]byte("x"), 60)...)
	msg = append(msg, ',')
	benchFramer(b, msg, func(count *int) protocol.Protocol {
		return basic.NewNetstringReceiver(basic.StringFunc[*basic.NetstringReceiver](func(*basic.NetstringReceiver, []byte) { *count++ }))
	})
}
