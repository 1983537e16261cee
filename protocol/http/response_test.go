package http

import (
	"strconv"
	"strings"
	"testing"
)

// TestPlainFieldValueMatchesByteRule checks the eight-bytes-at-a-time test
// against the byte rule (no byte below 0x20, no DEL) for every pair of
// adjacent bytes at every offset of a word, since borrows between bytes
// are where such tricks go wrong.
func TestPlainFieldValueMatchesByteRule(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c != 0x7f }
	buf := []byte(strings.Repeat("a", 11))
	for off := 0; off+1 < len(buf); off++ {
		for a := 0; a < 256; a++ {
			for b := 0; b < 256; b++ {
				buf[off], buf[off+1] = byte(a), byte(b)
				want := plain(byte(a)) && plain(byte(b))
				if got := plainFieldValue(string(buf)); got != want {
					t.Fatalf("bytes %#x %#x at %d: got %v, want %v", a, b, off, got, want)
				}
			}
		}
		buf[off], buf[off+1] = 'a', 'a'
	}
}

func TestValidTokenMatchesTokenTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "X-" + string([]byte{byte(c)}) + "-Y"
		if got, want := validToken(s), charClass[c]&classToken != 0; got != want {
			t.Fatalf("byte %#x: got %v, want %v", c, got, want)
		}
	}
	if validToken("") || !validToken("Content-Type") || validToken("Content-Type ") {
		t.Fatal("empty, common or trailing-space names misjudged")
	}
}

func TestAppendFieldKeepsHTABAndBlanksControls(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"Content-Type", "text/plain", "Content-Type: text/plain\r\n"},
		{"X-Tab", "a\tb and a long tail", "X-Tab: a\tb and a long tail\r\n"},
		{"X-Ctl", "0123456789\x7fabcdef\x00\r\n", "X-Ctl: 0123456789 abcdef   \r\n"},
		{"X-High", "caf\xc3\xa9 \x80\xff", "X-High: caf\xc3\xa9 \x80\xff\r\n"},
		{"Bad Name", "v", ""},
		{"", "v", ""},
	} {
		if got := string(appendField(nil, tc.name, tc.value)); got != tc.want {
			t.Errorf("%q: %q: got %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestAppendUintMatchesStrconv(t *testing.T) {
	for _, n := range []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 1<<63 - 1, 1<<64 - 1} {
		if got, want := string(appendUint([]byte("x"), n)), "x"+strconv.FormatUint(n, 10); got != want {
			t.Errorf("%d: got %q, want %q", n, got, want)
		}
	}
}
