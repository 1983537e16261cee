package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
)

var sig = "\r\n\r\n\x00\r\nQUIT\n"

// v2 builds a v2 header by hand from the specification's layout.
func v2(verCmd, fam byte, body []byte) []byte {
	b := append([]byte(sig), verCmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func tlv(t byte, v string) []byte {
	return append([]byte{t, byte(len(v) >> 8), byte(len(v))}, v...)
}

func inet4Body() []byte {
	return []byte{192, 0, 2, 1, 198, 51, 100, 7, 0xC3, 0x50, 0x01, 0xBB} // 192.0.2.1:50000 -> 198.51.100.7:443
}

// withCRC appends a CRC32c TLV and fills it as the spec says: over the
// whole header with the checksum field zero.
func withCRC(verCmd, fam byte, body []byte, corrupt bool) []byte {
	b := v2(verCmd, fam, append(body, 0x03, 0, 4, 0, 0, 0, 0))
	sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	if corrupt {
		sum++
	}
	binary.BigEndian.PutUint32(b[len(b)-4:], sum)
	return b
}

func seeds() [][]byte {
	body6 := make([]byte, 36)
	copy(body6, netip.MustParseAddr("2001:db8::1").AsSlice())
	copy(body6[16:], netip.MustParseAddr("2001:db8::2").AsSlice())
	binary.BigEndian.PutUint16(body6[32:], 1234)
	binary.BigEndian.PutUint16(body6[34:], 80)
	unixBody := make([]byte, 216)
	copy(unixBody, "/tmp/a.sock")
	copy(unixBody[108:], "/tmp/b.sock")
	ssl := "\x07\x00\x00\x00\x00" + string(tlv(0x21, "TLSv1.3")) + string(tlv(0x22, "client.example"))
	return [][]byte{
		[]byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\nGET / HTTP/1.1\r\n"),
		[]byte("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
		[]byte("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
		[]byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000"),
		[]byte("PROXY TCP4 192.0.2.1 198.51.100.7 050000 443\r\n"),
		[]byte("PROXY TCP4 " + strings.Repeat("1", 100) + "\r\n"),
		[]byte("PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		v2(0x21, 0x11, append(inet4Body(), tlv(0x01, "h2")...)),
		v2(0x21, 0x11, append(append(append(inet4Body(), tlv(0x02, "example.com")...), tlv(0x05, "abc")...), tlv(0x20, ssl)...)),
		v2(0x21, 0x21, body6),
		v2(0x21, 0x31, unixBody),
		v2(0x20, 0x00, nil),
		v2(0x20, 0x11, inet4Body()),
		v2(0x21, 0x00, []byte("ignored")),
		withCRC(0x21, 0x11, inet4Body(), false),
		withCRC(0x21, 0x11, inet4Body(), true),
		v2(0x21, 0x11, inet4Body())[:20],
		v2(0x21, 0x11, inet4Body()[:8]),
		v2(0x21, 0x11, append(inet4Body(), 0x01, 0, 9, 'x')),
		v2(0x11, 0x11, inet4Body()),
		v2(0x22, 0x11, inet4Body()),
		v2(0x21, 0x41, inet4Body()),
		append([]byte(sig[:11]+"X"), 0x21, 0x11, 0, 12),
		append([]byte(sig), 0x21, 0x11, 0xFF, 0xFF),
	}
}

func parseAll(t *testing.T, b []byte) (*Header, int, error) {
	t.Helper()
	var p Parser
	return p.Feed(b)
}

func TestV1TCP4GivesAddressesAndLeavesPayload(t *testing.T) {
	in := []byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\nGET /")
	h, n, err := parseAll(t, in)
	if err != nil || h == nil {
		t.Fatalf("Feed: %v %v", h, err)
	}
	if string(in[n:]) != "GET /" {
		t.Fatalf("payload %q", in[n:])
	}
	if h.Version != 1 || h.Family != INET || h.Source != netip.MustParseAddrPort("192.0.2.1:50000") || h.Destination != netip.MustParseAddrPort("198.51.100.7:443") {
		t.Fatalf("header %+v", h)
	}
	src, dst := h.Addrs()
	if src.String() != "192.0.2.1:50000" || dst.String() != "198.51.100.7:443" || src.Network() != "tcp" {
		t.Fatalf("Addrs %v %v", src, dst)
	}
}

func TestV1UnknownKeepsNoAddresses(t *testing.T) {
	for _, in := range []string{"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"} {
		h, n, err := parseAll(t, []byte(in))
		if err != nil || h == nil || n != len(in) || h.HasAddresses() {
			t.Fatalf("%q: %+v %d %v", in, h, n, err)
		}
	}
}

func TestV1Malformed(t *testing.T) {
	for _, in := range []string{
		"PROXY TCP4 192.0.2.1 198.51.100.7 50000\r\n",   // missing port
		"PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n",    // double space
		"PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n",   // v6 in TCP4
		"PROXY TCP6 192.0.2.1 2001:db8::1 1 2\r\n",      // v4 in TCP6
		"PROXY TCP4 192.0.2.1 198.51.100.7 65536 2\r\n", // port range
		"PROXY TCP4 192.0.2.1 198.51.100.7 -1 2\r\n",    // sign
		"PROXY TCP4 192.0.2.1 198.51.100.7 01 2\r\n",    // leading zero
		"PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n",     // no such protocol
		"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n",       // zone
		"PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n",    // trailing space
		"PROXY TCP4 192.0.2.001 198.51.100.7 1 2\r\n",   // leading zero in the address
	} {
		if _, _, err := parseAll(t, []byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err %v, want ErrMalformed", in, err)
		}
	}
}

func TestV1LongestLineIsAcceptedAndOneMoreIsTooLong(t *testing.T) {
	// The spec's worst case: TCP6 with the longest addresses and ports is
	// 104 bytes; UNKNOWN lines may carry anything up to 107 bytes.
	line := "PROXY UNKNOWN " + strings.Repeat("x", MaxV1Length-len("PROXY UNKNOWN ")-2) + "\r\n"
	if len(line) != 107 {
		t.Fatal(len(line))
	}
	if h, _, err := parseAll(t, []byte(line)); err != nil || h == nil {
		t.Fatalf("107-byte line: %v", err)
	}
	long := "PROXY UNKNOWN " + strings.Repeat("x", 200) + "\r\n"
	if _, _, err := parseAll(t, []byte(long)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("long line: %v", err)
	}
	// Without CRLF, the parser waits no further than 107 bytes.
	var p Parser
	if h, _, err := p.Feed([]byte(line[:106])); h != nil || err != nil {
		t.Fatalf("106 bytes: %v %v", h, err)
	}
	if _, _, err := p.Feed([]byte("y")); !errors.Is(err, ErrTooLong) {
		t.Fatalf("107 bytes without CRLF: %v", err)
	}
}

func TestV2ProxyINETWithTLVs(t *testing.T) {
	ssl := "\x07\x00\x00\x00\x00" + string(tlv(0x21, "TLSv1.3")) + string(tlv(0x22, "client.example"))
	body := inet4Body()
	body = append(body, tlv(0x01, "h2")...)
	body = append(body, tlv(0x02, "example.com")...)
	body = append(body, tlv(0x04, "\x00\x00")...)
	body = append(body, tlv(0x05, "id-1")...)
	body = append(body, tlv(0x20, ssl)...)
	in := append(v2(0x21, 0x11, body), "payload"...)
	h, n, err := parseAll(t, in)
	if err != nil || h == nil {
		t.Fatal(err)
	}
	if string(in[n:]) != "payload" {
		t.Fatalf("payload %q", in[n:])
	}
	if h.Source.String() != "192.0.2.1:50000" || h.Destination.String() != "198.51.100.7:443" || h.Transport != Stream {
		t.Fatalf("%+v", h)
	}
	if a, _ := h.ALPN(); string(a) != "h2" {
		t.Errorf("ALPN %q", a)
	}
	if a, _ := h.Authority(); a != "example.com" {
		t.Errorf("authority %q", a)
	}
	if u, _ := h.UniqueID(); string(u) != "id-1" {
		t.Errorf("unique id %q", u)
	}
	s, ok := h.SSL()
	if !ok || s.Client != 7 || s.Verify != 0 {
		t.Fatalf("SSL %+v %v", s, ok)
	}
	if v, _ := s.SubTLV(SubTypeSSLVersion); v != "TLSv1.3" {
		t.Errorf("SSL version %q", v)
	}
	if v, _ := s.SubTLV(SubTypeSSLCN); v != "client.example" {
		t.Errorf("SSL CN %q", v)
	}
}

func TestV2LocalAndUnspecCarryNoAddresses(t *testing.T) {
	for _, in := range [][]byte{v2(0x20, 0x00, nil), v2(0x20, 0x11, inet4Body()), v2(0x21, 0x00, []byte("whatever"))} {
		h, n, err := parseAll(t, in)
		if err != nil || h == nil || n != len(in) || h.HasAddresses() {
			t.Fatalf("%x: %+v %d %v", in, h, n, err)
		}
		if s, d := h.Addrs(); s != nil || d != nil {
			t.Fatalf("Addrs %v %v", s, d)
		}
	}
}

func TestV2CRC32c(t *testing.T) {
	if h, _, err := parseAll(t, withCRC(0x21, 0x11, inet4Body(), false)); err != nil || h == nil {
		t.Fatalf("good checksum: %v", err)
	}
	if _, _, err := parseAll(t, withCRC(0x21, 0x11, inet4Body(), true)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bad checksum: %v", err)
	}
}

func TestV2Errors(t *testing.T) {
	big := append([]byte(sig), 0x21, 0x11, 0xFF, 0xFF)
	cases := []struct {
		in   []byte
		want error
	}{
		{v2(0x11, 0x11, inet4Body()), ErrUnsupported},                        // version 1 in binary
		{v2(0x22, 0x11, inet4Body()), ErrUnsupported},                        // command 2
		{v2(0x21, 0x41, inet4Body()), ErrUnsupported},                        // family 4
		{v2(0x21, 0x13, inet4Body()), ErrUnsupported},                        // transport 3
		{v2(0x21, 0x11, inet4Body()[:11]), ErrMalformed},                     // short address block
		{v2(0x21, 0x11, append(inet4Body(), 0x01, 0, 5, 'h')), ErrMalformed}, // TLV overruns
		{v2(0x21, 0x11, append(inet4Body(), 0x01)), ErrMalformed},            // TLV header cut
		{v2(0x21, 0x11, append(inet4Body(), tlv(0x05, strings.Repeat("u", 129))...)), ErrMalformed},
		{v2(0x21, 0x11, append(inet4Body(), tlv(0x20, "\x01")...)), ErrMalformed}, // SSL TLV too short
		{big, ErrTooLong},
		{append([]byte(sig[:11]+"X"), 0x21, 0x11, 0, 0), ErrNoHeader},
		{[]byte("GET / HTTP/1.1\r\n"), ErrNoHeader},
		{[]byte("PROXYTCP4"), ErrNoHeader},
	}
	for _, c := range cases {
		if _, _, err := parseAll(t, c.in); !errors.Is(err, c.want) {
			t.Errorf("%q: err %v, want %v", c.in, err, c.want)
		}
	}
}

func TestMaxV2LengthIsConfigurable(t *testing.T) {
	in := v2(0x21, 0x11, append(inet4Body(), tlv(0x04, strings.Repeat("\x00", 100))...))
	p := Parser{MaxV2Length: len(in) - 1}
	if _, _, err := p.Feed(in); !errors.Is(err, ErrTooLong) {
		t.Fatalf("over the bound: %v", err)
	}
	p = Parser{MaxV2Length: len(in)}
	if h, _, err := p.Feed(in); h == nil || err != nil {
		t.Fatalf("at the bound: %v", err)
	}
}

func TestNoHeaderReturnsEveryByteForOptionalMode(t *testing.T) {
	var p Parser
	if h, n, err := p.Feed([]byte("\r\n")); h != nil || err != nil || n != 2 {
		t.Fatalf("prefix of the v2 signature: %v %d %v", h, n, err)
	}
	_, n, err := p.Feed([]byte("GET"))
	if !errors.Is(err, ErrNoHeader) || n != 0 || !bytes.Equal(p.Pending(), []byte("\r\n")) {
		t.Fatalf("got %d %v pending %q", n, err, p.Pending())
	}
	if _, _, err := p.Feed([]byte("x")); !errors.Is(err, ErrDone) {
		t.Fatalf("after the result: %v", err)
	}
}

func TestEncodersRoundTrip(t *testing.T) {
	h := &Header{Version: 2, Command: Proxy, Family: INET6, Transport: Stream,
		Source: netip.MustParseAddrPort("[2001:db8::1]:1"), Destination: netip.MustParseAddrPort("[2001:db8::2]:2"),
		TLVs: []TLV{{Type: TypeALPN, Value: []byte("http/1.1")}, {Type: TypeCRC32C, Value: []byte{0, 0, 0, 0}}}}
	b, err := AppendV2([]byte("x"), h)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := parseAll(t, b[1:])
	if err != nil || n != len(b)-1 || got.Source != h.Source || got.Destination != h.Destination {
		t.Fatalf("%+v %v", got, err)
	}
	h1 := &Header{Version: 1, Command: Proxy, Family: INET, Transport: Stream,
		Source: netip.MustParseAddrPort("127.0.0.1:5"), Destination: netip.MustParseAddrPort("127.0.0.1:80")}
	b, err = AppendV1(nil, h1)
	if err != nil || string(b) != "PROXY TCP4 127.0.0.1 127.0.0.1 5 80\r\n" {
		t.Fatalf("%q %v", b, err)
	}
	if _, err := AppendV1(nil, h); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("v1 with TLVs: %v", err)
	}
}

// TestSeedsChunkingInvariant runs the fuzz invariants over the seeds with
// every two-way cut, so plain go test covers them.
func TestSeedsChunkingInvariant(t *testing.T) {
	for _, s := range seeds() {
		whole := feedAll(s, nil)
		for c := 1; c < len(s); c++ {
			r := feedAll(s, []int{c})
			if r.err != whole.err || r.used != whole.used {
				t.Fatalf("%q cut at %d: %+v vs %+v", s, c, r, whole)
			}
		}
	}
}
