package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mustaine/mustaine/reactor/reactortest"
)

// patternEcho answers with the pattern that matched and the values of the
// wildcards asked for with ?w=name1,name2.
func patternEcho(w *ResponseWriter, r *Request) {
	var b strings.Builder
	b.WriteString(r.Pattern())
	if names, ok := r.QueryBytes("w"); ok {
		for _, n := range strings.Split(string(names), ",") {
			b.WriteString(" " + n + "=" + r.PathValue(n))
		}
	}
	w.WriteString(b.String())
}

func newTestRouter(t *testing.T, patterns ...string) *Router {
	t.Helper()
	rt := NewRouter()
	for _, p := range patterns {
		if err := rt.HandleFunc(p, patternEcho); err != nil {
			t.Fatalf("Handle(%q): %v", p, err)
		}
	}
	return rt
}

// serve sends one request through a server connection and returns the
// parsed response.
func serve(t *testing.T, h Handler, method, target, host string) *nethttp.Response {
	t.Helper()
	hs := newHarness(t, h)
	hs.send(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	return hs.responses(method)[0]
}

// The cases come from the net/http.ServeMux documentation (Go 1.22
// "Patterns" and "Precedence" sections) and RFC 9110 §15.5.6 (405 with
// Allow).
func TestRouterPrecedence(t *testing.T) {
	patterns := []string{
		"/",
		"/index.html",
		"GET /static/",
		"example.com/",
		"example.com/static/",
		"GET /b/{bucket}/o/{objectname...}",
		"/images/thumbnails/",
		"/images/",
		"GET /posts/{id}",
		"GET /posts/latest",
		"POST /posts/{id}",
		"/exact/{$}",
		"DELETE /items/{id}",
		"PUT /items/{id}",
		"HEAD /onlyhead",
	}
	rt := newTestRouter(t, patterns...)
	cases := []struct {
		method, target, host string
		status               int
		want                 string // body: pattern and values
		allow                string
	}{
		{"GET", "/", "a.test", 200, "/", ""},
		{"GET", "/anything/else", "a.test", 200, "/", ""},
		{"GET", "/index.html", "a.test", 200, "/index.html", ""},
		{"POST", "/index.html", "a.test", 200, "/index.html", ""}, // no method: every method
		{"GET", "/static/app.js", "a.test", 200, "GET /static/", ""},
		{"HEAD", "/static/app.js", "a.test", 200, "", ""},  // GET also matches HEAD (no body)
		{"POST", "/static/app.js", "a.test", 200, "/", ""}, // falls to "/" which matches every method
		{"GET", "/", "example.com", 200, "example.com/", ""},
		{"GET", "/static/x", "example.com", 200, "example.com/static/", ""}, // host wins
		{"GET", "/static/x", "example.com:8080", 200, "example.com/static/", ""},
		{"GET", "/b/mybucket/o/a/b/c?w=bucket,objectname", "a.test", 200,
			"GET /b/{bucket}/o/{objectname...} bucket=mybucket objectname=a/b/c", ""},
		{"GET", "/images/thumbnails/x.png", "a.test", 200, "/images/thumbnails/", ""}, // longer literal prefix
		{"GET", "/images/x.png", "a.test", 200, "/images/", ""},
		{"GET", "/posts/latest", "a.test", 200, "GET /posts/latest", ""}, // literal beats wildcard
		{"GET", "/posts/7?w=id", "a.test", 200, "GET /posts/{id} id=7", ""},
		{"POST", "/posts/7?w=id", "a.test", 200, "POST /posts/{id} id=7", ""},
		{"GET", "/posts/a%2Fb?w=id", "a.test", 200, "GET /posts/{id} id=a/b", ""}, // escaped slash stays in the segment
		{"GET", "/exact/", "a.test", 200, "/exact/{$}", ""},
		{"GET", "/exact/more", "a.test", 200, "/", ""}, // {$} matches only the end
		{"GET", "/items/1", "a.test", 200, "/", ""},    // "/" matches every method: no 405
		{"DELETE", "/items/1?w=id", "a.test", 200, "DELETE /items/{id} id=1", ""},
		{"GET", "/onlyhead", "a.test", 200, "/", ""},
		{"GET", "/images", "a.test", 307, "", ""},          // "/images/" registered: redirect
		{"GET", "/a/../index.html", "a.test", 307, "", ""}, // not canonical: redirect
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.host+c.target, func(t *testing.T) {
			resp := serve(t, rt, c.method, c.target, c.host)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, c.status, body(resp))
			}
			if c.status == 200 && c.method != "HEAD" && body(resp) != c.want {
				t.Errorf("body %q, want %q", body(resp), c.want)
			}
			if got := resp.Header.Get("Allow"); got != c.allow {
				t.Errorf("Allow %q, want %q", got, c.allow)
			}
		})
	}
}

// RFC 9110 §15.5.6: 405 carries an Allow field listing the methods the
// target supports; a GET route also allows HEAD.
func TestRouterMethodNotAllowed(t *testing.T) {
	rt := newTestRouter(t, "DELETE /items/{id}", "PUT /items/{id}", "GET /items/{id}/meta", "GET /g")
	for _, c := range []struct{ method, target, allow string }{
		{"GET", "/items/1", "DELETE, PUT"},
		{"POST", "/g", "GET, HEAD"},
		{"DELETE", "/items/1/meta", "GET, HEAD"},
	} {
		resp := serve(t, rt, c.method, c.target, "a.test")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 %q", c.method, c.target, resp.StatusCode, resp.Header.Get("Allow"), c.allow)
		}
	}
	if resp := serve(t, rt, "GET", "/other", "a.test"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d, want 404", resp.StatusCode)
	}
}

func TestRouterRedirectLocations(t *testing.T) {
	rt := newTestRouter(t, "/tree/", "/x")
	for _, c := range []struct{ target, loc string }{
		{"/tree", "/tree/"},
		{"/tree?q=1", "/tree/?q=1"},
		{"/a/../x", "/x"},
		{"//tree", "/tree/"},
		{"/x/.", "/x"},
	} {
		resp := serve(t, rt, "GET", c.target, "a.test")
		if resp.StatusCode != 307 || resp.Header.Get("Location") != c.loc {
			t.Errorf("%s: %d Location %q, want 307 %q", c.target, resp.StatusCode, resp.Header.Get("Location"), c.loc)
		}
	}
}

// conflictPairs are pairs of patterns from the ServeMux documentation and
// from RFC-style reasoning about overlap: registering the second after the
// first must fail exactly when conflict is true.
var conflictPairs = []struct {
	a, b     string
	conflict bool
}{
	{"/a", "/a", true},
	{"GET /a", "GET /a", true},
	{"/posts/{id}", "/posts/{name}", true},       // equivalent
	{"/a/{x}", "/{y}/b", true},                   // overlap, neither more specific
	{"GET /{x}", "/a", true},                     // fewer methods, more general path
	{"/a/{x...}", "/{y}/b", true},                //
	{"/a/", "/{x}/b", true},                      //
	{"GET /a", "/a", false},                      // method: more specific
	{"GET /a", "HEAD /a", false},                 // HEAD is more specific than GET
	{"GET /a", "POST /a", false},                 // disjoint methods
	{"/posts/{id}", "/posts/latest", false},      // literal more specific
	{"/a/", "/a/b", false},                       //
	{"/a/{$}", "/a/{x}", false},                  // {$} and a wildcard are disjoint
	{"/a/{$}", "/a/", false},                     //
	{"example.com/a", "/a", false},               // different hosts never conflict
	{"/{x}", "/{x}/", false},                     // different lengths
	{"/a/{x}/c", "/a/b/{y}", true},               //
	{"/{x}/{y}", "/{x}/{y}/{z}", false},          //
	{"/b/{bucket}/o/{o...}", "/b/{b}/o/", true},  // named and anonymous multi are equivalent
	{"GET /static/{p...}", "GET /static/", true}, //
}

func TestRouterConflicts(t *testing.T) {
	for _, c := range conflictPairs {
		rt := NewRouter()
		if err := rt.HandleFunc(c.a, patternEcho); err != nil {
			t.Fatalf("%q: %v", c.a, err)
		}
		err := rt.HandleFunc(c.b, patternEcho)
		if got := err != nil; got != c.conflict {
			t.Errorf("%q then %q: error %v, want conflict %v", c.a, c.b, err, c.conflict)
		}
		if err != nil {
			if !errors.Is(err, ErrPattern) || !strings.Contains(err.Error(), c.a) || !strings.Contains(err.Error(), c.b) {
				t.Errorf("error %q should match ErrPattern and name both patterns", err)
			}
		}
	}
}

func TestRouterRefusesMalformedPatterns(t *testing.T) {
	for _, p := range []string{
		"", "a", "GET", "/{x", "/a{x}", "/{$}/a", "/{x...}/a", "/{}", "/{x}/{x}",
		"/{1x}", "example.com{x}/", "GET /a/../b", "BAD\x01 /",
	} {
		if err := NewRouter().HandleFunc(p, patternEcho); !errors.Is(err, ErrPattern) {
			t.Errorf("pattern %q: err %v, want ErrPattern", p, err)
		}
	}
	if err := NewRouter().Handle("/", nil); !errors.Is(err, ErrNilHandler) {
		t.Errorf("nil handler: %v", err)
	}
}

// muxOutcome is what a multiplexer decided for one request.
type muxOutcome struct {
	status   int
	pattern  string
	allow    string
	location string
}

// TestRouterAgreesWithServeMux registers the same patterns in a
// net/http.ServeMux and in a Router and compares, for many requests, which
// pattern matched, or 404, 405 with its Allow, or a redirect with its
// Location; and for pairs of patterns, that ServeMux panics exactly when
// Handle refuses.
func TestRouterAgreesWithServeMux(t *testing.T) {
	sets := [][]string{
		{"/", "/index.html", "GET /static/", "example.com/", "example.com/static/",
			"GET /b/{bucket}/o/{objectname...}", "/images/", "/images/thumbnails/"},
		{"GET /posts/{id}", "GET /posts/latest", "POST /posts/{id}", "DELETE /posts/{id}",
			"/exact/{$}", "GET /users/{id}/posts/{pid}", "GET /files/{path...}", "HEAD /h"},
		{"/tree/", "GET /a/{x}/c", "PUT /a/b/c", "GET example.com/a/{x}/c", "GET /{$}", "POST /{$}"},
		{"GET /x/", "POST /x/{$}", "/y/{a}/{b}", "GET /z", "OPTIONS /z", "GET api.test/z"},
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"}
	hosts := []string{"a.test", "example.com", "example.com:8080", "api.test"}
	targets := []string{
		"/", "/index.html", "/static", "/static/", "/static/a/b.js", "/b/bk/o/a/b", "/b/bk/o",
		"/b/bk/o/", "/images", "/images/", "/images/thumbnails", "/images/thumbnails/x",
		"/posts/1", "/posts/latest", "/posts", "/posts/", "/posts/1/2", "/exact", "/exact/",
		"/exact/x", "/users/1/posts/2", "/users/1/posts", "/files", "/files/", "/files/a/b",
		"/h", "/tree", "/tree/", "/tree/x", "/a/b/c", "/a/z/c", "/a/b", "/x", "/x/", "/x/y",
		"/y/1/2", "/y/1", "/y/1/2/3", "/z", "/z/", "/nothing", "/a/../x/", "//a", "/./b",
		"/posts/a%2Fb", "/%7Eu/", "/static/%2e%2e/x",
	}
	for si, set := range sets {
		mux := nethttp.NewServeMux()
		rt := NewRouter()
		for _, p := range set {
			mux.HandleFunc(p, func(w nethttp.ResponseWriter, r *nethttp.Request) { fmt.Fprint(w, r.Pattern) })
			if err := rt.HandleFunc(p, patternEcho); err != nil {
				t.Fatalf("set %d: %q: %v", si, p, err)
			}
		}
		n := 0
		for _, m := range methods {
			for _, host := range hosts {
				for _, target := range targets {
					req := httptest.NewRequest(m, "http://"+host+target, nil)
					rec := httptest.NewRecorder()
					mux.ServeHTTP(rec, req)
					want := muxOutcome{rec.Code, "", rec.Header().Get("Allow"), rec.Header().Get("Location")}
					if rec.Code == 200 {
						want.pattern = rec.Body.String()
					}
					resp := serve(t, rt, m, target, host)
					got := muxOutcome{resp.StatusCode, "", resp.Header.Get("Allow"), resp.Header.Get("Location")}
					if got.status == 200 {
						got.pattern = body(resp)
					}
					if m == "HEAD" {
						want.pattern, got.pattern = "", ""
					}
					if got != want {
						t.Errorf("set %d: %s %s%s: router %+v, ServeMux %+v", si, m, host, target, got, want)
					}
					n++
				}
			}
		}
		t.Logf("set %d: %d requests compared", si, n)
	}

	for _, c := range conflictPairs {
		mux := nethttp.NewServeMux()
		mux.HandleFunc(c.a, func(nethttp.ResponseWriter, *nethttp.Request) {})
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			mux.HandleFunc(c.b, func(nethttp.ResponseWriter, *nethttp.Request) {})
			return false
		}()
		rt := NewRouter()
		_ = rt.HandleFunc(c.a, patternEcho)
		refused := rt.HandleFunc(c.b, patternEcho) != nil
		if panicked != refused {
			t.Errorf("%q then %q: ServeMux panicked %v, Router refused %v", c.a, c.b, panicked, refused)
		}
	}
}

func TestRouterMiddlewareOrder(t *testing.T) {
	var trace []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(w *ResponseWriter, r *Request) {
				trace = append(trace, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	rt := NewRouter()
	_ = rt.HandleFunc("GET /a", patternEcho)
	rt.Use(mw("outer"), mw("inner")) // also wraps the route registered before
	_ = rt.Handle("GET /b", Chain(HandlerFunc(patternEcho), mw("route")))
	serve(t, rt, "GET", "/a", "h")
	serve(t, rt, "GET", "/b", "h")
	serve(t, rt, "GET", "/none", "h") // the 404 is wrapped too
	want := "outer inner outer inner route outer inner"
	if got := strings.Join(trace, " "); got != want {
		t.Fatalf("trace %q, want %q", got, want)
	}
}

func TestRouterNestedRouters(t *testing.T) {
	inner := newTestRouter(t, "GET /api/v1/{x}")
	outer := NewRouter()
	_ = outer.Handle("/api/", inner)
	resp := serve(t, outer, "GET", "/api/v1/7?w=x", "h")
	if body(resp) != "GET /api/v1/{x} x=7" {
		t.Fatalf("body %q", body(resp))
	}
}

// TestRoutedRequestsDoNotAllocate serves requests through the whole server
// path (parse, route, handler, response) for a static route and for a route
// with path values read by the handler.
func TestRoutedRequestsDoNotAllocate(t *testing.T) {
	rt := NewRouter()
	_ = rt.Handle("GET /plaintext", hello)
	_ = rt.HandleFunc("GET /users/{id}/posts/{post}", func(w *ResponseWriter, r *Request) {
		id, _ := r.PathValueBytes("id")
		post, _ := r.PathValueBytes("post")
		w.SetHeader("Content-Type", "text/plain")
		w.Write(id)
		w.Write(post)
	})
	_ = rt.Handle("GET /static/", hello)
	srv, _ := NewServer(rt, WithServerName("Mustaine"))
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	for _, target := range []string{"/plaintext", "/users/42/posts/7", "/static/js/app.js"} {
		data := []byte("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
		p.DataReceived(data)
		if !strings.HasPrefix(tr.String(), "HTTP/1.1 200 OK") {
			t.Fatalf("%s: %q", target, tr.String())
		}
		tr.Clear()
		if n := testing.AllocsPerRun(1000, func() {
			p.DataReceived(data)
			tr.Clear()
		}); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", target, n)
		}
	}
}

func BenchmarkRouterStatic(b *testing.B)     { benchmarkRouted(b, "/plaintext") }
func BenchmarkRouterPathValue(b *testing.B)  { benchmarkRouted(b, "/users/42") }
func BenchmarkRouterManyRoutes(b *testing.B) { benchmarkRouted(b, "/r/37/x") }

func benchmarkRouted(b *testing.B, target string) {
	rt := NewRouter()
	_ = rt.Handle("GET /plaintext", hello)
	_ = rt.HandleFunc("GET /users/{id}", func(w *ResponseWriter, r *Request) {
		id, _ := r.PathValueBytes("id")
		w.Write(id)
	})
	for i := 0; i < 50; i++ {
		_ = rt.Handle(fmt.Sprintf("GET /r/%d/{x}", i), hello)
	}
	srv, _ := NewServer(rt, WithServerName("Mustaine"))
	p := srv.BuildProtocol(reactortest.ClientAddr)
	tr := reactortest.Connect(p)
	data := []byte("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
	p.DataReceived(data)
	tr.Clear()
	b.ReportAllocs()
	for b.Loop() {
		p.DataReceived(data)
		tr.Clear()
	}
}

// TestRouterConflictsAgreeWithServeMuxOnAllPairs registers every ordered
// pair of a pool of patterns in a fresh ServeMux (recovering its panic)
// and a fresh Router: the Router refuses exactly the pairs ServeMux
// panics on.
func TestRouterConflictsAgreeWithServeMuxOnAllPairs(t *testing.T) {
	pool := []string{
		"/", "/a", "/a/", "/a/b", "/a/{x}", "/a/{x...}", "/a/{$}", "/{x}", "/{x}/b", "/{x}/{y}",
		"/{x...}", "/{$}", "GET /", "GET /a", "GET /a/{x}", "GET /{x}", "HEAD /a", "POST /a/{x}",
		"GET /a/{x...}", "example.com/", "example.com/a", "GET example.com/a/{x}", "/a/b/{$}",
		"/a/{x}/c", "/{x}/b/c", "PUT /{x}/{y}", "GET /a/b/",
	}
	n := 0
	for _, a := range pool {
		for _, b := range pool {
			mux := nethttp.NewServeMux()
			mux.HandleFunc(a, func(nethttp.ResponseWriter, *nethttp.Request) {})
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				mux.HandleFunc(b, func(nethttp.ResponseWriter, *nethttp.Request) {})
				return false
			}()
			rt := NewRouter()
			if err := rt.HandleFunc(a, patternEcho); err != nil {
				t.Fatalf("%q: %v", a, err)
			}
			err := rt.HandleFunc(b, patternEcho)
			if panicked != (err != nil) {
				t.Errorf("%q then %q: ServeMux panicked %v, Router error %v", a, b, panicked, err)
			}
			n++
		}
	}
	t.Logf("%d pairs compared", n)
}
