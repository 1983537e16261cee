package http

import (
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mustaine/mustaine/deferred"
)

// As net/http's Client documents: Authorization, WWW-Authenticate and
// Cookie are not sent on a redirect to a host that is neither the first
// request's host nor a subdomain of it; other fields are; and a Host field
// set by the caller is kept only for a redirect without a host of its own.
func TestClientRedirectToAnotherHostDropsCredentials(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]nethttp.Header{}
	hosts := map[string]string{}
	final := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Clone()
		hosts[r.URL.Path] = r.Host
		mu.Unlock()
	}))
	t.Cleanup(final.Close)
	port := final.URL[strings.LastIndex(final.URL, ":")+1:]
	first := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/away": // another host name for the same machine
			nethttp.Redirect(w, r, "http://localhost:"+port+"/other", nethttp.StatusFound)
		case "/same":
			nethttp.Redirect(w, r, "http://127.0.0.1:"+port+"/same-host", nethttp.StatusFound)
		case "/relative":
			nethttp.Redirect(w, r, "/landed", nethttp.StatusFound)
		case "/landed":
			mu.Lock()
			seen[r.URL.Path] = r.Header.Clone()
			hosts[r.URL.Path] = r.Host
			mu.Unlock()
		}
	}))
	t.Cleanup(first.Close)
	e := startClient(t, WithFollowRedirects(3))
	do := func(path string, withHost bool) {
		t.Helper()
		_, err := wait(t, e.start(func(c *Client) *deferred.Deferred[*ClientResponse] {
			req := NewRequest("GET", first.URL+path, nil)
			req.AddHeader("Authorization", "Bearer secret")
			req.AddHeader("Cookie", "session=secret")
			req.AddHeader("Www-Authenticate", "Basic")
			req.AddHeader("X-Trace", "kept")
			if withHost {
				req.AddHeader("Host", "virtual.example")
			}
			return c.Do(req)
		}))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	do("/away", true)
	do("/same", false)
	do("/relative", true)
	mu.Lock()
	defer mu.Unlock()
	check := func(path string, credentials bool, host string) {
		t.Helper()
		h := seen[path]
		if h == nil {
			t.Fatalf("%s never reached", path)
		}
		for _, name := range []string{"Authorization", "Cookie", "Www-Authenticate"} {
			if got := h.Get(name) != ""; got != credentials {
				t.Errorf("%s: %s sent = %v, want %v", path, name, got, credentials)
			}
		}
		if h.Get("X-Trace") != "kept" {
			t.Errorf("%s: X-Trace = %q, want kept", path, h.Get("X-Trace"))
		}
		if hosts[path] != host {
			t.Errorf("%s: Host %q, want %q", path, hosts[path], host)
		}
	}
	check("/other", false, "localhost:"+port)
	check("/same-host", true, "127.0.0.1:"+port)
	check("/landed", true, "virtual.example")
}
