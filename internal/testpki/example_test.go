package testpki_test

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/mustaine/mustaine/internal/testpki"
)

// A server certificate for 127.0.0.1 from a CA made for the test, and a
// client that trusts that CA only.
func Example() {
	ca, err := testpki.NewCA("example CA")
	if err != nil {
		panic(err)
	}
	cert, err := ca.Valid("127.0.0.1")
	if err != nil {
		panic(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println("verified:", c.ConnectionState().PeerCertificates[0].IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)))
	// Output: verified: true
}
