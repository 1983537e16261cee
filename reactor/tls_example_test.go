package reactor_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/mustaine/mustaine/protocol"
	"github.com/mustaine/mustaine/reactor"
)

// Greeter tells a TLS client what was negotiated, then echoes.
type Greeter struct{ protocol.Base }

// ConnectionMade runs after the handshake: the TLS state is ready.
func (g *Greeter) ConnectionMade(t protocol.Transport) {
	g.Base.ConnectionMade(t)
	st, _ := t.(protocol.TLSTransport).ConnectionState()
	fmt.Fprintf(t, "hello %s over %s\n", st.ServerName, tls.VersionName(st.Version))
}

// DataReceived echoes the plaintext.
func (g *Greeter) DataReceived(data []byte) { g.Transport.Write(data) }

// A TLS server: ListenTLS takes a tls.Config and an ordinary Factory; its
// Protocols see plaintext and the usual Transport.
func ExampleReactor_ListenTLS() {
	cert, roots := selfSigned("localhost")
	r, err := reactor.New(reactor.WithLoops(1))
	if err != nil {
		panic(err)
	}
	ln, err := r.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}},
		protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &Greeter{} }))
	if err != nil {
		panic(err)
	}

	go func() {
		defer r.Stop()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS13})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		greeting, _ := br.ReadString('\n')
		fmt.Print(greeting)
		fmt.Fprintf(c, "encrypted echo\n")
		line, _ := br.ReadString('\n')
		fmt.Print(line)
	}()

	if err := r.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// hello localhost over TLS 1.3
	// encrypted echo
}

// selfSigned makes a throwaway certificate for host and a pool trusting it.
func selfSigned(host string) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
