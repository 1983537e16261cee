package proxyproto

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
)

// Parser reads one PROXY header incrementally. The zero value is ready
// and expects either version; it is not safe for concurrent use.
//
// Its result depends only on the bytes fed so far, never on how they were
// cut into Feed calls.
type Parser struct {
	// MaxV2Length bounds a whole v2 header (0: DefaultMaxV2Length; at
	// most 16+65535).
	MaxV2Length int

	buf  []byte
	done bool
}

// Reset makes the Parser ready for a new stream, keeping its buffer.
func (p *Parser) Reset() {
	p.buf = p.buf[:0]
	p.done = false
}

// Pending returns the bytes earlier Feed calls consumed into the Parser
// and no header has used yet. After ErrNoHeader they are the stream's
// first bytes (the current Feed's b is not among them): a caller that
// accepts connections without a header passes Pending() and then b on.
func (p *Parser) Pending() []byte { return p.buf }

// Feed gives the Parser the next bytes of the stream. It returns:
//
//   - a header and n, the count of b's bytes that belonged to it (b[n:] is
//     the stream's payload, which the Parser has not kept);
//   - nil, len(b), nil when it needs more bytes (b is kept);
//   - nil, n, err when the stream cannot start with a valid header; with
//     ErrNoHeader n is 0 and Pending holds the earlier bytes.
//
// After a header or an error Feed returns ErrDone until Reset.
func (p *Parser) Feed(b []byte) (h *Header, n int, err error) {
	if p.done {
		return nil, 0, ErrDone
	}
	prev := len(p.buf)
	for {
		want := p.want()
		if want <= len(p.buf) || n == len(b) {
			break
		}
		k := min(want-len(p.buf), len(b)-n)
		p.buf = append(p.buf, b[n:n+k]...)
		n += k
	}
	h, used, err := p.parse()
	switch {
	case err == ErrNoHeader:
		p.buf = p.buf[:prev]
		p.done = true
		return nil, 0, err
	case err != nil:
		p.done = true
		return nil, n, err
	case h == nil:
		return nil, len(b), nil
	}
	p.done = true
	return h, used - prev, nil
}

func (p *Parser) maxV2() int {
	if p.MaxV2Length <= 0 {
		return DefaultMaxV2Length
	}
	return min(p.MaxV2Length, v2HeaderLen+0xFFFF)
}

// want is how many bytes the Parser needs to hold to decide.
func (p *Parser) want() int {
	b := p.buf
	if len(b) < v2HeaderLen {
		// Enough to tell the versions apart and read v2's length; a
		// short v1 line may end before, which parse finds.
		if len(b) > 0 && b[0] == 'P' {
			if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
				return i + 2
			}
			return MaxV1Length
		}
		return v2HeaderLen
	}
	if b[0] == 'P' {
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			return i + 2
		}
		return MaxV1Length
	}
	total := v2HeaderLen + (int(b[14])<<8 | int(b[15]))
	if total > p.maxV2() {
		return v2HeaderLen
	}
	return total
}

// parse decides on p.buf: a header and its length, nil and no error to
// wait, or an error.
func (p *Parser) parse() (*Header, int, error) {
	b := p.buf
	// Detection: b must be a prefix of one of the two openings.
	if k := min(len(b), len(v1Prefix)); len(b) > 0 && b[0] == 'P' {
		if string(b[:k]) != v1Prefix[:k] {
			return nil, 0, ErrNoHeader
		}
		if k < len(v1Prefix) {
			return nil, 0, nil
		}
		return parseV1(b)
	}
	k := min(len(b), len(v2Signature))
	if !bytes.Equal(b[:k], v2Signature[:k]) {
		return nil, 0, ErrNoHeader
	}
	if len(b) < v2HeaderLen {
		return nil, 0, nil
	}
	return p.parseV2(b)
}

func parseV1(b []byte) (*Header, int, error) {
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 || end+2 > MaxV1Length {
		if len(b) >= MaxV1Length {
			return nil, 0, ErrTooLong
		}
		return nil, 0, nil
	}
	line := string(b[len(v1Prefix):end])
	h := &Header{Version: 1, Command: Proxy}
	if line == "UNKNOWN" || strings.HasPrefix(line, "UNKNOWN ") {
		// The sender does not know the addresses; the rest is ignored.
		return h, end + 2, nil
	}
	f := strings.Split(line, " ")
	if len(f) != 5 {
		return nil, 0, fmt.Errorf("%w: v1 wants 5 fields after PROXY, got %d", ErrMalformed, len(f))
	}
	switch f[0] {
	case "TCP4":
		h.Family = INET
	case "TCP6":
		h.Family = INET6
	default:
		return nil, 0, fmt.Errorf("%w: v1 protocol %q", ErrMalformed, f[0])
	}
	h.Transport = Stream
	src, err1 := parseV1Addr(f[1], h.Family)
	dst, err2 := parseV1Addr(f[2], h.Family)
	sp, err3 := parsePort(f[3])
	dp, err4 := parsePort(f[4])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return nil, 0, fmt.Errorf("%w: v1 addresses %q", ErrMalformed, line)
	}
	h.Source = netip.AddrPortFrom(src, sp)
	h.Destination = netip.AddrPortFrom(dst, dp)
	return h, end + 2, nil
}

func parseV1Addr(s string, fam Family) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	if a.Zone() != "" || (fam == INET) != a.Is4() {
		return a, ErrMalformed
	}
	return a, nil
}

// parsePort reads a decimal port without sign or leading zeros.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || (s[0] == '0' && len(s) > 1) {
		return 0, ErrMalformed
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrMalformed
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 0xFFFF {
		return 0, ErrMalformed
	}
	return uint16(n), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (p *Parser) parseV2(b []byte) (*Header, int, error) {
	verCmd, fam := b[12], b[13]
	if verCmd>>4 != 2 {
		return nil, 0, fmt.Errorf("%w: v2 version %d", ErrUnsupported, verCmd>>4)
	}
	cmd := Command(verCmd & 0x0F)
	if cmd != Local && cmd != Proxy {
		return nil, 0, fmt.Errorf("%w: v2 command %d", ErrUnsupported, cmd)
	}
	h := &Header{Version: 2, Command: cmd, Family: Family(fam >> 4), Transport: TransportProtocol(fam & 0x0F)}
	if h.Family > UNIX || h.Transport > Datagram || (h.Family == Unspec) != (h.Transport == UnspecTransport) {
		return nil, 0, fmt.Errorf("%w: v2 family/transport 0x%02x", ErrUnsupported, fam)
	}
	total := v2HeaderLen + (int(b[14])<<8 | int(b[15]))
	if total > p.maxV2() {
		return nil, 0, fmt.Errorf("%w: v2 header of %d bytes (limit %d)", ErrTooLong, total, p.maxV2())
	}
	if len(b) < total {
		return nil, 0, nil
	}
	body := b[v2HeaderLen:total]
	if cmd == Local || h.Family == Unspec {
		// The receiver ignores what follows: the socket's addresses stand.
		return h, total, nil
	}
	var alen int
	switch h.Family {
	case INET:
		alen = 12
	case INET6:
		alen = 36
	case UNIX:
		alen = 216
	}
	if len(body) < alen {
		return nil, 0, fmt.Errorf("%w: v2 address block of %d bytes, family needs %d", ErrMalformed, len(body), alen)
	}
	switch h.Family {
	case INET:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), be16(body[8:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), be16(body[10:]))
	case INET6:
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), be16(body[32:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), be16(body[34:]))
	case UNIX:
		h.SourceUnix = cString(body[0:108])
		h.DestinationUnix = cString(body[108:216])
	}
	tlvs, err := parseTLVs(body[alen:])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: v2 TLVs overrun the header", ErrMalformed)
	}
	for _, t := range tlvs {
		switch t.Type {
		case TypeCRC32C:
			if len(t.Value) != 4 {
				return nil, 0, fmt.Errorf("%w: CRC32c TLV of %d bytes", ErrMalformed, len(t.Value))
			}
			if !checkCRC(b[:total], t.Value) {
				return nil, 0, ErrChecksum
			}
		case TypeUniqueID:
			if len(t.Value) > MaxUniqueIDLength {
				return nil, 0, fmt.Errorf("%w: unique ID of %d bytes", ErrMalformed, len(t.Value))
			}
		case TypeSSL:
			if _, err := parseSSL(t.Value); err != nil {
				return nil, 0, fmt.Errorf("%w: SSL TLV", ErrMalformed)
			}
		}
	}
	h.TLVs = tlvs
	return h, total, nil
}

// checkCRC compares sum with the CRC32c of hdr computed with sum's bytes
// as zeros (sum aliases hdr).
func checkCRC(hdr, sum []byte) bool {
	want := [4]byte(sum)
	clear(sum)
	got := crc32.Checksum(hdr, castagnoli)
	copy(sum, want[:])
	return got == be32(want[:])
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
