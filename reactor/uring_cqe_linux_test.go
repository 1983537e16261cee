//go:build linux

package reactor

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// echoThenClose answers one message and closes, its receive still armed.
type echoThenClose struct{ protocol.Base }

func (e *echoThenClose) DataReceived(b []byte) {
	e.Transport.Write(b)
	e.Transport.LoseConnection()
}

// A connection the server closes while its receive is armed has that
// receive cancelled; the cancellation's own completion carries nothing
// and is not posted (IOSQE_CQE_SKIP_SUCCESS): after 20 such connections
// the loops have reaped no completion of the kind cancellations post.
// Run with 1 and 2 loops.
func TestUringCancellationsPostNoCompletion(t *testing.T) {
	needUring(t)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			r := startReactor(t, WithBackend(BackendIOURing), WithLoops(loops))
			ln, err := r.ListenTCP("127.0.0.1:0", protocol.ForProtocol[echoThenClose]())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				msg := fmt.Sprintf("message %d", i)
				if err := echoRound(c, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadAll(c); err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			var other, recvs uint64
			for _, l := range r.loops {
				onLoopOf(t, l, func() {
					other += l.ur.counts.other
					recvs += l.ur.counts.recvs
				})
			}
			if recvs < 20 {
				t.Fatalf("%d receive completions for 20 echoed connections", recvs)
			}
			if other != 0 {
				t.Fatalf("%d completions of cancellations or other ignored requests, want 0", other)
			}
		})
	}
}
