package reactor

import (
	"testing"
	"unsafe"
)

// TestConnFitsTheSizeClassOf128 pins the size of a connection's transport,
// which every idle connection holds: 128 bytes is a Go size class, and one
// byte more costs 16 (the next class is 144) on the idle loads' budget
// (RSS per idle HTTP connection ≤ 400 B, echo ≤ 300 B). What only some
// connections need goes behind conn.aux or conn.tls.
func TestConnFitsTheSizeClassOf128(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 128 {
		t.Fatalf("conn is %d bytes, want at most 128", n)
	}
}
