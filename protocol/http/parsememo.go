package http

import "bytes"

// parseMemo is a loop's last parsed request head and what parsing it
// gave: a head byte-identical to it (each request of a client that
// repeats one request, as load generators, health checkers and pollers
// do, and each request of a pipelined batch of them) takes that result
// instead of being parsed again. Parsing is a function of the head's bytes
// and the server's limits alone, and a loopState belongs to one server, so
// a hit gives exactly what parsing would; only heads that parsed without
// error are kept. Its buffers are made once, so it never allocates per
// request.
type parseMemo struct {
	head   []byte    // the head, CRLFs and final empty line included
	parsed reqParsed // its parse, with head and body nil
	fields []field   // parsed.fields' memory
}

// Bounds of what parseMemo keeps: small heads only, so that a miss costs
// little and a server whose clients all differ (browsers, with their long
// heads) pays nothing but the comparison.
const (
	parseMemoBytes  = 256
	parseMemoFields = 8
)

// take fills r with the memo's parse when b starts with the memo's head,
// and returns the head's length, or 0.
func (m *parseMemo) take(b []byte, r *Request) int {
	n := len(m.head)
	if n == 0 || len(b) < n || !bytes.Equal(b[:n], m.head) {
		return 0
	}
	fields := r.fields[:0]
	r.reqParsed = m.parsed
	r.fields = append(fields, m.fields...)
	r.head = b[:n]
	return n
}

// keep remembers r, just parsed from a head without error, when it fits
// and carries no credentials.
func (m *parseMemo) keep(r *Request) {
	if len(r.head) > parseMemoBytes || len(r.fields) > parseMemoFields || carriesCredentials(r) {
		m.head = m.head[:0]
		return
	}
	if m.head == nil {
		m.head = make([]byte, 0, parseMemoBytes)
		m.fields = make([]field, 0, parseMemoFields)
	}
	m.head = append(m.head[:0], r.head...)
	m.fields = append(m.fields[:0], r.fields...)
	m.parsed = r.reqParsed
	m.parsed.head, m.parsed.body, m.parsed.fields = nil, nil, nil
}

// carriesCredentials reports whether r has a field that authenticates its
// client (Authorization, Proxy-Authorization, Cookie). Such heads are not
// remembered: whether a head is the loop's last one shows in how fast it
// is served, and a client must not be able to test another's credentials
// that way, however small the difference.
func carriesCredentials(r *Request) bool {
	for _, f := range r.fields {
		name := f.name.of(r.head)
		switch len(name) {
		case 6:
			if equalFoldLower(name, "cookie") {
				return true
			}
		case 13:
			if equalFoldLower(name, "authorization") {
				return true
			}
		case 19:
			if equalFoldLower(name, "proxy-authorization") {
				return true
			}
		}
	}
	return false
}
