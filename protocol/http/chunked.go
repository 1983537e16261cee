package http

import "bytes"

// Bounds on what a chunked body may carry besides its data, so that a
// client cannot make the server chew through far more bytes than the body
// limit (RFC 9112 §7.1.1 lets recipients limit extensions).
const (
	maxChunkSizeDigits = 16       // hex digits of one chunk-size
	maxChunkExtBytes   = 16 << 10 // extension bytes of all chunks of a body
	chunkLineLimit     = 4<<10 + maxChunkSizeDigits
)

// Chunked decoder states.
const (
	chunkSize    = iota // expecting a chunk-size line
	chunkData           // inside chunk data
	chunkDataEnd        // expecting the CRLF after chunk data
	chunkTrailer        // inside the trailer section
	chunkDone
)

// chunkedDecoder decodes a chunked body (RFC 9112 §7.1) incrementally. It
// only consumes whole lines, so the caller keeps an unfinished line's bytes
// and offers them again with more.
type chunkedDecoder struct {
	state     uint8
	remaining uint64 // data bytes left in the current chunk
	extBytes  int    // extension bytes so far
	trailer   int    // trailer-section bytes so far
	fields    int    // trailer fields so far
}

// decode consumes what it can of in, appending chunk data to body. It
// returns the bytes consumed, the grown body, and a status code when the
// body is refused. d.state is chunkDone once the whole body, trailers
// included, is consumed; trailers are checked and dropped.
func (d *chunkedDecoder) decode(in, body []byte, lim *limits) (int, []byte, int) {
	pos := 0
	for pos < len(in) {
		switch d.state {
		case chunkSize:
			lf := bytes.IndexByte(in[pos:], '\n')
			if lf < 0 {
				if len(in)-pos > chunkLineLimit {
					return pos, body, statusBadRequest
				}
				return pos, body, 0
			}
			line := in[pos : pos+lf]
			pos += lf + 1
			n, st := d.sizeLine(line)
			if st != 0 {
				return pos, body, st
			}
			if n == 0 {
				d.state = chunkTrailer
				continue
			}
			if n > uint64(lim.maxBody-int64(len(body))) {
				return pos, body, statusPayloadTooLarge
			}
			d.remaining = n
			d.state = chunkData
		case chunkData:
			k := len(in) - pos
			if uint64(k) > d.remaining {
				k = int(d.remaining)
			}
			body = append(body, in[pos:pos+k]...)
			pos += k
			d.remaining -= uint64(k)
			if d.remaining == 0 {
				d.state = chunkDataEnd
			}
		case chunkDataEnd:
			if len(in)-pos < 2 {
				if in[pos] != '\r' {
					return pos, body, statusBadRequest
				}
				return pos, body, 0
			}
			if in[pos] != '\r' || in[pos+1] != '\n' {
				return pos, body, statusBadRequest
			}
			pos += 2
			d.state = chunkSize
		case chunkTrailer:
			lf := bytes.IndexByte(in[pos:], '\n')
			if lf < 0 {
				if d.trailer+len(in)-pos > lim.maxHeader {
					return pos, body, statusHeaderTooLarge
				}
				return pos, body, 0
			}
			line := in[pos : pos+lf]
			pos += lf + 1
			d.trailer += lf + 1
			if st := d.trailerLine(line, lim); st != 0 {
				return pos, body, st
			}
			if d.state == chunkDone {
				return pos, body, 0
			}
		default:
			return pos, body, 0
		}
	}
	return pos, body, 0
}

// sizeLine parses `chunk-size [ chunk-ext ] CR` (the LF already cut). The
// CRLF is mandatory, as everywhere in this package (lenient chunk parsing
// is a known smuggling vector), and whitespace after the size is refused,
// as net/http and llhttp's strict mode do.
func (d *chunkedDecoder) sizeLine(line []byte) (uint64, int) {
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return 0, statusBadRequest
	}
	line = line[:len(line)-1]
	var n uint64
	i := 0
	for i < len(line) && charClass[line[i]]&classHex != 0 {
		if i == maxChunkSizeDigits {
			return 0, statusBadRequest
		}
		n = n<<4 | unhex(line[i])
		i++
	}
	if i == 0 {
		return 0, statusBadRequest
	}
	if i == len(line) {
		return n, 0
	}
	ext := line[i:]
	d.extBytes += len(ext)
	if d.extBytes > maxChunkExtBytes || !validChunkExt(ext) {
		return 0, statusBadRequest
	}
	return n, 0
}

// validChunkExt reports whether b is a chunk-ext of RFC 9112 §7.1.1:
//
//	chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
//
// without the optional whitespace (BWS), which llhttp's strict mode and
// this package refuse. A ';' without a name, a '=' without a value and an
// unbalanced quote are refused: a peer that reads the rest of the line
// otherwise would frame the body otherwise.
func validChunkExt(b []byte) bool {
	i := 0
	for i < len(b) {
		if b[i] != ';' {
			return false
		}
		i++
		name := i
		for i < len(b) && charClass[b[i]]&classToken != 0 {
			i++
		}
		if i == name {
			return false
		}
		if i == len(b) || b[i] != '=' {
			continue
		}
		i++
		if i < len(b) && b[i] == '"' {
			end := quotedStringEnd(b, i)
			if end < 0 {
				return false
			}
			i = end
			continue
		}
		val := i
		for i < len(b) && charClass[b[i]]&classToken != 0 {
			i++
		}
		if i == val {
			return false
		}
	}
	return true
}

// quotedStringEnd returns the offset just after the quoted-string (RFC
// 9110 §5.6.4) that starts with the DQUOTE at b[i], or -1 when b ends
// inside it or it holds a byte a quoted-string cannot.
func quotedStringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
			i++
			if i == len(b) || charClass[b[i]]&classValue == 0 {
				return -1
			}
		case charClass[c]&classValue == 0:
			return -1 // qdtext is HTAB, SP, VCHAR but DQUOTE and "\", obs-text
		}
	}
	return -1
}

// trailerLine checks one trailer-section line (the LF already cut) and
// moves to chunkDone at the empty line. Trailer fields are validated like
// header fields and dropped: handlers see only the header section. As in
// the rest of the chunked framing, lines must end with CRLF.
func (d *chunkedDecoder) trailerLine(line []byte, lim *limits) int {
	n := len(line)
	if n == 0 || line[n-1] != '\r' {
		return statusBadRequest
	}
	line = line[:n-1]
	if len(line) == 0 {
		d.state = chunkDone
		return 0
	}
	d.fields++
	if d.trailer > lim.maxHeader || d.fields > lim.maxFields {
		return statusHeaderTooLarge
	}
	i := 0
	for i < len(line) && charClass[line[i]]&classToken != 0 {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return statusBadRequest
	}
	for _, c := range line[i+1:] {
		if charClass[c]&classValue == 0 {
			return statusBadRequest
		}
	}
	return 0
}
