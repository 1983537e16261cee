package basic_test

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mustaine/mustaine/protocol/basic"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// shouter answers each line with the line in upper case.
type shouter struct{}

func (shouter) LineReceived(r *basic.LineReceiver, line []byte) {
	r.SendLine([]byte(strings.ToUpper(string(line))))
}

func ExampleLineReceiver() {
	r := basic.NewLineReceiver(shouter{})
	tr := reactortest.Connect(r)
	r.DataReceived([]byte("hello\r\nwor"))
	r.DataReceived([]byte("ld\r\n"))
	fmt.Printf("%q\n", tr.String())
	// Output: "HELLO\r\nWORLD\r\n"
}

// bodyReader reads "SIZE n" headers, each followed by an n-byte body, as
// HTTP mixes header lines and bodies.
type bodyReader struct{ left int }

func (b *bodyReader) LineReceived(r *basic.LineReceiver, line []byte) {
	if n, ok := strings.CutPrefix(string(line), "SIZE "); ok {
		b.left, _ = strconv.Atoi(n)
		r.SetRawMode()
		return
	}
	fmt.Printf("line %q\n", line)
}

func (b *bodyReader) RawDataReceived(r *basic.LineReceiver, data []byte) {
	n := min(b.left, len(data))
	fmt.Printf("body %q\n", data[:n])
	if b.left -= n; b.left == 0 {
		r.SetLineMode(data[n:]) // what follows the body is lines again
	}
}

func ExampleLineReceiver_SetRawMode() {
	r := basic.NewLineReceiver(&bodyReader{})
	r.Delimiter = []byte("\n")
	reactortest.Connect(r)
	r.DataReceived([]byte("SIZE 5\nab\ncdnext\n"))
	// Output:
	// body "ab\ncd"
	// line "next"
}

// tooLong reports over-long lines instead of closing the connection.
type tooLong struct{}

func (tooLong) LineReceived(r *basic.LineReceiver, line []byte) {
	fmt.Printf("line %q\n", line)
}

func (tooLong) LineLengthExceeded(r *basic.LineReceiver, head []byte) {
	fmt.Printf("refused a line starting %q\n", head)
	r.SendLine([]byte("ERR line too long"))
}

func ExampleLineLengthExceededHandler() {
	r := basic.NewLineReceiver(tooLong{})
	r.MaxLength = 4
	tr := reactortest.Connect(r)
	r.DataReceived([]byte("abcd\r\nabcdefgh\r\nok\r\n"))
	fmt.Printf("wrote %q, closing: %v\n", tr.String(), tr.Disconnecting())
	// Output:
	// line "abcd"
	// refused a line starting "abcde"
	// line "ok"
	// wrote "ERR line too long\r\n", closing: false
}

func ExampleLineOnlyReceiver() {
	count := 0
	r := basic.NewLineOnlyReceiver(basic.LineFunc[*basic.LineOnlyReceiver](func(r *basic.LineOnlyReceiver, line []byte) {
		count++
		r.SendLine([]byte(strconv.Itoa(count) + " " + string(line)))
	}))
	r.Delimiter = []byte("\n")
	tr := reactortest.Connect(r)
	r.DataReceived([]byte("a\nb\nc"))
	fmt.Printf("%q\n", tr.String())
	// Output: "1 a\n2 b\n"
}

func ExampleIntStringReceiver() {
	// Two peers in memory: the client sends, the server answers with the
	// length of each string.
	server := basic.NewInt16StringReceiver(basic.StringFunc[*basic.IntStringReceiver](func(r *basic.IntStringReceiver, s []byte) {
		r.SendString([]byte(strconv.Itoa(len(s))))
	}))
	client := basic.NewInt16StringReceiver(basic.StringFunc[*basic.IntStringReceiver](func(r *basic.IntStringReceiver, s []byte) {
		fmt.Printf("server says %s\n", s)
	}))
	p := reactortest.ConnectedPair(server, client)
	client.SendString([]byte("hello"))
	client.SendString(make([]byte, 1000))
	p.Flush()
	fmt.Println(client.SendString(make([]byte, 70000)))
	// Output:
	// server says 5
	// server says 1000
	// basic: string too long for its length prefix
}

// netstringLogger prints strings and how the connection ended.
type netstringLogger struct{}

func (netstringLogger) StringReceived(r *basic.NetstringReceiver, s []byte) {
	fmt.Printf("string %q\n", s)
}

func (netstringLogger) ConnectionLost(r *basic.NetstringReceiver, reason error) {
	fmt.Println("lost:", reason)
}

func ExampleNetstringReceiver() {
	r := basic.NewNetstringReceiver(netstringLogger{})
	tr := reactortest.Connect(r)
	r.DataReceived([]byte("5:hello,0:,3:abc!"))
	tr.FakeLoop().RunPending() // ConnectionLost comes on the next turn
	// Output:
	// string "hello"
	// string ""
	// lost: basic: malformed netstring: mustaine: connection closed cleanly
}
