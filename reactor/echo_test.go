package reactor

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// splittingEcho echoes through Write and Writev in random-sized pieces, so
// the server's write sizes are as arbitrary as the client's.
type splittingEcho struct {
	protocol.Base
	rng *rand.Rand
}

func (e *splittingEcho) DataReceived(b []byte) {
	for len(b) > 0 {
		n := 1 + e.rng.IntN(len(b))
		if n >= 2 && e.rng.IntN(2) == 0 {
			e.Transport.Writev(b[:n/2], b[n/2:n])
		} else {
			e.Transport.Write(b[:n])
		}
		b = b[n:]
	}
}

func (e *splittingEcho) ReadConnectionLost() { e.Transport.LoseConnection() }

func TestEchoThousandConcurrentConnectionsEveryByteCompared(t *testing.T) {
	for _, reusePort := range []bool{true, false} {
		t.Run(map[bool]string{true: "socket per loop", false: "shared socket"}[reusePort], func(t *testing.T) {
			echoThousand(t, reusePort)
		})
	}
}

func echoThousand(t *testing.T, reusePort bool) {
	r := startReactor(t, WithLoops(2), WithReusePort(reusePort))
	var seed uint64
	var seedMu sync.Mutex
	ln, err := r.ListenTCP("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		seedMu.Lock()
		seed++
		s := seed
		seedMu.Unlock()
		return &splittingEcho{rng: rand.New(rand.NewPCG(s, 7))}
	}))
	if err != nil {
		t.Fatal(err)
	}
	const conns = 1000
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(ln.Addr().String(), uint64(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// echoOnce sends a random payload in random-sized writes, half-closes, and
// checks that exactly the same bytes come back before EOF.
func echoOnce(addr string, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 42))
	payload := make([]byte, 1+rng.IntN(48<<10))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	// A burst of a thousand loopback connections can overflow the kernel's
	// per-CPU packet backlog (netdev_max_backlog): a dropped SYN is sent
	// again after 1, 3, 7 and 15 s, so the dial gets time for that.
	c, err := net.DialTimeout("tcp", addr, 45*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(90 * time.Second))
	writeErr := make(chan error, 1)
	go func() {
		rest := payload
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(9000))
			if _, err := c.Write(rest[:n]); err != nil {
				writeErr <- err
				return
			}
			rest = rest[n:]
		}
		writeErr <- c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := <-writeErr; err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return errorf("echo mismatch: sent %d bytes, got %d", len(payload), len(got))
	}
	return nil
}
