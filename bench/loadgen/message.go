package loadgen

// messageSet is a connection's prebuilt messages. Message k of the
// connection is set[k%len(set)]; there is one more variant than can be in
// flight, so an echo delivered out of order, or twice, or from another
// connection never equals the message expected in its place.
type messageSet [][]byte

// newMessageSet builds n messages of size bytes for connection conn. The
// first byte is the variant number, so variants differ even in one-byte
// messages (up to 256 variants); the rest comes from a xorshift generator
// seeded by (conn, variant), so connections differ too.
func newMessageSet(conn, n, size int) messageSet {
	set := make(messageSet, n)
	for v := range set {
		m := make([]byte, size)
		x := uint64(conn)<<32 ^ uint64(v)<<1 ^ 0x9e3779b97f4a7c15
		for i := range m {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			m[i] = byte(x)
		}
		if size > 0 {
			m[0] = byte(v)
		}
		set[v] = m
	}
	return set
}

// at returns message number seq.
func (s messageSet) at(seq uint64) []byte {
	return s[seq%uint64(len(s))]
}
