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
// CRLF is mandatory here even though heads accept a bare LF: RFC 9112
// errata 7633, and lenient chunk parsing is a known smuggling vector.
// Whitespace before an extension is refused, as net/http does.
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
	if line[i] != ';' {
		return 0, statusBadRequest
	}
	ext := line[i+1:]
	d.extBytes += len(ext) + 1
	if d.extBytes > maxChunkExtBytes {
		return 0, statusBadRequest
	}
	for _, c := range ext {
		if charClass[c]&classValue == 0 {
			return 0, statusBadRequest
		}
	}
	return n, 0
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
