package reactor

import (
	"bytes"
	"io"
	"testing"
)

// TestBioReframesALargeClientHello: a first handshake record larger than
// helloFragment comes out of the bio as records of at most helloFragment
// bytes with the original type and version, whose payloads put together
// are the original's, and whatever followed it comes out unchanged.
func TestBioReframesALargeClientHello(t *testing.T) {
	for _, size := range []int{helloFragment + 1, 1800, 4000, 16384} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		rec := append([]byte{22, 3, 1, byte(size >> 8), byte(size)}, payload...)
		after := []byte{20, 3, 3, 0, 1, 1}
		b := &bio{}
		b.init(nil)
		b.buf = append(append([]byte(nil), rec...), after...)
		b.setErr(io.EOF)
		b.reframeHello()
		// Read in every size crypto/tls might ask for, the header split too.
		var out []byte
		for _, n := range []int{3, 576, 2, 100, 576} {
			p := make([]byte, n)
			m, err := b.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p[:m]...)
		}
		for {
			p := make([]byte, 576)
			m, err := b.Read(p)
			if err == io.EOF {
				break
			}
			out = append(out, p[:m]...)
		}
		var got []byte
		for len(out) >= 5 && out[0] == 22 {
			n := int(out[3])<<8 | int(out[4])
			if out[1] != 3 || out[2] != 1 || n == 0 || n > helloFragment || len(out) < 5+n {
				t.Fatalf("size %d: bad fragment header % x", size, out[:5])
			}
			got = append(got, out[5:5+n]...)
			out = out[5+n:]
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("size %d: payloads put together differ (%d of %d bytes)", size, len(got), size)
		}
		if !bytes.Equal(out, after) {
			t.Fatalf("size %d: what followed the record is % x, want % x", size, out, after)
		}
	}
}

// TestBioLeavesOtherFirstRecordsAlone: a small ClientHello, a record that
// is not a handshake, and one not yet whole are not re-framed.
func TestBioLeavesOtherFirstRecordsAlone(t *testing.T) {
	for _, in := range [][]byte{
		append([]byte{22, 3, 1, 0, 200}, make([]byte, 200)...),
		append([]byte{23, 3, 3, 3, 0}, make([]byte, 768)...),
		append([]byte{22, 3, 1, 3, 0}, make([]byte, 700)...),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	} {
		b := &bio{}
		b.init(nil)
		b.buf = append([]byte(nil), in...)
		b.reframeHello()
		b.setErr(io.EOF)
		got, err := io.ReadAll(b)
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("% x... changed to % x... (%v)", in[:5], got[:min(5, len(got))], err)
		}
	}
}
