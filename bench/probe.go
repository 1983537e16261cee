package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// errProbe reports a server that answered the readiness probe wrongly.
var errProbe = errors.New("wrong answer to probe")

const probeTimeout = 5 * time.Second

// helloBody is what every plaintext server must answer to GET /.
const helloBody = "Hello, World!"

// probe checks, before any load, that the server answers correctly: a
// fast wrong server must not enter the table. With tlsConfig it speaks
// TLS and checks that TLS 1.3 was negotiated.
func probe(kind protocolKind, addr string, tlsConfig *tls.Config) error {
	c, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(probeTimeout))
	if tlsConfig != nil {
		tc := tls.Client(c, tlsConfig)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("%w: TLS handshake: %v", errProbe, err)
		}
		if err := checkTLS13(tc); err != nil {
			return err
		}
		c = tc
	}
	if kind == kindHTTP {
		return probeHTTP(c)
	}
	return probeEcho(c)
}

// probeHTTP sends two pipelined requests and checks both responses, so a
// server that cannot pipeline is caught here rather than by wrk.
func probeHTTP(c net.Conn) error {
	const req = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
	if _, err := io.WriteString(c, req+req); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for i := range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("%w: response %d: %v", errProbe, i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%w: response %d body: %v", errProbe, i+1, err)
		}
		if resp.StatusCode != http.StatusOK || string(body) != helloBody {
			return fmt.Errorf("%w: response %d: %s %q", errProbe, i+1, resp.Status, body)
		}
	}
	return nil
}

// probeEcho sends random bytes and checks they come back unchanged.
func probeEcho(c net.Conn) error {
	msg := make([]byte, 1000)
	_, _ = rand.Read(msg)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("%w: %v", errProbe, err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("%w: echo differs from what was sent", errProbe)
	}
	return nil
}
