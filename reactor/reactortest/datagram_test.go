package reactortest

import (
	"errors"
	"net"
	"testing"

	"github.com/mustaine/mustaine/protocol"
)

type udpProto struct {
	protocol.DatagramBase
	got     []string
	refused int
	stopped int
}

func (p *udpProto) DatagramReceived(data []byte, addr net.Addr) { p.got = append(p.got, string(data)) }
func (p *udpProto) ConnectionRefused()                          { p.refused++ }
func (p *udpProto) StopProtocol()                               { p.stopped++ }

func TestDatagramTransportKeepsThePortContract(t *testing.T) {
	p := &udpProto{}
	tr := Listen(p, nil, nil)
	if p.Transport != tr {
		t.Fatal("StartProtocol was not called with the transport")
	}
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}
	stranger := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 2}
	if _, err := tr.Write([]byte("x")); !errors.Is(err, protocol.ErrNotConnected) {
		t.Fatalf("Write unconnected: %v", err)
	}
	if tr.Refuse() {
		t.Fatal("an unconnected port was told of a refusal")
	}
	if err := tr.Connect(peer); err != nil {
		t.Fatal(err)
	}
	if tr.Receive([]byte("from stranger"), stranger) || !tr.Receive([]byte("from peer"), peer) {
		t.Fatal("a connected port takes datagrams from its peer only")
	}
	if !tr.Refuse() || p.refused != 1 {
		t.Fatal("ConnectionRefused not called on a connected port")
	}
	if _, err := tr.WriteTo([]byte("x"), stranger); !errors.Is(err, protocol.ErrAlreadyConnected) {
		t.Fatalf("WriteTo another peer: %v", err)
	}
	tr.Write([]byte("hi"))
	if w := tr.Written(); len(w) != 1 || string(w[0].Data) != "hi" {
		t.Fatalf("written %v", w)
	}
	tr.StopListening()
	if err := tr.StopListening(); !errors.Is(err, protocol.ErrClosed) || p.stopped != 1 {
		t.Fatalf("second StopListening %v, StopProtocol called %d times", err, p.stopped)
	}
	if _, err := tr.Write([]byte("late")); !errors.Is(err, protocol.ErrClosed) {
		t.Fatalf("Write after StopListening: %v", err)
	}
	if len(p.got) != 1 || p.got[0] != "from peer" {
		t.Fatalf("got %q", p.got)
	}
}
