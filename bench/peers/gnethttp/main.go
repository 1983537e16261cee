package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/mustaine/mustaine/bench/peers/internal/canned"
)

// httpServer answers every request with the plaintext response.
type httpServer struct {
	gnet.BuiltinEventEngine
	date canned.DateCache
}

// session is a connection's response buffer, reused across reads so the
// steady state does not allocate. It starts empty: an idle connection
// that never sent a request holds no buffer.
type session struct {
	out []byte
}

// OnOpen attaches the connection's session.
func (*httpServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&session{})
	return nil, gnet.None
}

// OnTraffic answers every complete request in the inbound buffer with one
// Write and leaves an unfinished request buffered for the next event.
func (s *httpServer) OnTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	ss := c.Context().(*session)
	out, n := canned.AppendResponses(ss.out[:0], in, s.date.Get())
	ss.out = out
	if n == 0 {
		if len(in) > canned.MaxPending {
			return gnet.Close
		}
		return gnet.None
	}
	// Discard(0) would drop everything, hence the n == 0 return above.
	_, _ = c.Discard(n)
	_, _ = c.Write(out)
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address host:port")
	loops := flag.Int("loops", 1, "number of gnet event loops")
	flag.Parse()
	s := &httpServer{}
	s.date.Set(time.Now())
	stop := make(chan struct{})
	go s.date.Refresh(stop)
	err := gnet.Run(s, "tcp://"+*addr,
		gnet.WithNumEventLoop(*loops),
		gnet.WithMulticore(*loops > 1))
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnethttp:", err)
		os.Exit(1)
	}
}
