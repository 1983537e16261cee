package http

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"unicode"
)

// ErrPattern is wrapped by the errors Router.Handle returns for a pattern
// that cannot be parsed or conflicts with one registered before.
var ErrPattern = errors.New("mustaine/http: bad route pattern")

// Middleware wraps a Handler with behaviour of its own (logging,
// authentication, recovery...): the net/http idiom func(Handler) Handler.
type Middleware func(Handler) Handler

// Chain wraps h in mw, the first of mw outermost: Chain(h, a, b) serves a
// request with a(b(h)).
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Router is a request multiplexer with the pattern syntax and precedence
// of Go 1.22's net/http.ServeMux. A pattern is
//
//	[METHOD ][HOST]/[PATH]
//
// where PATH's segments are literals (matched after percent-decoding),
// wildcards "{name}" matching one whole segment, a final "{name...}"
// matching the rest of the path, or a final "{$}" matching only the end of
// a path that ends in a slash. A pattern ending in a slash, such as
// "/static/", matches every path under it. A pattern with a method
// matches only that method, except that GET also matches HEAD; one
// without a host matches every host (the request's Host, its port
// removed).
//
// When several patterns match a request, the most specific wins: the one
// that matches a strict subset of the requests the others match. A
// pattern with a host beats one without. Two patterns that can match the
// same request while neither is more specific conflict, and Handle refuses
// the second with an error that explains why (ServeMux panics instead).
//
// As ServeMux does, the Router answers a request whose path is not
// canonical ("/a/../b", "//a") with a redirect to the cleaned path, a
// request for "/tree" with a redirect to "/tree/" when only "/tree/" is
// registered, a path that matches a pattern for other methods only with
// 405 Method Not Allowed and an Allow field, and anything else with 404
// (or the NotFound handler). Redirects use ServeMux's status code,
// 307 Temporary Redirect (Go 1.26).
//
// Routing a request allocates nothing, path values included (PathValueBytes
// reads them without copying), unless a path segment holds a
// percent-escape, which is decoded into a new string.
//
// Register every route and middleware before the server starts: a Router
// is not safe for registration concurrently with serving.
type Router struct {
	root     node // children by host; wild: patterns without a host
	routes   []*route
	mw       []Middleware
	notFound Handler

	// The Router's own answers, wrapped in its middleware.
	h404, h405, hRedirect Handler

	// gen counts the routes registered: a loop's remembered match (see
	// routeMemo) is only used while it is unchanged.
	gen uint64
}

// redirectStatus is the status of the Router's redirects, as ServeMux.
const redirectStatus = 307

// streamingHandler is a handler that wants the request body as it
// arrives (see StreamingBody).
type streamingHandler interface {
	Handler
	streamsBody()
}

// route is one registered pattern.
type route struct {
	pat     *pattern
	handler Handler // as registered
	wrapped Handler // in the Router's middleware
	stream  bool    // the handler streams the request body (StreamingBody)
}

// node is a node of the routing tree: the first level is keyed by host,
// the second by method, the others by path segment. The key "" is wild,
// "/" is the end of a path ending in a slash ({$}).
type node struct {
	route    *route
	children map[string]*node
	wild     *node
	multi    *node
}

// NewRouter returns an empty Router.
func NewRouter() *Router {
	rt := &Router{}
	rt.rewrap()
	return rt
}

// Handle registers h for pattern. It returns an error wrapping ErrPattern
// when the pattern is malformed or conflicts with one registered before,
// and ErrNilHandler for a nil h.
func (rt *Router) Handle(pattern string, h Handler) error {
	if h == nil {
		return ErrNilHandler
	}
	if f, ok := h.(HandlerFunc); ok && f == nil {
		return ErrNilHandler
	}
	p, err := parsePattern(pattern)
	if err != nil {
		return fmt.Errorf("%w: parsing %q: %v", ErrPattern, pattern, err)
	}
	for _, r := range rt.routes {
		if p.conflictsWith(r.pat) {
			return fmt.Errorf("%w: pattern %q conflicts with pattern %q: %s",
				ErrPattern, pattern, r.pat.str, describeConflict(p, r.pat))
		}
	}
	_, stream := h.(streamingHandler)
	r := &route{pat: p, handler: h, stream: stream}
	r.wrapped = Chain(h, rt.mw...)
	rt.routes = append(rt.routes, r)
	rt.gen++
	n := rt.root.child(p.host).child(p.method)
	n.addSegments(p.segments, r)
	return nil
}

// HandleFunc registers f for pattern, as Handle does.
func (rt *Router) HandleFunc(pattern string, f func(*ResponseWriter, *Request)) error {
	if f == nil {
		return ErrNilHandler
	}
	return rt.Handle(pattern, HandlerFunc(f))
}

// Use adds middleware that wraps every route, those registered before and
// after it, and the Router's own 404, 405 and redirect answers. The first
// middleware added is the outermost.
func (rt *Router) Use(mw ...Middleware) {
	rt.mw = append(rt.mw, mw...)
	rt.rewrap()
}

// NotFound sets the handler for requests no pattern matches (404 by
// default). It is wrapped in the middleware too.
func (rt *Router) NotFound(h Handler) {
	rt.notFound = h
	rt.rewrap()
}

func (rt *Router) rewrap() {
	nf := rt.notFound
	if nf == nil {
		nf = HandlerFunc(serveNotFound)
	}
	rt.h404 = Chain(nf, rt.mw...)
	rt.h405 = Chain(HandlerFunc(rt.serveMethodNotAllowed), rt.mw...)
	rt.hRedirect = Chain(HandlerFunc(rt.serveRedirect), rt.mw...)
	for _, r := range rt.routes {
		r.wrapped = Chain(r.handler, rt.mw...)
	}
}

// Outcomes of routing a request.
const (
	routeFound = iota
	routeNotFound
	routeMethodNotAllowed
	routeRedirect
)

// ServeHTTP routes r to the handler of the most specific matching pattern.
func (rt *Router) ServeHTTP(w *ResponseWriter, r *Request) {
	if r.router != rt {
		rt.route(r)
	}
	switch r.routeKind {
	case routeFound:
		r.matched.wrapped.ServeHTTP(w, r)
	case routeMethodNotAllowed:
		rt.h405.ServeHTTP(w, r)
	case routeRedirect:
		rt.hRedirect.ServeHTTP(w, r)
	default:
		rt.h404.ServeHTTP(w, r)
	}
}

// wantsBodyStream routes r as soon as its head is parsed and reports
// whether the matched handler streams the request body.
func (rt *Router) wantsBodyStream(r *Request) bool {
	rt.route(r)
	return r.routeKind == routeFound && r.matched.stream
}

// route finds r's handler and path values, as ServeMux.Handler does, and
// records them in r.
func (rt *Router) route(r *Request) {
	r.router = rt
	r.matched = nil
	r.npv = 0
	r.pvDecoded = r.pvDecoded[:0]
	var memo *routeMemo
	if r.c != nil {
		memo = &r.c.ls.memo
		if memo.hit(rt, r) {
			r.matched, r.routeKind = memo.route, routeFound
			return
		}
	}
	host := stripHostPort(r.HostBytes())
	p := r.PathBytes()
	clean := true
	if r.method != "CONNECT" && !isCleanPath(p) {
		clean = false
		p = []byte(cleanPath(string(p)))
	}
	n := rt.root.match(host, r.method, p, r)
	if (n == nil || !exactMatch(n.route.pat, p)) && len(p) > 0 && p[len(p)-1] != '/' {
		// Would "path/" match exactly? Then redirect to it.
		var buf [128]byte
		q := append(append(buf[:0], p...), '/')
		var scratch Request
		if n2 := rt.root.match(host, r.method, q, &scratch); n2 != nil && exactMatch(n2.route.pat, q) {
			r.setRedirect(string(q))
			return
		}
	}
	if !clean {
		r.setRedirect(string(p))
		return
	}
	if n != nil {
		r.matched, r.routeKind = n.route, routeFound
		if memo != nil && r.npv == 0 && exactMatch(n.route.pat, p) {
			memo.keep(rt, r, n.route)
		}
		return
	}
	r.npv = 0
	if rt.matchingMethods(host, p, nil) {
		r.routeKind = routeMethodNotAllowed
		return
	}
	r.routeKind = routeNotFound
}

// routeMemo is a loop's last match of a route without path values: the
// next request with the same method, Host and path (every request of a
// pipelined batch, and most of a benchmark's or a health check's) gets
// the same route from a comparison instead of a walk of the tree. It is
// in the loop's state, so it needs no lock; it holds only what a match
// depends on, copied into buffers it owns.
type routeMemo struct {
	rt     *Router
	gen    uint64
	route  *route
	method string
	host   []byte
	path   []byte
}

// routeMemoMax is the longest Host or path remembered: the buffers are
// made once, at this size, so remembering never allocates per request.
const routeMemoMax = 128

// hit reports whether r routes to m.route, because it has the method, Host
// and path m remembered from rt at its current generation. The raw Host
// and path are compared: a request equal in both routes the same way.
func (m *routeMemo) hit(rt *Router, r *Request) bool {
	return m.route != nil && m.rt == rt && m.gen == rt.gen && m.method == r.method &&
		bytes.Equal(m.path, r.PathBytes()) && bytes.Equal(m.host, r.HostBytes())
}

// keep remembers that r routed to rt's route ro, when its Host and path
// fit the buffers.
func (m *routeMemo) keep(rt *Router, r *Request, ro *route) {
	host, path := r.HostBytes(), r.PathBytes()
	if len(host) > routeMemoMax || len(path) > routeMemoMax {
		m.route = nil
		return
	}
	if m.host == nil {
		m.host = make([]byte, 0, routeMemoMax)
		m.path = make([]byte, 0, routeMemoMax)
	}
	m.rt, m.gen, m.route, m.method = rt, rt.gen, ro, r.method
	m.host = append(m.host[:0], host...)
	m.path = append(m.path[:0], path...)
}

func (r *Request) setRedirect(loc string) {
	r.matched, r.npv = nil, 0
	r.routeKind = routeRedirect
	r.redirect = loc
}

// exactMatch is ServeMux's: a match is inexact when a final multi
// wildcard matched a non-empty rest of the path.
func exactMatch(p *pattern, path []byte) bool {
	if !p.lastSegment().multi {
		return true
	}
	if len(path) > 0 && path[len(path)-1] != '/' {
		return false
	}
	slashes := 0
	for _, c := range path {
		if c == '/' {
			slashes++
		}
	}
	return len(p.segments) == slashes
}

// matchingMethods reports whether some pattern for another method matches
// host and path (or path + "/"), adding the methods to set when it is not
// nil.
func (rt *Router) matchingMethods(host, p []byte, set map[string]bool) bool {
	found := false
	var scratch Request
	try := func(hn *node, p []byte) {
		if hn == nil {
			return
		}
		for m, mn := range hn.children {
			scratch.npv = 0
			if mn.matchPath(p, 0, &scratch) != nil {
				found = true
				if set != nil {
					set[m] = true
				}
			}
		}
	}
	paths := [][]byte{p}
	if len(p) == 0 || p[len(p)-1] != '/' {
		paths = append(paths, append(p[:len(p):len(p)], '/'))
	}
	for _, q := range paths {
		if len(host) > 0 {
			try(rt.root.children[string(host)], q)
		}
		try(rt.root.wild, q)
	}
	if set != nil && set["GET"] {
		set["HEAD"] = true
	}
	return found
}

func serveNotFound(w *ResponseWriter, r *Request) {
	w.SetStatus(404)
	w.SetHeader("Content-Type", "text/plain; charset=utf-8")
	w.SetHeader("X-Content-Type-Options", "nosniff")
	w.WriteString("404 page not found\n")
}

func (rt *Router) serveMethodNotAllowed(w *ResponseWriter, r *Request) {
	set := map[string]bool{}
	rt.matchingMethods(stripHostPort(r.HostBytes()), r.PathBytes(), set)
	methods := make([]string, 0, len(set))
	for m := range set {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	w.SetStatus(405)
	w.SetHeader("Allow", strings.Join(methods, ", "))
	w.SetHeader("Content-Type", "text/plain; charset=utf-8")
	w.SetHeader("X-Content-Type-Options", "nosniff")
	w.WriteString("Method Not Allowed\n")
}

func (rt *Router) serveRedirect(w *ResponseWriter, r *Request) {
	loc := r.redirect
	if q := r.RawQuery(); q != "" {
		loc += "?" + q
	}
	w.SetStatus(redirectStatus)
	w.SetHeader("Location", loc)
	if r.method == "GET" || r.method == "HEAD" {
		w.SetHeader("Content-Type", "text/html; charset=utf-8")
		w.WriteString("<a href=\"" + htmlEscaper.Replace(loc) + "\">" + StatusText(redirectStatus) + "</a>.\n\n")
	}
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

// stripHostPort removes a ":port" from host, as net.SplitHostPort would
// (a bracketed IPv6 address loses its brackets), leaving host unchanged
// when it does not split.
func stripHostPort(h []byte) []byte {
	colon := -1
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			colon = i
			break
		}
	}
	if colon < 0 {
		return h
	}
	host := h[:colon]
	if len(host) > 0 && host[0] == '[' {
		if host[len(host)-1] != ']' {
			return h
		}
		host = host[1 : len(host)-1]
		for _, c := range host {
			if c == '[' || c == ']' {
				return h
			}
		}
		return host
	}
	for _, c := range host {
		if c == ':' || c == '[' || c == ']' {
			return h
		}
	}
	for _, c := range h[colon+1:] {
		if c == '[' || c == ']' {
			return h
		}
	}
	return host
}

// isCleanPath reports whether cleanPath would leave p unchanged, without
// allocating.
func isCleanPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case len(rest) > 0 && rest[0] == '/':
			return false
		case len(rest) >= 1 && rest[0] == '.' && (len(rest) == 1 || rest[1] == '/'):
			return false
		case len(rest) >= 2 && rest[0] == '.' && rest[1] == '.' && (len(rest) == 2 || rest[2] == '/'):
			return false
		}
	}
	return true
}

// cleanPath is ServeMux's canonical form of a path.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func (n *node) child(key string) *node {
	if key == "" {
		if n.wild == nil {
			n.wild = &node{}
		}
		return n.wild
	}
	if c := n.children[key]; c != nil {
		return c
	}
	if n.children == nil {
		n.children = make(map[string]*node)
	}
	c := &node{}
	n.children[key] = c
	return c
}

func (n *node) addSegments(segs []segment, r *route) {
	if len(segs) == 0 {
		n.route = r
		return
	}
	seg := segs[0]
	switch {
	case seg.multi:
		n.multi = &node{route: r}
	case seg.wild:
		n.child("").addSegments(segs[1:], r)
	default:
		n.child(seg.s).addSegments(segs[1:], r)
	}
}

// match finds the node of the pattern for host, method and path: a host's
// own patterns first, then those for every host; within them the method's,
// GET's for HEAD, then those for every method. Path values go to r.
func (root *node) match(host []byte, method string, p []byte, r *Request) *node {
	if len(host) > 0 {
		if hn := root.children[string(host)]; hn != nil {
			if n := hn.matchMethod(method, p, r); n != nil {
				return n
			}
		}
	}
	if root.wild == nil {
		return nil
	}
	return root.wild.matchMethod(method, p, r)
}

func (hn *node) matchMethod(method string, p []byte, r *Request) *node {
	if mn := hn.children[method]; mn != nil {
		if n := mn.matchPath(p, 0, r); n != nil {
			return n
		}
	}
	if method == "HEAD" {
		if mn := hn.children["GET"]; mn != nil {
			if n := mn.matchPath(p, 0, r); n != nil {
				return n
			}
		}
	}
	if hn.wild == nil {
		return nil
	}
	return hn.wild.matchPath(p, 0, r)
}

// matchPath matches p[off:] below n: a literal segment first, then a
// wildcard, then a final multi wildcard, backtracking on failure.
func (n *node) matchPath(p []byte, off int, r *Request) *node {
	if off == len(p) {
		if n.route == nil {
			return nil
		}
		return n
	}
	// The segment: "/" for the end of a path ending in a slash.
	var seg []byte
	segOff, segEnd, rest := off, off+1, 0
	if len(p)-off == 1 {
		seg = p[off:]
		rest = len(p)
	} else {
		segOff = off + 1
		segEnd = segOff
		for segEnd < len(p) && p[segEnd] != '/' {
			segEnd++
		}
		seg, rest = p[segOff:segEnd], segEnd
	}
	var decoded string
	escaped := hasPercent(seg) && !(len(p)-off == 1)
	if escaped {
		decoded = pathUnescape(string(seg))
	}
	if n.children != nil {
		var c *node
		if escaped {
			c = n.children[decoded]
		} else {
			c = n.children[string(seg)]
		}
		if c != nil {
			if m := c.matchPath(p, rest, r); m != nil {
				return m
			}
		}
	}
	save, saveDec := r.npv, len(r.pvDecoded)
	if n.wild != nil && !(len(p)-off == 1) {
		r.pushPathValue(int32(segOff), int32(segEnd), decoded, escaped)
		if m := n.wild.matchPath(p, rest, r); m != nil {
			return m
		}
		r.npv, r.pvDecoded = save, r.pvDecoded[:saveDec]
	}
	if c := n.multi; c != nil {
		if c.route.pat.lastSegment().s != "" {
			tail := p[off+1:]
			if hasPercent(tail) {
				r.pushPathValue(int32(off+1), int32(len(p)), pathUnescape(string(tail)), true)
			} else {
				r.pushPathValue(int32(off+1), int32(len(p)), "", false)
			}
		}
		return c
	}
	return nil
}

func hasPercent(b []byte) bool {
	for _, c := range b {
		if c == '%' {
			return true
		}
	}
	return false
}

// pathValue is a wildcard's value: a span of the request's path, or,
// with end < 0, the index in pvDecoded of its decoded copy (the segment
// held a percent-escape).
type pathValue struct{ off, end int32 }

// inlinePathValues is how many path values a Request holds without
// allocating.
const inlinePathValues = 8

func (r *Request) pushPathValue(off, end int32, s string, decoded bool) {
	v := pathValue{off: off, end: end}
	if decoded {
		v = pathValue{off: int32(len(r.pvDecoded)), end: -1}
		r.pvDecoded = append(r.pvDecoded, s)
	}
	if int(r.npv) < inlinePathValues {
		r.pv[r.npv] = v
	} else {
		r.pvMore = append(r.pvMore[:int(r.npv)-inlinePathValues], v)
	}
	r.npv++
}

// pathValue finds the value of the wildcard called name.
func (r *Request) pathValue(name string) (v pathValue, ok bool) {
	if r.matched == nil {
		return v, false
	}
	i := 0
	for _, s := range r.matched.pat.segments {
		if !s.wild || s.s == "" {
			continue
		}
		if s.s == name {
			switch {
			case i >= int(r.npv):
				return v, false
			case i < inlinePathValues:
				return r.pv[i], true
			}
			return r.pvMore[i-inlinePathValues], true
		}
		i++
	}
	return v, false
}

// PathValueBytes returns the value of the wildcard called name in the
// pattern the Router matched ("{id}" in "GET /users/{id}"), percent-decoded,
// and whether there is one. It does not allocate: the slice is a view of
// the request (valid until the response is finished; do not modify it),
// unless the value held a percent-escape.
func (r *Request) PathValueBytes(name string) ([]byte, bool) {
	v, ok := r.pathValue(name)
	switch {
	case !ok:
		return nil, false
	case v.end < 0:
		return []byte(r.pvDecoded[v.off]), true
	}
	return r.PathBytes()[v.off:v.end], true
}

// PathValue returns the value of the wildcard called name, as
// net/http.Request.PathValue does: "" when the matched pattern has no such
// wildcard.
func (r *Request) PathValue(name string) string {
	v, ok := r.pathValue(name)
	switch {
	case !ok:
		return ""
	case v.end < 0:
		return r.pvDecoded[v.off]
	}
	return string(r.PathBytes()[v.off:v.end])
}

// Pattern is the Router pattern that matched the request, as registered,
// or "" (no Router, or no match).
func (r *Request) Pattern() string {
	if r.matched == nil {
		return ""
	}
	return r.matched.pat.str
}

// The pattern grammar and the relations between patterns below follow
// net/http's pattern.go (Go 1.22+), whose rules the Router promises.

type pattern struct {
	str      string
	method   string
	host     string
	segments []segment
}

func (p *pattern) lastSegment() segment { return p.segments[len(p.segments)-1] }

// segment is a literal, a wildcard name, or "/" for "{$}". A final
// pattern slash is an anonymous multi wildcard.
type segment struct {
	s     string
	wild  bool
	multi bool
}

func parsePattern(s string) (*pattern, error) {
	if s == "" {
		return nil, errors.New("empty pattern")
	}
	method, rest, found := s, "", false
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		method, rest, found = s[:i], strings.TrimLeft(s[i+1:], " \t"), true
	}
	if !found {
		rest, method = method, ""
	}
	if method != "" && !validToken(method) {
		return nil, fmt.Errorf("invalid method %q", method)
	}
	p := &pattern{str: s, method: method}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil, errors.New("host/path missing /")
	}
	p.host, rest = rest[:i], rest[i:]
	if strings.IndexByte(p.host, '{') >= 0 {
		return nil, errors.New("host contains '{' (missing initial '/'?)")
	}
	if method != "" && method != "CONNECT" && rest != cleanPath(rest) {
		return nil, errors.New("non-CONNECT pattern with unclean path can never match")
	}
	seen := map[string]bool{}
	for len(rest) > 0 {
		rest = rest[1:]
		if rest == "" {
			p.segments = append(p.segments, segment{wild: true, multi: true})
			break
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			i = len(rest)
		}
		var seg string
		seg, rest = rest[:i], rest[i:]
		j := strings.IndexByte(seg, '{')
		if j < 0 {
			p.segments = append(p.segments, segment{s: pathUnescape(seg)})
			continue
		}
		if j != 0 {
			return nil, errors.New("bad wildcard segment (must start with '{')")
		}
		if seg[len(seg)-1] != '}' {
			return nil, errors.New("bad wildcard segment (must end with '}')")
		}
		name := seg[1 : len(seg)-1]
		if name == "$" {
			if rest != "" {
				return nil, errors.New("{$} not at end")
			}
			p.segments = append(p.segments, segment{s: "/"})
			break
		}
		name, multi := strings.CutSuffix(name, "...")
		if multi && rest != "" {
			return nil, errors.New("{...} wildcard not at end")
		}
		if name == "" {
			return nil, errors.New("empty wildcard")
		}
		if !validWildcardName(name) {
			return nil, fmt.Errorf("bad wildcard name %q", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicate wildcard name %q", name)
		}
		seen[name] = true
		p.segments = append(p.segments, segment{s: name, wild: true, multi: multi})
	}
	return p, nil
}

func validWildcardName(s string) bool {
	for i, c := range s {
		if !unicode.IsLetter(c) && c != '_' && (i == 0 || !unicode.IsDigit(c)) {
			return false
		}
	}
	return s != ""
}

func pathUnescape(p string) string {
	u, err := url.PathUnescape(p)
	if err != nil {
		return p
	}
	return u
}

// Relations between the sets of requests two patterns match.
const (
	relEquivalent = iota
	relMoreGeneral
	relMoreSpecific
	relDisjoint
	relOverlaps
)

func (p1 *pattern) conflictsWith(p2 *pattern) bool {
	if p1.host != p2.host {
		return false
	}
	rel := p1.comparePathsAndMethods(p2)
	return rel == relEquivalent || rel == relOverlaps
}

func (p1 *pattern) comparePathsAndMethods(p2 *pattern) int {
	m := p1.compareMethods(p2)
	if m == relDisjoint {
		return relDisjoint
	}
	return combine(m, p1.comparePaths(p2))
}

func (p1 *pattern) compareMethods(p2 *pattern) int {
	switch {
	case p1.method == p2.method:
		return relEquivalent
	case p1.method == "":
		return relMoreGeneral
	case p2.method == "":
		return relMoreSpecific
	case p1.method == "GET" && p2.method == "HEAD":
		return relMoreGeneral
	case p2.method == "GET" && p1.method == "HEAD":
		return relMoreSpecific
	}
	return relDisjoint
}

func (p1 *pattern) comparePaths(p2 *pattern) int {
	if len(p1.segments) != len(p2.segments) && !p1.lastSegment().multi && !p2.lastSegment().multi {
		return relDisjoint
	}
	s1, s2 := p1.segments, p2.segments
	rel := relEquivalent
	for ; len(s1) > 0 && len(s2) > 0; s1, s2 = s1[1:], s2[1:] {
		rel = combine(rel, compareSegments(s1[0], s2[0]))
		if rel == relDisjoint {
			return rel
		}
	}
	switch {
	case len(s1) == 0 && len(s2) == 0:
		return rel
	case len(s1) < len(s2) && p1.lastSegment().multi:
		return combine(rel, relMoreGeneral)
	case len(s2) < len(s1) && p2.lastSegment().multi:
		return combine(rel, relMoreSpecific)
	}
	return relDisjoint
}

func compareSegments(s1, s2 segment) int {
	switch {
	case s1.multi && s2.multi:
		return relEquivalent
	case s1.multi:
		return relMoreGeneral
	case s2.multi:
		return relMoreSpecific
	case s1.wild && s2.wild:
		return relEquivalent
	case s1.wild:
		if s2.s == "/" {
			return relDisjoint
		}
		return relMoreGeneral
	case s2.wild:
		if s1.s == "/" {
			return relDisjoint
		}
		return relMoreSpecific
	case s1.s == s2.s:
		return relEquivalent
	}
	return relDisjoint
}

func combine(r1, r2 int) int {
	switch r1 {
	case relEquivalent:
		return r2
	case relDisjoint:
		return relDisjoint
	case relOverlaps:
		if r2 == relDisjoint {
			return relDisjoint
		}
		return relOverlaps
	}
	// r1 is more general or more specific.
	switch r2 {
	case relEquivalent:
		return r1
	case inverse(r1):
		return relOverlaps
	}
	return r2
}

func inverse(r int) int {
	switch r {
	case relMoreSpecific:
		return relMoreGeneral
	case relMoreGeneral:
		return relMoreSpecific
	}
	return r
}

// describeConflict says why two conflicting patterns conflict.
func describeConflict(p1, p2 *pattern) string {
	m, p := p1.compareMethods(p2), p1.comparePaths(p2)
	switch {
	case combine(m, p) == relEquivalent:
		return fmt.Sprintf("%s matches the same requests as %s", p1.str, p2.str)
	case p == relOverlaps:
		return "both match some paths, but neither is more specific than the other"
	case m == relMoreGeneral && p == relMoreSpecific:
		return fmt.Sprintf("%s matches more methods than %s, but has a more specific path", p1.str, p2.str)
	case m == relMoreSpecific && p == relMoreGeneral:
		return fmt.Sprintf("%s matches fewer methods than %s, but has a more general path", p1.str, p2.str)
	}
	return "they match some of the same requests"
}
