package basic

// input is a framer's unparsed input: bytes it owns, carried over from
// earlier reads (buf[off:]), followed by bytes it borrows from the current
// DataReceived call (rest). Borrowing is what makes parsing free of copies:
// a message lying wholly in rest is delivered as a slice of it, and only the
// unfinished tail is copied into buf when the call ends.
//
// Slices handed to a handler may point into buf, so buf is only ever
// appended to while a handler call is running; it is reset or compacted
// only between handler calls, by the one parse loop of the framer (which
// never runs nested).
type input struct {
	buf  []byte
	off  int
	rest []byte
}

// len is the number of unparsed bytes.
func (in *input) len() int { return len(in.buf) - in.off + len(in.rest) }

// owned returns the owned part of the unparsed bytes.
func (in *input) owned() []byte { return in.buf[in.off:] }

// at returns the i-th unparsed byte; i < in.len().
func (in *input) at(i int) byte {
	if n := len(in.buf) - in.off; i < n {
		return in.buf[in.off+i]
	} else {
		return in.rest[i-n]
	}
}

// take consumes the next n unparsed bytes (n <= in.len()) and returns them
// as one slice: a slice of rest when nothing is owned, else the owned bytes
// completed from rest.
func (in *input) take(n int) []byte {
	owned := len(in.buf) - in.off
	if owned == 0 {
		p := in.rest[:n:n]
		in.rest = in.rest[n:]
		return p
	}
	if need := n - owned; need > 0 {
		in.buf = append(in.buf, in.rest[:need]...)
		in.rest = in.rest[need:]
	}
	p := in.buf[in.off : in.off+n : in.off+n]
	in.off += n
	return p
}

// discard consumes the next n unparsed bytes (n <= in.len()).
func (in *input) discard(n int) {
	owned := len(in.buf) - in.off
	if n <= owned {
		in.off += n
		return
	}
	in.off = len(in.buf)
	in.rest = in.rest[n-owned:]
}

// settle drops the owned bytes' storage offset once they are all consumed,
// so that buf is reused from its start. Call it only between handler calls.
func (in *input) settle() {
	if in.off == len(in.buf) {
		in.buf = in.buf[:0]
		in.off = 0
	}
}

// push appends data after all unparsed bytes. It is how input that arrives
// during a handler call (a nested DataReceived) joins the queue: rest is
// copied into buf first so that order is kept, and nothing in buf is
// overwritten.
func (in *input) push(data []byte) {
	in.buf = append(in.buf, in.rest...)
	in.rest = nil
	in.buf = append(in.buf, data...)
}

// pushFront puts data before all unparsed bytes, without overwriting
// anything a running handler call may still hold (data may itself be such
// a slice).
func (in *input) pushFront(data []byte) {
	start := len(in.buf)
	in.buf = append(in.buf, data...)
	in.buf = append(in.buf, in.buf[in.off:start]...)
	in.buf = append(in.buf, in.rest...)
	in.rest = nil
	in.off = start
}

// stash makes the unparsed bytes owned, so that they outlive the current
// DataReceived call: buf is compacted, then rest is appended. Call it only
// between handler calls.
func (in *input) stash() {
	if in.off > 0 {
		n := copy(in.buf, in.buf[in.off:])
		in.buf = in.buf[:n]
		in.off = 0
	}
	if len(in.rest) > 0 {
		in.buf = append(in.buf, in.rest...)
		in.rest = nil
	}
}

// keepLast drops all but the last n unparsed bytes and makes those owned.
// Call it only between handler calls.
func (in *input) keepLast(n int) {
	if total := in.len(); total > n {
		in.discard(total - n)
	}
	in.stash()
}

// clear drops every unparsed byte.
func (in *input) clear() {
	in.off = len(in.buf)
	in.rest = nil
}

// release drops the input and its storage.
func (in *input) release() { *in = input{} }
