package amp

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Limits of the box encoding, as in Twisted's amp.py.
const (
	// MaxKeyLength is the longest key a box may hold (its length is sent
	// in 16 bits, but Twisted refuses keys over 255 bytes).
	MaxKeyLength = 0xff
	// MaxValueLength is the longest value a box may hold.
	MaxValueLength = 0xffff
)

// Reserved keys of the AMP wire protocol.
const (
	keyCommand   = "_command"
	keyAsk       = "_ask"
	keyAnswer    = "_answer"
	keyError     = "_error"
	keyErrorCode = "_error_code"
	keyErrorDesc = "_error_description"
)

// Field is one key and value of a Box.
type Field struct {
	Key   string
	Value []byte
}

// Box is an AMP box: a sequence of keys and byte values. The order of the
// fields is kept as received or added; a peer may send them in any order.
type Box []Field

// Get returns the value of key and whether it is there.
func (b Box) Get(key string) ([]byte, bool) {
	for _, f := range b {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of key, or appends it.
func (b *Box) Set(key string, value []byte) {
	for i := range *b {
		if (*b)[i].Key == key {
			(*b)[i].Value = value
			return
		}
	}
	*b = append(*b, Field{key, value})
}

// AppendBox appends the wire encoding of b to dst: each field as a 16-bit
// big-endian key length, the key, a 16-bit value length and the value, then
// a zero key length. It fails with an error matching ErrKeyTooLong,
// ErrValueTooLong or ErrEmptyKey, leaving dst as it was.
func AppendBox(dst []byte, b Box) ([]byte, error) {
	dst, err := appendFields(dst, b)
	if err != nil {
		return dst, err
	}
	return append(dst, 0, 0), nil
}

// appendFields is AppendBox without the terminating zero length.
func appendFields(dst []byte, b Box) ([]byte, error) {
	for _, f := range b {
		switch {
		case len(f.Key) == 0:
			return dst, ErrEmptyKey
		case len(f.Key) > MaxKeyLength:
			return dst, fmt.Errorf("%w: %d bytes", ErrKeyTooLong, len(f.Key))
		case len(f.Value) > MaxValueLength:
			return dst, fmt.Errorf("%w: key %q, %d bytes", ErrValueTooLong, f.Key, len(f.Value))
		}
	}
	for _, f := range b {
		dst = appendField(dst, f.Key, f.Value)
	}
	return dst, nil
}

// appendField appends one key and value, whose lengths the caller checked.
func appendField[V string | []byte](dst []byte, key string, value V) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}

// ParseBox parses one box at the start of data and returns it with the
// number of bytes it took. It returns n == 0 and a nil error when data holds
// only the beginning of a box, and an error matching ErrMalformedBox when
// data cannot start a box (a key longer than MaxKeyLength). The values
// of the returned Box are copies (each with its own capacity, so appending
// to one cannot change another).
func ParseBox(data []byte) (b Box, n int, err error) {
	// A first pass finds the end and counts the fields, so that the box
	// takes three allocations whatever its size: the fields, one string
	// holding every key and one copy holding every value.
	fields, keyBytes, p := 0, 0, 0
	for {
		if len(data)-p < 2 {
			return nil, 0, nil
		}
		kl := int(binary.BigEndian.Uint16(data[p:]))
		p += 2
		if kl == 0 {
			break
		}
		if kl > MaxKeyLength {
			return nil, 0, fmt.Errorf("%w: key length %d over %d", ErrMalformedBox, kl, MaxKeyLength)
		}
		if len(data)-p < kl+2 {
			return nil, 0, nil
		}
		p += kl
		vl := int(binary.BigEndian.Uint16(data[p:]))
		p += 2 + vl
		if len(data) < p {
			return nil, 0, nil
		}
		fields++
		keyBytes += kl
	}
	n = p
	b = make(Box, 0, fields)
	if fields == 0 {
		return b, n, nil
	}
	var kb strings.Builder
	kb.Grow(keyBytes)
	for p = 0; p < n-2; {
		kl := int(binary.BigEndian.Uint16(data[p:]))
		kb.Write(data[p+2 : p+2+kl])
		p += 2 + kl
		p += 2 + int(binary.BigEndian.Uint16(data[p:]))
	}
	keys, values := kb.String(), append([]byte(nil), data[:n]...)
	k := 0
	for p = 0; len(b) < fields; {
		kl := int(binary.BigEndian.Uint16(data[p:]))
		key := keys[k : k+kl]
		k += kl
		p += 2 + kl
		vl := int(binary.BigEndian.Uint16(data[p:]))
		p += 2
		b = append(b, Field{key, values[p : p+vl : p+vl]})
		p += vl
	}
	return b, n, nil
}

// parseBoxes parses every complete box of data (used for AmpList values,
// which are boxes one after the other). Trailing bytes that are not a
// whole box are an error.
func parseBoxes(data []byte) ([]Box, error) {
	var out []Box
	for len(data) > 0 {
		b, n, err := ParseBox(data)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: truncated box", ErrMalformedBox)
		}
		out = append(out, b)
		data = data[n:]
	}
	return out, nil
}

// boxReader accumulates input across reads and hands out whole boxes. It
// keeps only the unfinished tail of the input between reads.
type boxReader struct {
	buf []byte
}

// feed adds data and calls emit for each complete box, stopping at the
// first error (from parsing or from emit) or when emit returns false.
func (r *boxReader) feed(data []byte, emit func(Box) bool) error {
	in := data
	if len(r.buf) > 0 {
		r.buf = append(r.buf, data...)
		in = r.buf
	}
	for {
		b, n, err := ParseBox(in)
		if err != nil {
			r.buf = nil
			return err
		}
		if n == 0 {
			break
		}
		in = in[n:]
		if !emit(b) {
			break
		}
	}
	if len(in) == 0 {
		r.buf = r.buf[:0]
		if cap(r.buf) > 64<<10 {
			r.buf = nil
		}
		return nil
	}
	r.buf = append(r.buf[:0], in...)
	return nil
}
