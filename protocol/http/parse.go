package http

import (
	"bytes"
	"encoding/binary"
)

// limits are the parser's bounds, from the server's options.
type limits struct {
	maxLine   int   // request-line bytes, CRLF excluded
	maxHeader int   // field-line bytes after the request line, CRLFs included
	maxFields int   // field lines
	maxBody   int64 // body bytes after decoding
}

// Status codes the parser and the connection answer with by themselves.
const (
	statusContinue           = 100
	statusBadRequest         = 400
	statusRequestTimeout     = 408
	statusPayloadTooLarge    = 413
	statusURITooLong         = 414
	statusExpectationFailed  = 417
	statusHeaderTooLarge     = 431
	statusInternalError      = 500
	statusNotImplemented     = 501
	statusVersionUnsupported = 505
)

// maxContentLength bounds a Content-Length value so that accumulating its
// digits can never overflow an int64.
const maxContentLength = 1<<62 - 1

// skipEmptyLines returns how many leading empty lines (CRLF) b holds.
// RFC 9112 §2.2 asks servers to ignore at least one empty line before a
// request line, which some clients send after a body. A bare LF is no line
// end anywhere in this package, so it is not skipped: the request line
// parser refuses it. A lone CR that is not yet followed by anything is left
// for the next read.
func skipEmptyLines(b []byte) int {
	n := 0
	for n+1 < len(b) && b[n] == '\r' && b[n+1] == '\n' {
		n += 2
	}
	return n
}

// headParser parses a request head incrementally: when the bytes end
// inside the head, it remembers the next line to parse and how far it has
// looked for that line's end, so a head trickling in costs linear time and
// every complete line is checked as soon as it arrives.
type headParser struct {
	next        int // offset of the first line not parsed yet; 0: the request line
	headerStart int // offset of the first field line
	scanned     int // bytes already searched for the next line's LF
}

// parseHead parses a whole head at the start of b; see headParser.parse.
func parseHead(b []byte, r *Request, lim *limits) (n int, status int) {
	var p headParser
	return p.parse(b, r, lim)
}

// parse goes on parsing the head at the start of b into r, b being the
// bytes offered last time and more. It returns the head's length (final
// empty line included) and 0, or 0 and 0 when b does not hold a whole head
// yet, or 0 and the status code to refuse the request with. r.head is
// b[:n]; every span in r is relative to it. r must be reset before the
// first call for a request, and not touched between calls.
func (p *headParser) parse(b []byte, r *Request, lim *limits) (n int, status int) {
	if p.next == 0 {
		lf := bytes.IndexByte(b[p.scanned:], '\n')
		if lf < 0 {
			if len(b) > lim.maxLine+1 { // +1: the CR of a CRLF not yet complete
				return 0, statusURITooLong
			}
			p.scanned = len(b)
			return 0, 0
		}
		lf += p.scanned
		end, crlf := lineEnd(b, lf)
		if end > lim.maxLine {
			return 0, statusURITooLong
		}
		if !crlf {
			return 0, statusBadRequest // a bare LF
		}
		if st := parseRequestLine(b[:end], r); st != 0 {
			return 0, st
		}
		p.next, p.headerStart, p.scanned = lf+1, lf+1, lf+1
	}
	pos := p.next
	for {
		if pos < len(b) {
			// The first byte of a line decides at once between a field
			// line (a token character) and the empty line ending the head
			// (CRLF); anything else is refused as soon as it arrives,
			// before any size check, so that the answer does not depend on
			// how the head was cut into reads: whitespace (obs-fold,
			// RFC 9112 §5.2), a bare LF, a CR not followed by LF.
			if c := b[pos]; charClass[c]&classToken == 0 {
				if c != '\r' {
					return 0, statusBadRequest
				}
				if pos+1 == len(b) {
					p.next, p.scanned = pos, max(pos, p.scanned)
					return 0, 0
				}
				if b[pos+1] != '\n' {
					return 0, statusBadRequest
				}
				n = pos + 2
				break
			}
			if pos >= p.scanned {
				// A line not searched before: most are complete and
				// plain, and one pass over them finds their end and
				// checks them.
				if f, ok := scanField(b, pos); ok {
					if f.lf+1-p.headerStart > lim.maxHeader || len(r.fields) >= lim.maxFields {
						return 0, statusHeaderTooLarge
					}
					if st := addField(b, pos, f.nameEnd, f.valStart, f.valEnd, r); st != 0 {
						return 0, st
					}
					pos = f.lf + 1
					continue
				}
			}
		}
		lf := bytes.IndexByte(b[max(pos, p.scanned):], '\n')
		if lf < 0 {
			if len(b)-p.headerStart > lim.maxHeader {
				return 0, statusHeaderTooLarge
			}
			p.next, p.scanned = pos, len(b)
			return 0, 0
		}
		lf += max(pos, p.scanned)
		if lf+1-p.headerStart > lim.maxHeader || len(r.fields) >= lim.maxFields {
			return 0, statusHeaderTooLarge
		}
		end, crlf := lineEnd(b, lf)
		if !crlf {
			return 0, statusBadRequest // a bare LF
		}
		if st := parseField(b, pos, end, r); st != 0 {
			return 0, st
		}
		pos = lf + 1
	}
	*p = headParser{}
	r.head = b[:n]
	if st := r.checkFraming(); st != 0 {
		return 0, st
	}
	if r.contentLength > lim.maxBody {
		return 0, statusPayloadTooLarge
	}
	return n, 0
}

// lineEnd returns the end of the line ending with the LF at b[lf], without
// its terminator, and whether that terminator is CRLF. RFC 9112 §2.2 lets a
// recipient take a bare LF for a line end; this package never does, as
// llhttp's strict mode: a peer that reads it otherwise (as the end of a
// line, or as part of a value) would see other fields, and another
// request, than the server.
func lineEnd(b []byte, lf int) (end int, crlf bool) {
	if lf > 0 && b[lf-1] == '\r' {
		return lf - 1, true
	}
	return lf, false
}

// parseRequestLine parses `method SP request-target SP HTTP-version`
// (RFC 9112 §3): exactly one SP between the parts, no whitespace
// elsewhere.
func parseRequestLine(line []byte, r *Request) int {
	i := 0
	for i < len(line) && charClass[line[i]]&classToken != 0 {
		i++
	}
	if i == 0 || i >= len(line) || line[i] != ' ' {
		return statusBadRequest
	}
	r.method = internMethod(line[:i])
	start := i + 1
	i = start
	query := -1
	for i < len(line) {
		c := line[i]
		if charClass[c]&classTarget == 0 {
			break
		}
		switch {
		case c == '?' && query < 0:
			query = i
		case c == '%' && query < 0:
			// RFC 3986 pct-encoded in the path; the query is left to the
			// application, as browsers send raw '%' there.
			if i+2 >= len(line) || charClass[line[i+1]]&classHex == 0 || charClass[line[i+2]]&classHex == 0 {
				return statusBadRequest
			}
		}
		i++
	}
	if i == start || i >= len(line) || line[i] != ' ' {
		return statusBadRequest
	}
	r.target = span{int32(start), int32(i)}
	if st := r.splitTarget(line, start, i, query); st != 0 {
		return st
	}
	v := line[i+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return statusBadRequest
	}
	if v[5] != '1' || v[7] > '1' {
		return statusVersionUnsupported
	}
	r.minor = v[7] - '0'
	return 0
}

// splitTarget finds the path, query and (absolute form) host of the target
// line[start:end] whose first '?' is at query (or -1).
func (r *Request) splitTarget(line []byte, start, end, query int) int {
	pathEnd := end
	if query >= 0 {
		pathEnd = query
		r.query = span{int32(query + 1), int32(end)}
	} else {
		r.query = span{int32(end), int32(end)}
	}
	t := line[start:end]
	switch {
	case t[0] == '/': // origin-form
		r.path = span{int32(start), int32(pathEnd)}
		return 0
	case len(t) == 1 && t[0] == '*': // asterisk-form, OPTIONS only
		if r.method != "OPTIONS" {
			return statusBadRequest
		}
		r.path = span{int32(start), int32(end)}
		return 0
	case r.method == "CONNECT": // authority-form
		if !validAuthority(t) {
			return statusBadRequest
		}
		r.host = span{int32(start), int32(end)}
		r.hasHost = true
		r.path = span{int32(end), int32(end)}
		return 0
	}
	// absolute-form: scheme "://" authority path-abempty [ "?" query ]
	i := 0
	for i < pathEnd-start {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			break
		}
		i++
	}
	if i == 0 || i+3 > pathEnd-start || string(t[i:i+3]) != "://" {
		return statusBadRequest
	}
	hostStart := start + i + 3
	hostEnd := hostStart
	for hostEnd < pathEnd && line[hostEnd] != '/' {
		hostEnd++
	}
	// RFC 9110 §4.2.4: userinfo in an http(s) URI is an error;
	// validAuthority refuses the '@'.
	if hostEnd == hostStart || !validAuthority(line[hostStart:hostEnd]) {
		return statusBadRequest
	}
	r.host = span{int32(hostStart), int32(hostEnd)}
	r.hasHost = true
	if hostEnd == pathEnd {
		r.rootPath = true
	}
	r.path = span{int32(hostEnd), int32(pathEnd)}
	return 0
}

// validHost reports whether b is made of uri-host and port characters.
func validHost(b []byte) bool {
	for _, c := range b {
		if charClass[c]&classHost == 0 {
			return false
		}
	}
	return true
}

// validAuthority reports whether b is an authority without userinfo, as a
// request target carries it: uri-host [ ":" port ] (RFC 3986 §3.2), where
// the host has no ':' unless it is an IP-literal in brackets, and the port
// is digits. A '%' is refused too: clients send host names in ASCII, and a
// pct-encoded one (even "%00") would be decoded differently by each reader.
func validAuthority(b []byte) bool {
	host, port := b, []byte(nil)
	if i := bytes.LastIndexByte(b, ':'); i >= 0 && bytes.IndexByte(b[i:], ']') < 0 {
		host, port = b[:i], b[i+1:]
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1] // an IP-literal may hold ':'
	} else if bytes.IndexByte(host, ':') >= 0 {
		return false
	}
	if bytes.ContainsAny(host, "[]%") || !validHost(host) {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// internMethod returns the standard methods as constants so that Method
// does not allocate.
func internMethod(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	case "PATCH":
		return "PATCH"
	case "CONNECT":
		return "CONNECT"
	case "TRACE":
		return "TRACE"
	}
	return string(m)
}

// parseField parses the field line b[start:end] (RFC 9112 §5):
// field-name ":" OWS field-value OWS. No whitespace is allowed before the
// colon or at the start of the line (obs-fold), and the value may hold
// only VCHAR, obs-text, SP and HTAB: NUL, CR and other controls are
// refused.
func parseField(b []byte, start, end int, r *Request) int {
	i := start
	for i < end && charClass[b[i]]&classToken != 0 {
		i++
	}
	if i == start || i == end || b[i] != ':' {
		return statusBadRequest
	}
	nameEnd := i
	i++
	for i < end && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	valStart := i
	for ; i < end; i++ {
		if charClass[b[i]]&classValue == 0 {
			return statusBadRequest
		}
	}
	valEnd := end
	for valEnd > valStart && (b[valEnd-1] == ' ' || b[valEnd-1] == '\t') {
		valEnd--
	}
	return addField(b, start, nameEnd, valStart, valEnd, r)
}

// fieldLine is a field line found by scanField: the name is
// b[start:nameEnd], the value b[valStart:valEnd] without surrounding
// whitespace, and lf the offset of the line's LF.
type fieldLine struct{ nameEnd, valStart, valEnd, lf int }

// scanField finds and checks the field line starting at b[pos] in one
// pass, for the common case: complete, with a token name, a colon and a
// value of VCHAR, obs-text, SP and HTAB, ended by CRLF. It reports
// false for anything else (an incomplete line, a control byte, a bare
// CR...), and the caller then takes the general path, which finds the
// line's end first and decides.
func scanField(b []byte, pos int) (f fieldLine, ok bool) {
	i := pos
	for i < len(b) && charClass[b[i]]&classToken != 0 {
		i++
	}
	if i == pos || i >= len(b) || b[i] != ':' {
		return f, false
	}
	f.nameEnd = i
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	f.valStart = i
	for i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) && charClass[b[i]]&classValue != 0 {
		i++
	}
	if i+1 >= len(b) || b[i] != '\r' || b[i+1] != '\n' {
		return f, false
	}
	f.lf = i + 1
	f.valEnd = i
	for f.valEnd > f.valStart && (b[f.valEnd-1] == ' ' || b[f.valEnd-1] == '\t') {
		f.valEnd--
	}
	return f, true
}

// addField records the checked field line whose name is b[start:nameEnd]
// and trimmed value b[valStart:valEnd], and notes the fields that frame
// the request.
func addField(b []byte, start, nameEnd, valStart, valEnd int, r *Request) int {
	f := field{name: span{int32(start), int32(nameEnd)}, value: span{int32(valStart), int32(valEnd)}}
	r.fields = append(r.fields, f)
	name := b[start:nameEnd]
	value := b[valStart:valEnd]
	switch len(name) {
	case 4:
		if equalFoldLower(name, "host") {
			return r.onHost(f.value, value)
		}
	case 6:
		if equalFoldLower(name, "expect") {
			return r.onExpect(value)
		}
	case 10:
		if equalFoldLower(name, "connection") {
			r.onConnection(value)
		}
	case 14:
		if equalFoldLower(name, "content-length") {
			return r.onContentLength(value)
		}
	case 17:
		if equalFoldLower(name, "transfer-encoding") {
			r.onTransferEncoding(value)
		}
	}
	return 0
}

// Framing state gathered while the fields are parsed, decided on by
// checkFraming once the head is complete. They live in the Request's
// spare bits to keep parsing free of allocations.
const (
	teSeen         = 1 << iota // a Transfer-Encoding field
	teChunkedLast              // the last coding so far is chunked
	teChunkedTwice             // chunked appears more than once
	teChunkedSeen              // chunked appears at all
	teOther                    // a coding other than chunked
	clSeen                     // a Content-Length field
	hostRepeated               // more than one Host field
	hostFieldSeen              // a Host field
	expectUnmet                // an Expect other than 100-continue
	invalidHost                // a Host value with bytes outside uri-host
)

func (r *Request) onHost(v span, value []byte) int {
	if r.flags&hostFieldSeen != 0 {
		r.flags |= hostRepeated
		return 0
	}
	r.flags |= hostFieldSeen
	if !validHost(value) {
		r.flags |= invalidHost
	}
	if !r.hasHost { // an absolute-form authority takes precedence
		r.host = v
	}
	return 0
}

func (r *Request) onExpect(value []byte) int {
	if equalFoldLower(value, "100-continue") {
		r.expect = true
	} else {
		r.flags |= expectUnmet
	}
	return 0
}

// onConnection notes the close and keep-alive options of a Connection
// field's comma-separated list.
func (r *Request) onConnection(value []byte) {
	for len(value) > 0 {
		var opt []byte
		opt, value = cutByte(value, ',')
		opt = trimOWS(opt)
		switch {
		case equalFoldLower(opt, "close"):
			r.connClose = true
		case equalFoldLower(opt, "keep-alive"):
			r.connKeepAlive = true
		}
	}
}

// onContentLength parses 1*DIGIT. A list ("5, 5") is refused, and repeated
// fields must carry the same value (RFC 9112 §6.3, smuggling defence).
func (r *Request) onContentLength(value []byte) int {
	if len(value) == 0 {
		return statusBadRequest
	}
	var n int64
	for _, c := range value {
		if c < '0' || c > '9' {
			return statusBadRequest
		}
		n = n*10 + int64(c-'0')
		if n > maxContentLength {
			return statusBadRequest
		}
	}
	if r.flags&clSeen != 0 && n != r.contentLength {
		return statusBadRequest
	}
	r.flags |= clSeen
	r.contentLength = n
	return 0
}

// onTransferEncoding walks a Transfer-Encoding list. Codings may carry
// parameters (";q=..."), which are ignored; empty list elements are
// skipped as RFC 9110 §5.6.1 asks.
func (r *Request) onTransferEncoding(value []byte) {
	r.flags |= teSeen
	for len(value) > 0 {
		var coding []byte
		coding, value = cutByte(value, ',')
		coding = trimOWS(coding)
		if len(coding) == 0 {
			continue
		}
		if equalFoldLower(coding, "chunked") {
			if r.flags&teChunkedSeen != 0 {
				r.flags |= teChunkedTwice
			}
			r.flags |= teChunkedSeen | teChunkedLast
			continue
		}
		r.flags |= teOther
		r.flags &^= teChunkedLast
	}
}

// checkFraming applies the whole-head rules once every field is known.
func (r *Request) checkFraming() int {
	f := r.flags
	switch {
	case f&hostRepeated != 0, f&invalidHost != 0:
		return statusBadRequest // RFC 9112 §3.2
	case r.minor == 1 && f&hostFieldSeen == 0:
		return statusBadRequest // HTTP/1.1 requires Host
	}
	if f&teSeen != 0 {
		switch {
		case r.minor == 0:
			// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty
			// framing.
			return statusBadRequest
		case f&clSeen != 0:
			return statusBadRequest // TE with CL: a smuggling pattern
		case f&teOther != 0:
			// RFC 9112 §6.1: a coding the server does not understand
			// gets 501, wherever it is in the list (the §6.3 400 for
			// "chunked not last" is for codings it knows, as nginx and
			// Apache httpd answer).
			return statusNotImplemented
		case f&teChunkedLast == 0, f&teChunkedTwice != 0:
			return statusBadRequest // RFC 9112 §6.3: chunked must be last, once
		}
		r.chunked = true
		r.contentLength = -1
	}
	if f&expectUnmet != 0 && r.minor == 1 {
		return statusExpectationFailed
	}
	if r.minor == 0 {
		r.expect = false // RFC 9110 §10.1.1: ignored in HTTP/1.0
	}
	return 0
}

// trimOWS removes optional whitespace (SP, HTAB) around b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
