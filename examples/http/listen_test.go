package main

import (
	"io"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// -listen takes an endpoint string: the server listens on it and answers.
func TestListenOnAnEndpoint(t *testing.T) {
	r, ln, err := newServer("tcp:0:interface=127.0.0.1:backlog=128", 1, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	<-running
	defer func() {
		r.Stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after Stop")
		}
	}()
	c := &nethttp.Client{Timeout: 30 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / on the endpoint: %s", resp.Status)
	}
}
