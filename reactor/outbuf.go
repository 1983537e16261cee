package reactor

// A connection's output is one contiguous buffer, c.out, whose unsent bytes
// are c.out[c.outOff:]. It is kept contiguous so that the common case, a
// handler's whole output taken by one write(2), stays one syscall with no
// iovec to build. Its memory follows the unsent bytes, never the bytes
// streamed so far:
//
//   - an append that does not fit first slides the unsent bytes to the
//     front (each byte is moved at most once per time the buffer fills, so
//     the cost is amortised O(1) per byte), and grows only when the unsent
//     bytes themselves need the room;
//   - after a partial write a large buffer that is mostly sent is replaced
//     by one sized for what is left, so a burst (one 50 MiB Write) does not
//     pin its peak once the kernel has taken most of it;
//   - a buffer that empties goes back to the loop's pool (an idle
//     connection holds none).
//
// A chunk list of pooled blocks flushed with writev would bound memory as
// well; it was not chosen because it would turn the one-write(2) hot path
// into an iovec walk for every small response, which is where a server's
// CPU goes (see the reactor doc).

// reserveOut makes room for n more bytes of output on c.
func (l *loop) reserveOut(c *conn, n int) {
	if c.out == nil {
		c.out = l.getBuf(n)
		return
	}
	if len(c.out)+n <= cap(c.out) {
		return
	}
	pending := c.pending()
	need := pending + n
	if need <= cap(c.out) && c.flags&fSending == 0 {
		// Slide the unsent bytes to the front: the room behind them is
		// enough.
		copy(c.out, c.out[c.outOff:])
		c.out = c.out[:pending]
		c.outOff = 0
		return
	}
	l.moveOut(c, 2*need)
}

// moveOut copies c's unsent output into a fresh buffer of capacity size
// and gives the old one back.
func (l *loop) moveOut(c *conn, size int) {
	pending := c.out[c.outOff:]
	nb := append(l.getBuf(size), pending...)
	if c.flags&fSending == 0 {
		// (An io_uring send in flight still reads the old buffer: its
		// completion gives it back.)
		l.putBuf(c.out)
	}
	c.out, c.outOff = nb, 0
}

// shrinkAbove is the capacity above which a buffer mostly sent is
// replaced: below it, keeping the buffer is cheaper than the allocations a
// steady stream (whose unsent bytes swing between the water marks) would
// make.
const shrinkAbove = 256 << 10

// shrinkOut, called after a partial write, gives back most of a large
// buffer whose unsent part has become small.
func (l *loop) shrinkOut(c *conn) {
	if capacity := cap(c.out); capacity > shrinkAbove && c.pending()*4 < capacity {
		l.moveOut(c, max(2*c.pending(), minOutBuffer))
	}
}

// The loop keeps emptied output buffers for reuse, within a byte budget:
// a stream that drains its buffer and fills it again (a producer resumed
// at the low mark) then allocates nothing, and what a loop keeps does not
// depend on how many connections it has.
const (
	minOutBuffer       = 4 << 10
	maxPooledBufferCap = 256 << 10 // larger buffers go back to the GC
	maxPooledBytes     = 1 << 20   // per loop
)

// getBuf returns an empty output buffer with room for at least n bytes.
func (l *loop) getBuf(n int) []byte {
	if k := len(l.bufPool); k > 0 && cap(l.bufPool[k-1]) >= n {
		b := l.bufPool[k-1]
		l.bufPool[k-1] = nil
		l.bufPool = l.bufPool[:k-1]
		l.pooled -= cap(b)
		return b
	}
	return make([]byte, 0, max(n, minOutBuffer))
}

// putBuf gives a buffer back; an idle connection holds none.
func (l *loop) putBuf(b []byte) {
	if cap(b) > maxPooledBufferCap || l.pooled+cap(b) > maxPooledBytes {
		return
	}
	l.pooled += cap(b)
	l.bufPool = append(l.bufPool, b[:0])
}

func (l *loop) releaseOut(c *conn) {
	c.outOff = 0
	if c.out != nil {
		if c.flags&fSending == 0 {
			l.putBuf(c.out)
		}
		c.out = nil
	}
}
