package proxyproto

import (
	"fmt"
	"hash/crc32"
	"strconv"
)

// AppendV1 appends h as a v1 text header to dst. Only INET and INET6
// stream headers carry addresses in v1; any other family is written as
// UNKNOWN. A header with TLVs, a Local command or a datagram transport
// cannot be written as v1 (ErrUnsupported).
func AppendV1(dst []byte, h *Header) ([]byte, error) {
	if len(h.TLVs) > 0 || h.Command != Proxy {
		return dst, fmt.Errorf("%w: v1 has no TLVs and no LOCAL command", ErrUnsupported)
	}
	switch h.Family {
	case Unspec:
		return append(dst, "PROXY UNKNOWN\r\n"...), nil
	case INET, INET6:
	default:
		return dst, fmt.Errorf("%w: v1 carries only TCP over IPv4 or IPv6", ErrUnsupported)
	}
	if h.Transport != Stream {
		return dst, fmt.Errorf("%w: v1 carries only TCP", ErrUnsupported)
	}
	s, d := h.Source.Addr(), h.Destination.Addr()
	if h.Family == INET && (!s.Is4() || !d.Is4()) || h.Family == INET6 && (!s.Is6() || !d.Is6()) || s.Zone() != "" || d.Zone() != "" {
		return dst, fmt.Errorf("%w: addresses do not match the family", ErrMalformed)
	}
	dst = append(dst, "PROXY TCP4 "...)
	if h.Family == INET6 {
		dst[len(dst)-2] = '6'
	}
	dst = s.AppendTo(dst)
	dst = append(dst, ' ')
	dst = d.AppendTo(dst)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Source.Port()), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Destination.Port()), 10)
	return append(dst, '\r', '\n'), nil
}

// AppendV2 appends h as a v2 binary header to dst, its TLVs in order. A
// TypeCRC32C TLV in h.TLVs is filled with the header's checksum (its
// value is ignored). A Local command or an Unspec family writes no
// addresses and no TLVs, as receivers ignore them.
func AppendV2(dst []byte, h *Header) ([]byte, error) {
	if h.Command != Local && h.Command != Proxy || h.Family > UNIX || h.Transport > Datagram ||
		(h.Family == Unspec) != (h.Transport == UnspecTransport) {
		return dst, fmt.Errorf("%w: command %d, family %d, transport %d", ErrUnsupported, h.Command, h.Family, h.Transport)
	}
	start := len(dst)
	dst = append(dst, v2Signature[:]...)
	dst = append(dst, 0x20|byte(h.Command), byte(h.Family)<<4|byte(h.Transport), 0, 0)
	crcAt := -1
	if h.Command == Proxy && h.Family != Unspec {
		switch h.Family {
		case INET:
			s, d := h.Source.Addr(), h.Destination.Addr()
			if !s.Is4() || !d.Is4() {
				return dst[:start], fmt.Errorf("%w: INET needs IPv4 addresses", ErrMalformed)
			}
			a, b := s.As4(), d.As4()
			dst = append(dst, a[:]...)
			dst = append(dst, b[:]...)
			dst = appendPorts(dst, h)
		case INET6:
			s, d := h.Source.Addr(), h.Destination.Addr()
			if !s.Is6() || !d.Is6() {
				return dst[:start], fmt.Errorf("%w: INET6 needs IPv6 addresses", ErrMalformed)
			}
			a, b := s.As16(), d.As16()
			dst = append(dst, a[:]...)
			dst = append(dst, b[:]...)
			dst = appendPorts(dst, h)
		case UNIX:
			if len(h.SourceUnix) > 108 || len(h.DestinationUnix) > 108 {
				return dst[:start], fmt.Errorf("%w: UNIX path longer than 108 bytes", ErrMalformed)
			}
			var a [216]byte
			copy(a[:108], h.SourceUnix)
			copy(a[108:], h.DestinationUnix)
			dst = append(dst, a[:]...)
		}
		for _, t := range h.TLVs {
			v := t.Value
			if t.Type == TypeCRC32C {
				crcAt = len(dst) + 3
				v = []byte{0, 0, 0, 0}
			}
			if len(v) > 0xFFFF {
				return dst[:start], fmt.Errorf("%w: TLV of %d bytes", ErrTooLong, len(v))
			}
			dst = append(dst, t.Type, byte(len(v)>>8), byte(len(v)))
			dst = append(dst, v...)
		}
	}
	n := len(dst) - start - v2HeaderLen
	if n > 0xFFFF {
		return dst[:start], fmt.Errorf("%w: v2 header of %d bytes", ErrTooLong, n+v2HeaderLen)
	}
	dst[start+14], dst[start+15] = byte(n>>8), byte(n)
	if crcAt >= 0 {
		sum := crc32.Checksum(dst[start:], castagnoli)
		dst[crcAt], dst[crcAt+1], dst[crcAt+2], dst[crcAt+3] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	}
	return dst, nil
}

func appendPorts(dst []byte, h *Header) []byte {
	s, d := h.Source.Port(), h.Destination.Port()
	return append(dst, byte(s>>8), byte(s), byte(d>>8), byte(d))
}
