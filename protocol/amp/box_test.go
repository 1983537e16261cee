package amp_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/protocol/amp"
)

// Twisted's documentation: AmpBox(hello=b'world').serialize() is
// b'\x00\x05hello\x00\x05world\x00\x00'.
func TestBoxSerializesAsTwistedDocuments(t *testing.T) {
	got, err := amp.AppendBox(nil, amp.Box{{Key: "hello", Value: []byte("world")}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("\x00\x05hello\x00\x05world\x00\x00")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	b, n, err := amp.ParseBox(append(want, "trailing"...))
	if err != nil || n != len(want) {
		t.Fatalf("ParseBox: n %d err %v", n, err)
	}
	if v, _ := b.Get("hello"); string(v) != "world" {
		t.Fatalf("hello = %q", v)
	}
}

func TestEmptyBoxIsTwoZeroBytes(t *testing.T) {
	b, n, err := amp.ParseBox([]byte{0, 0})
	if err != nil || n != 2 || len(b) != 0 {
		t.Fatalf("got %v %d %v", b, n, err)
	}
}

func TestParseBoxWaitsForTheWholeBox(t *testing.T) {
	full := []byte("\x00\x01a\x00\x03xyz\x00\x01b\x00\x00\x00\x00")
	for i := 0; i < len(full); i++ {
		if _, n, err := amp.ParseBox(full[:i]); n != 0 || err != nil {
			t.Fatalf("prefix of %d bytes: n %d err %v", i, n, err)
		}
	}
}

func TestBoxLimits(t *testing.T) {
	long := strings.Repeat("k", 256)
	if _, err := amp.AppendBox(nil, amp.Box{{Key: long, Value: nil}}); !errors.Is(err, amp.ErrKeyTooLong) {
		t.Fatalf("256-byte key: %v", err)
	}
	if _, err := amp.AppendBox(nil, amp.Box{{Key: strings.Repeat("k", 255), Value: make([]byte, 65535)}}); err != nil {
		t.Fatalf("255-byte key, 65535-byte value: %v", err)
	}
	if _, err := amp.AppendBox(nil, amp.Box{{Key: "v", Value: make([]byte, 65536)}}); !errors.Is(err, amp.ErrValueTooLong) {
		t.Fatalf("65536-byte value: %v", err)
	}
	if _, err := amp.AppendBox(nil, amp.Box{{Key: "", Value: nil}}); !errors.Is(err, amp.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, _, err := amp.ParseBox([]byte{0x01, 0x00}); !errors.Is(err, amp.ErrMalformedBox) {
		t.Fatalf("key length 256 on the wire: %v", err)
	}
}

// The values of a parsed box are copies that do not share capacity:
// appending to one leaves the next one and the input as they were.
func TestParsedValuesAreIndependentCopies(t *testing.T) {
	in, err := amp.AppendBox(nil, amp.Box{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}})
	if err != nil {
		t.Fatal(err)
	}
	keep := append([]byte(nil), in...)
	b, n, err := amp.ParseBox(in)
	if err != nil || n != len(in) || len(b) != 2 {
		t.Fatalf("%v, %d of %d bytes, %v", b, n, len(in), err)
	}
	_ = append(b[0].Value, "xxxxxxxx"...)
	b[0].Value[0] = '9'
	if got, _ := b.Get("b"); string(got) != "2" || b[1].Key != "b" || !bytes.Equal(in, keep) {
		t.Fatalf("after writing to a's value: b = %q (key %q), input %q", got, b[1].Key, in)
	}
}
