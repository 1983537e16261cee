package reactor

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// TestAcceptedConnectionKnowsItsPeersAddress checks the address an accepted
// connection reports, both to its factory and as RemoteAddr, against the
// client socket's own local address, for IPv4, IPv6 and Unix sockets, on 1
// and 2 loops: the accept path decodes the kernel's address itself.
func TestAcceptedConnectionKnowsItsPeersAddress(t *testing.T) {
	for _, loops := range []int{1, 2} {
		for _, network := range []string{"tcp4", "tcp6", "unix"} {
			t.Run(fmt.Sprintf("loops=%d/%s", loops, network), func(t *testing.T) {
				r := startReactor(t, WithLoops(loops))
				type seen struct{ built, remote net.Addr }
				got := make(chan seen, 8)
				f := protocol.FactoryFunc(func(addr net.Addr) protocol.Protocol {
					p := &addrProto{built: addr, got: func(built, remote net.Addr) { got <- seen{built, remote} }}
					return p
				})
				var ln *Listener
				var err error
				switch network {
				case "tcp4":
					ln, err = r.ListenTCP("127.0.0.1:0", f)
				case "tcp6":
					ln, err = r.ListenTCP("[::1]:0", f)
					if err != nil {
						t.Skipf("no IPv6 loopback: %v", err)
					}
				case "unix":
					ln, err = r.ListenUnix(filepath.Join(t.TempDir(), "s"), f)
				}
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					var c net.Conn
					var err error
					bound := network == "unix" && i == 2
					if bound {
						// A client bound to a path of its own: the name
						// comes back whole.
						laddr := &net.UnixAddr{Name: filepath.Join(t.TempDir(), "client"), Net: "unix"}
						c, err = net.DialUnix("unix", laddr, ln.Addr().(*net.UnixAddr))
					} else {
						c, err = net.Dial(ln.Addr().Network(), ln.Addr().String())
					}
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					var s seen
					select {
					case s = <-got:
					case <-time.After(5 * time.Second):
						t.Fatalf("connection %d: ConnectionMade did not run", i)
					}
					want := c.LocalAddr()
					if network == "unix" && !bound {
						// An unbound client socket has no name.
						want = &net.UnixAddr{Net: "unix"}
					}
					if s.built == nil || s.built.String() != want.String() || s.built.Network() != want.Network() {
						t.Fatalf("connection %d: factory got %v (%T), want %v", i, s.built, s.built, want)
					}
					if s.remote != s.built {
						t.Fatalf("connection %d: RemoteAddr %v is not the factory's %v", i, s.remote, s.built)
					}
				}
			})
		}
	}
}

// addrProto reports the address it was built for and its transport's
// RemoteAddr when its connection is made.
type addrProto struct {
	protocol.Base
	built net.Addr
	got   func(built, remote net.Addr)
}

func (p *addrProto) ConnectionMade(t protocol.Transport) {
	p.Base.ConnectionMade(t)
	p.got(p.built, t.RemoteAddr())
}
