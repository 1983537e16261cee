package reactor

import (
	"bytes"
	"crypto/tls"
	"io"
	"reflect"
	"testing"
	"unsafe"

	"github.com/mustaine/mustaine/protocol"
)

// TestBioReframesALargeClientHello: a first handshake record larger than
// maxHelloFragment comes out of the bio as records of at most maxHelloFragment
// bytes with the original type and version, whose payloads put together
// are the original's, and whatever followed it comes out unchanged.
func TestBioReframesALargeClientHello(t *testing.T) {
	for _, size := range []int{maxHelloFragment + 1, 1478, 1800, 4000, maxPlannedHello + 1, 16384} {
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
			if out[1] != 3 || out[2] != 1 || n == 0 || n > maxHelloFragment || len(out) < 5+n {
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

// tlsBufferCaps returns the capacities of crypto/tls's handshake and
// record buffers in tc (read through reflect: a test of how the bio feeds
// crypto/tls, not something the library does).
func tlsBufferCaps(t *testing.T, tc *tls.Conn) (hand, rawInput int) {
	t.Helper()
	v := reflect.ValueOf(tc).Elem()
	h, r := v.FieldByName("hand"), v.FieldByName("rawInput")
	if !h.IsValid() || !r.IsValid() {
		t.Fatal("crypto/tls.Conn has no hand or rawInput field any more: update this test")
	}
	return h.FieldByName("buf").Cap(), r.FieldByName("buf").Cap()
}

// TestTLSServerBuffersAfterTheHandshake: after a handshake with Go's
// default client (an X25519MLKEM768 key share: a ClientHello of about
// 1.5 KB) and with an X25519-only client, the server's crypto/tls keeps a
// handshake buffer no larger than the ClientHello's size class and a
// record buffer of 576 bytes.
func TestTLSServerBuffersAfterTheHandshake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		curves []tls.CurveID
	}{{"default", nil}, {"x25519", []tls.CurveID{tls.X25519}}} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReactor(t, WithLoops(1))
			ln, conns := listenTLSGrabbing(t, r)
			cfg := tlsClientConfig(t)
			cfg.ServerName = "localhost"
			cfg.CurvePreferences = tc.curves
			hello := captureClientHello(cfg)
			helloLen := int(hello[3])<<8 | int(hello[4])
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var hand, raw int
			sc := <-conns
			onLoop(t, r, func() { hand, raw = tlsBufferCaps(t, sc.tls.tc) })
			if want := allocClass(helloLen); hand > want || raw > 576 {
				t.Errorf("ClientHello of %d bytes: handshake buffer %d bytes (want <= %d), record buffer %d (want <= 576)", helloLen, hand, want, raw)
			}
			t.Logf("ClientHello %d bytes: handshake buffer %d, record buffer %d", helloLen, hand, raw)
		})
	}
}

// connGrabber sends its Transport's conn once made.
type connGrabber struct {
	protocol.Base
	ch chan *conn
}

// listenTLSGrabbing listens for TLS 1.3 on r and hands each accepted
// connection's transport to the returned channel (see connGrabber).
func listenTLSGrabbing(t *testing.T, r *Reactor) (*Listener, <-chan *conn) {
	t.Helper()
	conns := make(chan *conn, 1)
	ln, err := r.ListenTLS("127.0.0.1:0", tlsServerConfig(t, tls.VersionTLS13), tlsFactoryFunc(func() protocol.Protocol {
		return &connGrabber{ch: conns}
	}))
	if err != nil {
		t.Fatal(err)
	}
	return ln, conns
}

func (g *connGrabber) ConnectionMade(t protocol.Transport) {
	g.Base.ConnectionMade(t)
	g.ch <- t.(*conn)
}

// allocClass is the capacity Go gives a byte slice of n bytes.
func allocClass(n int) int { return cap(append([]byte(nil), make([]byte, n)...)) }

// The fragment sizes reframeHello plans, written to a bytes.Buffer as
// crypto/tls appends record payloads to its handshake buffer, leave it
// with the capacity the plan predicted, never more than fragments of 512
// bytes (the previous cut) would, and for every ClientHello size up to
// 2 KB at most one size class above the ClientHello's own.
func TestHelloPlanKeepsTheHandshakeBufferSmall(t *testing.T) {
	classes := allocClasses()
	for n := maxHelloFragment + 1; n <= maxPlannedHello+600; n++ {
		h := &bioHandshake{helloLeft: n, plan: helloPlan(n)}
		var planned bytes.Buffer
		for h.helloLeft > 0 {
			k := h.nextFragment()
			if k <= 0 || k > maxHelloFragment {
				t.Fatalf("ClientHello of %d bytes: fragment of %d", n, k)
			}
			h.helloLeft -= k
			planned.Write(make([]byte, k))
		}
		if n <= 2*maxPlannedHello && planned.Cap() != h.handCap {
			t.Fatalf("ClientHello of %d bytes: buffer capacity %d, the plan predicted %d", n, planned.Cap(), h.handCap)
		}
		var old bytes.Buffer
		for left := n; left > 0; left -= min(left, 512) {
			old.Write(make([]byte, min(left, 512)))
		}
		if planned.Cap() > old.Cap() {
			t.Fatalf("ClientHello of %d bytes: capacity %d, more than %d with 512-byte fragments", n, planned.Cap(), old.Cap())
		}
		if own := allocRound(classes, n); n <= 2048 && planned.Cap() > allocRound(classes, own+1) {
			t.Fatalf("ClientHello of %d bytes: capacity %d, more than one class above its own %d", n, planned.Cap(), own)
		}
	}
}

// Sequential handshakes on one loop put their ClientHello in the same
// input buffer: the first connection's goes back to the loop's free list
// once its handshake is done, and the next one's ClientHello arrives in
// it (no input buffer allocated per handshake).
func TestTLSServerReusesTheLoopsInputBuffer(t *testing.T) {
	r := startReactor(t, WithLoops(1))
	ln, conns := listenTLSGrabbing(t, r)
	var first *byte
	for i := range 4 {
		c, err := tls.Dial("tcp", ln.Addr().String(), tlsClientConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		<-conns
		var free [][]byte
		onLoop(t, r, func() { free = append(free, r.loops[0].tls.inputs...) })
		c.Close()
		if len(free) != 1 || cap(free[0]) > tlsInputMax {
			t.Fatalf("handshake %d: %d free input buffers (want 1, at most %d bytes)", i, len(free), tlsInputMax)
		}
		p := unsafe.SliceData(free[0][:1])
		if i == 0 {
			first = p
		} else if p != first {
			t.Fatalf("handshake %d used another input buffer than the first", i)
		}
	}
}
