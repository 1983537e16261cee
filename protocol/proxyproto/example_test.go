package proxyproto_test

import (
	"fmt"
	"net/netip"

	"github.com/mustaine/mustaine/protocol/proxyproto"
)

// A v2 header arrives in two pieces, followed by the client's first bytes.
func Example() {
	h := &proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Family: proxyproto.INET, Transport: proxyproto.Stream,
		Source:      netip.MustParseAddrPort("192.0.2.1:50000"),
		Destination: netip.MustParseAddrPort("198.51.100.7:443"),
		TLVs:        []proxyproto.TLV{{Type: proxyproto.TypeAuthority, Value: []byte("example.com")}}}
	stream, _ := proxyproto.AppendV2(nil, h)
	stream = append(stream, "GET / HTTP/1.1\r\n"...)

	var p proxyproto.Parser
	got, n, err := p.Feed(stream[:10])
	fmt.Println(got == nil, n, err) // needs more
	got, n, err = p.Feed(stream[10:])
	if err != nil {
		panic(err)
	}
	src, dst := got.Addrs()
	host, _ := got.Authority()
	fmt.Println(src, dst, host)
	fmt.Printf("%q\n", stream[10+n:])
	// Output:
	// true 10 <nil>
	// 192.0.2.1:50000 198.51.100.7:443 example.com
	// "GET / HTTP/1.1\r\n"
}
