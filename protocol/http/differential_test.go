package http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	nethttp "net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// parsed is one parser's reading of a request.
type parsed struct {
	incomplete bool // the input ends before the request does
	status     int  // 0 when accepted
	method     string
	target     string
	headers    map[string][]string // lower-case names; Content-Length and Transfer-Encoding left out
	body       string
}

// parseOurs reads one request as the connection does.
func parseOurs(data []byte) parsed {
	lim := defaultConfig().limits
	data = data[skipEmptyLines(data):]
	var r Request
	n, st := parseHead(data, &r, &lim)
	if st != 0 {
		return parsed{status: st}
	}
	if n == 0 {
		return parsed{incomplete: true}
	}
	p := parsed{method: r.Method(), target: r.Target(), headers: map[string][]string{}}
	for i := 0; i < r.NumHeaders(); i++ {
		name, value := r.HeaderAt(i)
		k := strings.ToLower(string(name))
		if k != "content-length" && k != "transfer-encoding" {
			p.headers[k] = append(p.headers[k], string(value))
		}
	}
	rest := data[n:]
	if r.chunked {
		var d chunkedDecoder
		_, b, st := d.decode(rest, nil, &lim)
		if st != 0 {
			return parsed{status: st}
		}
		if d.state != chunkDone {
			return parsed{incomplete: true}
		}
		p.body = string(b)
	} else {
		if int64(len(rest)) < r.contentLength {
			return parsed{incomplete: true}
		}
		p.body = string(rest[:r.contentLength])
	}
	return p
}

// parseNetHTTP reads one request with net/http's ReadRequest plus the
// checks net/http's server makes before calling a handler (Host rules,
// field validity, versions, Expect), and reads the body.
func parseNetHTTP(data []byte) (p parsed, err error) {
	data = data[skipEmptyLines(data):]
	req, err := nethttp.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return parsed{incomplete: true}, nil
		}
		return parsed{status: 400}, err
	}
	// ReadRequest moves Host out of the header; the server's checks see
	// the field lines, so count them in the head.
	hosts := hostFields(data)
	switch {
	case req.ProtoMajor != 1:
		return parsed{status: 505}, errors.New("version")
	case req.ProtoAtLeast(1, 1) && len(hosts) == 0 && req.Method != "CONNECT":
		return parsed{status: 400}, errors.New("missing Host")
	case len(hosts) == 1 && !validHost([]byte(hosts[0])):
		return parsed{status: 400}, errors.New("malformed Host")
	}
	for k, vv := range req.Header {
		for i := 0; i < len(k); i++ {
			if charClass[k[i]]&classToken == 0 {
				return parsed{status: 400}, errors.New("invalid header name")
			}
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return parsed{status: 400}, errors.New("invalid header value")
			}
		}
	}
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return parsed{status: 417}, errors.New("expectation")
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return parsed{incomplete: true}, nil
		}
		return parsed{status: 400}, err
	}
	p = parsed{method: req.Method, target: req.RequestURI, headers: map[string][]string{}, body: string(b)}
	if len(hosts) > 0 {
		p.headers["host"] = hosts
	}
	for k, vv := range req.Header {
		k = strings.ToLower(k)
		if k != "content-length" && k != "transfer-encoding" {
			p.headers[k] = vv
		}
	}
	return p, nil
}

// hostFields returns the trimmed values of the Host field lines of a head
// that net/http accepted.
func hostFields(data []byte) []string {
	var hosts []string
	lines := strings.Split(string(headSection(data)), "\n")
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(strings.TrimSuffix(l, "\r"), ":")
		if ok && strings.EqualFold(name, "host") {
			hosts = append(hosts, strings.Trim(value, " \t"))
		}
	}
	return hosts
}

// headSection is the part of data net/http's request-line and header
// parsing sees, for the divergence checks.
func headSection(data []byte) []byte {
	data = data[skipEmptyLines(data):]
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		data = data[:i+2]
	}
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 && i+1 < len(data) {
		data = data[:i+1]
	}
	return data
}

// oursStricter names the deliberate reasons this package refuses a
// request that net/http accepts, or "" when none applies.
func oursStricter(data []byte, ours parsed) string {
	head := headSection(data)
	lower := strings.ToLower(string(head))
	line, _, _ := strings.Cut(string(head), "\n")
	fields := strings.Split(line, " ")
	switch {
	case ours.status == statusURITooLong || ours.status == statusHeaderTooLarge || ours.status == statusPayloadTooLarge:
		return "our size limits (net/http's ReadRequest has none)"
	case bareLFInHead(data):
		return "bare LF as a line end: refused as by llhttp's strict mode (RFC 9112 §2.2 allows either); net/http accepts it"
	case strings.ContainsFunc(line, func(r rune) bool { return r >= utf8.RuneSelf }):
		return "request-target outside ASCII: RFC 3986 URIs are ASCII, refused as by llhttp; net/http accepts raw UTF-8"
	case bytes.Contains(head, []byte("\n ")) || bytes.Contains(head, []byte("\n\t")):
		return "obs-fold: RFC 9112 §5.2 lets a server refuse it; net/http unfolds"
	case strings.Contains(lower, "transfer-encoding") && strings.Contains(line, "HTTP/1.0"):
		return "Transfer-Encoding in HTTP/1.0: RFC 9112 §6.1 faulty framing; net/http ignores it"
	case strings.Contains(lower, "transfer-encoding") && strings.Contains(lower, "content-length"):
		return "Transfer-Encoding with Content-Length: refused as a smuggling pattern; net/http drops Content-Length"
	case ours.status == statusVersionUnsupported:
		return "HTTP/1.x beyond 1.1: 505 as issue 7 asks; net/http serves any 1.x"
	case len(fields) == 3 && fields[1] == "*" && fields[0] != "OPTIONS":
		return "asterisk-form is for OPTIONS only (RFC 9112 §3.2.4)"
	case len(fields) == 3 && !strings.HasPrefix(fields[1], "/"):
		return "absolute and authority forms: userinfo, scheme and authority syntax checked more strictly"
	case strings.Contains(lower, "\nexpect:"):
		return "Expect: net/http accepts a token list and answers HTTP/1.0 expectations"
	case strings.Contains(lower, "\nhost:") && strings.Contains(line, "CONNECT"):
		return "CONNECT: Host required like any HTTP/1.1 request"
	case strings.Contains(lower, "chunked") && laxChunkLines(data[len(head):]):
		return "chunked framing: net/http trims whitespace after a chunk size, ignores extension bytes and accepts bare-LF or folded trailer lines"
	}
	return ""
}

// bareLFInHead reports whether a line of the head at the start of data,
// the empty line ending it included, ends with an LF not preceded by CR.
func bareLFInHead(data []byte) bool {
	data = data[skipEmptyLines(data):]
	for {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			return false
		}
		if !bytes.HasSuffix(line, []byte("\r")) {
			return true
		}
		if len(line) == 1 {
			return false // the CRLF ending the head
		}
		data = rest
	}
}

// laxChunkLines reports whether a chunked body has a line net/http reads
// more leniently than this package: a chunk size followed by whitespace or
// by an extension outside RFC 9112's grammar, or a trailer-like line
// without CR or folded.
func laxChunkLines(body []byte) bool {
	for _, l := range bytes.Split(body, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if bytes.IndexByte(l, '\r') >= 0 {
			continue
		}
		i := 0
		for i < len(l) && charClass[l[i]]&classHex != 0 {
			i++
		}
		if i > 0 && i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			return true
		}
		if i > 0 && i < len(l) && l[i] == ';' && !validChunkExt(l[i:]) {
			return true // net/http ignores extension bytes
		}
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			return true
		}
	}
	return bytes.Contains(body, []byte("\n\n")) || bytes.Contains(body, []byte(":")) && !bytes.Contains(body, []byte("\r\n\r\n"))
}

// netStricter names the reasons net/http refuses a request this package
// accepts, or "".
func netStricter(data []byte, err error) string {
	head := headSection(data)
	lower := strings.ToLower(string(head))
	switch {
	case err != nil && strings.Contains(err.Error(), "too much non-data"):
		return "net/http bounds chunk overhead by data size; this package bounds extension bytes"
	case errors.Is(err, nethttp.ErrLineTooLong):
		return "net/http's 4 KiB chunk-line limit is a little tighter"
	case strings.Count(lower, "\ntransfer-encoding:") > 1 || strings.Contains(lower, "transfer-encoding") && strings.Contains(lower, ","):
		return "Transfer-Encoding as a list (RFC 9110 §5.6.1 empty elements, several fields); net/http wants exactly one \"chunked\""
	case strings.Contains(lower, "\nexpect:"):
		return "Expect: net/http answers 417 to HTTP/1.0 expectations, which RFC 9110 says to ignore"
	}
	return ""
}

func checkDifferential(t *testing.T, data []byte) {
	ours := parseOurs(data)
	theirs, err := parseNetHTTP(data)
	if ours.incomplete || theirs.incomplete {
		return // framing is only compared on complete requests
	}
	oursOK, theirsOK := ours.status == 0, theirs.status == 0
	switch {
	case !oursOK && theirsOK:
		if oursStricter(data, ours) == "" {
			t.Fatalf("we refuse with %d what net/http accepts: %q", ours.status, data)
		}
	case oursOK && !theirsOK:
		if netStricter(data, err) == "" {
			t.Fatalf("we accept what net/http refuses (%v): %q", err, data)
		}
	case oursOK && theirsOK:
		if ours.method != theirs.method || ours.target != theirs.target || ours.body != theirs.body {
			t.Fatalf("method/target/body differ: ours %q %q %q, net/http %q %q %q\ninput %q",
				ours.method, ours.target, ours.body, theirs.method, theirs.target, theirs.body, data)
		}
		if len(ours.headers) != len(theirs.headers) {
			t.Fatalf("headers differ: ours %q, net/http %q\ninput %q", ours.headers, theirs.headers, data)
		}
		for k, v := range ours.headers {
			if !slices.Equal(v, theirs.headers[k]) {
				t.Fatalf("header %q differs: ours %q, net/http %q\ninput %q", k, v, theirs.headers[k], data)
			}
		}
	}
}

// differentialSeeds are the starting inputs of FuzzDifferential, also run
// as a plain test.
var differentialSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /p?q=1 HTTP/1.1\nHost: a\nX: y\n\n",
	"GET / HTTP/1.0\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=v\r\nabc\r\n0\r\nT: 1\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"GET http://h:80/a HTTP/1.1\r\nHost: h\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n",
}

// llhttpSeeds returns the llhttp corpus cases, as they are and with Host
// added, as seeds for the fuzz targets.
func llhttpSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range loadLLHTTPCorpus(t) {
		seeds = append(seeds, c.raw)
		if h := c.withHost(); !bytes.Equal(h, c.raw) {
			seeds = append(seeds, h)
		}
	}
	return seeds
}

func TestDifferentialSeeds(t *testing.T) {
	for _, s := range differentialSeeds {
		checkDifferential(t, []byte(s))
	}
	for _, s := range llhttpSeeds(t) {
		checkDifferential(t, s)
	}
}

// FuzzDifferential feeds the same bytes to this package's parser and to
// net/http's, and requires the same accept/refuse decision, and the same
// method, target, header fields and body when both accept — except for
// the documented deliberate divergences (oursStricter, netStricter).
func FuzzDifferential(f *testing.F) {
	for _, s := range differentialSeeds {
		f.Add([]byte(s))
	}
	for _, s := range llhttpSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDifferential(t, data)
	})
}
