package http

// Byte classes of RFC 9110/9112 as lookup tables, so the parser tests one
// byte with one load instead of a chain of comparisons.
const (
	classToken  = 1 << iota // tchar: field names, methods, coding names
	classTarget             // request-target bytes: VCHAR (RFC 3986 URIs are ASCII)
	classValue              // field-value bytes: VCHAR, obs-text, SP, HTAB
	classHost               // Host field and authority bytes (RFC 3986 uri-host [":" port])
	classHex                // HEXDIG
)

var charClass = buildCharClass()

func buildCharClass() (t [256]uint8) {
	const tchar = "!#$%&'*+-.^_`|~"
	const host = "-._~!$&'()*+,;=:[]%"
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
		if alnum || indexByte(tchar, b) {
			t[c] |= classToken
		}
		if b > 0x20 && b < 0x7f {
			t[c] |= classTarget
		}
		if b >= 0x20 && b != 0x7f || b == '\t' {
			t[c] |= classValue
		}
		if alnum || indexByte(host, b) {
			t[c] |= classHost
		}
		if b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' {
			t[c] |= classHex
		}
	}
	return t
}

func indexByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// unhex returns the value of a hex digit already known to be one.
func unhex(c byte) uint64 {
	switch {
	case c <= '9':
		return uint64(c - '0')
	case c >= 'a':
		return uint64(c-'a') + 10
	default:
		return uint64(c-'A') + 10
	}
}

// equalFoldLower reports whether b equals lower, ignoring ASCII case. lower
// must be lower-case letters, digits and '-'. For validated token and field
// bytes c|0x20 maps only letters onto letters, so no other byte can match.
func equalFoldLower(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// equalFold reports whether a and b are equal ignoring ASCII case.
func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
