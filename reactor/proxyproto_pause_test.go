package reactor

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/protocol/proxyproto"
)

// pausingProto pauses reading in ConnectionMade, as protocol.Transport
// allows, and records every byte it is given; resume lifts the pause from
// the loop.
type pausingProto struct {
	protocol.Base
	mu       sync.Mutex
	got      []byte
	early    int // bytes delivered while paused
	paused   bool
	resumed  chan struct{}
	received chan struct{}
}

func (p *pausingProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	t.PauseReading()
	p.paused = true
	close(p.resumed)
}

func (p *pausingProto) DataReceived(b []byte) {
	p.mu.Lock()
	if p.paused {
		p.early += len(b)
	}
	p.got = append(p.got, b...)
	p.mu.Unlock()
	select {
	case p.received <- struct{}{}:
	default:
	}
}

// The bytes that arrive in the same segment as the PROXY header are held
// while the Protocol has paused reading in ConnectionMade, and delivered,
// in order and before anything read later, once it resumes.
func TestProxyHeaderRestIsHeldWhileTheProtocolPausedInConnectionMade(t *testing.T) {
	hdr, _ := proxyproto.AppendV2(nil, &testHeader)
	first := bytes.Repeat([]byte("first-"), 100)
	second := []byte("second")
	for _, optional := range []bool{false, true} {
		proxyEachLoops(t, func(t *testing.T, loops int) {
			r := startReactor(t, WithLoops(loops))
			made := make(chan *pausingProto, 1)
			f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				p := &pausingProto{resumed: make(chan struct{}), received: make(chan struct{}, 1)}
				made <- p
				return p
			})
			ln, err := r.ListenTCP("127.0.0.1:0", f, WithProxyProtocol(ProxyProtocol{Optional: optional}))
			if err != nil {
				t.Fatal(err)
			}
			c := dialProxy(t, ln.Addr().String())
			msg := append(append([]byte(nil), hdr...), first...)
			if optional {
				msg = first // no header: every byte is the rest
			}
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			p := <-made
			<-p.resumed
			// Give the loop every chance to deliver early: it must not.
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write(second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			p.Transport.(*conn).loop.CallFromThread(func() {
				p.mu.Lock()
				p.paused = false
				p.mu.Unlock()
				p.Transport.ResumeReading()
			})
			want := append(append([]byte(nil), first...), second...)
			deadline := time.After(10 * time.Second)
			for {
				p.mu.Lock()
				got, early := append([]byte(nil), p.got...), p.early
				p.mu.Unlock()
				if early != 0 {
					t.Fatalf("optional=%v: %d bytes delivered while the Protocol had paused reading", optional, early)
				}
				if len(got) >= len(want) {
					if !bytes.Equal(got, want) {
						t.Fatalf("optional=%v: got %q, want %q", optional, got, want)
					}
					break
				}
				select {
				case <-p.received:
				case <-deadline:
					t.Fatalf("optional=%v: got %d of %d bytes", optional, len(got), len(want))
				}
			}
			c.Close()
			io.Copy(io.Discard, c)
		})
	}
}
