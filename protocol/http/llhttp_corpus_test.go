package http

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// The llhttp corpus: the strict-mode request cases of llhttp's own test
// suite (github.com/nodejs/llhttp, test/request/*.md), one JSON object per
// case with the exact bytes and llhttp's verdict. The copy in testdata/ is
// what the test reads, so that it runs wherever the repository does; when
// the shared corpus is checked out beside the repository, the copy must
// match it.
const (
	llhttpCorpusFile   = "testdata/llhttp-requests.json"
	llhttpCorpusShared = "../../../shared/corpora/llhttp-requests.json"
)

// llhttpCase is one case of the corpus.
type llhttpCase struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	RawHex   string `json:"raw_hex"`
	Expected struct {
		Outcome         string `json:"outcome"` // ok, error or upgrade
		Messages        int    `json:"messages"`
		Incomplete      bool   `json:"incomplete"`
		Error           string `json:"error"`
		Reason          string `json:"reason"`
		RequestLineEnds []*int `json:"request_line_ends"`
		HasHost         []bool `json:"has_host"`
	} `json:"expected"`
	raw []byte
}

func loadLLHTTPCorpus(t testing.TB) []llhttpCase {
	t.Helper()
	data, err := os.ReadFile(llhttpCorpusFile)
	if err != nil {
		t.Fatalf("llhttp corpus: %v", err)
	}
	if shared, err := os.ReadFile(llhttpCorpusShared); err == nil && !bytes.Equal(shared, data) {
		t.Errorf("%s differs from %s: copy the shared corpus into testdata/", llhttpCorpusFile, llhttpCorpusShared)
	}
	var corpus struct {
		Count int          `json:"count"`
		Cases []llhttpCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatalf("llhttp corpus: %v", err)
	}
	if len(corpus.Cases) != corpus.Count || corpus.Count == 0 {
		t.Fatalf("llhttp corpus: %d cases, header says %d", len(corpus.Cases), corpus.Count)
	}
	for i := range corpus.Cases {
		c := &corpus.Cases[i]
		if c.raw, err = hex.DecodeString(c.RawHex); err != nil {
			t.Fatalf("llhttp corpus case %s: %v", c.ID, err)
		}
	}
	return corpus.Cases
}

// withHost returns the case's bytes with "Host: llhttp.test" added after
// the request line of every message that has no Host field, ended like that
// request line (CRLF or bare LF), so that the other decisions can be tested:
// RFC 9112 §3.2 makes a server refuse an HTTP/1.1 request without Host, and
// llhttp does not check Host at all.
func (c *llhttpCase) withHost() []byte {
	b := slices.Clone(c.raw)
	e := c.Expected
	for i := len(e.HasHost) - 1; i >= 0; i-- {
		if e.HasHost[i] {
			continue
		}
		var at int
		switch {
		case i < len(e.RequestLineEnds) && e.RequestLineEnds[i] != nil:
			at = *e.RequestLineEnds[i]
		case i == 0:
			// llhttp refused the request line before its end, which is
			// then the first line end of the message.
			at = bytes.IndexByte(b[skipEmptyLines(b):], '\n')
			if at < 0 {
				continue
			}
			at += skipEmptyLines(b)
			if at > 0 && b[at-1] == '\r' {
				at--
			}
		default:
			continue
		}
		eol := "\r\n"
		switch {
		case bytes.HasPrefix(b[at:], []byte("\r\n")):
			at += 2
		case bytes.HasPrefix(b[at:], []byte("\n")):
			at, eol = at+1, "\n"
		default:
			continue // the line does not end there
		}
		if hasHostField(b[at:]) {
			continue // a Host field llhttp did not reach
		}
		b = slices.Insert(b, at, []byte("Host: llhttp.test"+eol)...)
	}
	return b
}

// hasHostField reports whether the field lines at the start of b, up to
// the first empty line, include Host.
func hasHostField(b []byte) bool {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return false
		}
		if len(line) >= 5 && strings.EqualFold(string(line[:5]), "host:") {
			return true
		}
		b = rest
	}
	return false
}

// llhttpStricter lists every corpus case that the server refuses (or
// stops serving at) earlier than llhttp's strict mode, once Host is added
// where the case lacks one, and why. A case missing here must get exactly
// llhttp's verdict; a case listed here must still be refused, so that the
// list stays true. The package documentation gives the same reasons.
var llhttpStricter = map[string]stricterCase{
	"method.md:135":            {400, "asterisk-form with a method other than OPTIONS (SSDP's M-SEARCH *), RFC 9112 §3.2.4"},
	"method.md:372":            {400, "ICE/1.0 is not an HTTP version (SHOUTcast's source protocol)"},
	"method.md:400":            {400, "RTSP/1.0 is not an HTTP version"},
	"method.md:430":            {400, "RTSP/1.0 is not an HTTP version"},
	"sample.md:314":            {400, "HTTP/0.9 (a request line without a version, a response without framing)"},
	"transfer-encoding.md:751": {501, "a transfer coding the server does not decode (deflate), RFC 9112 §6.1; llhttp hands the coded body on"},
	"transfer-encoding.md:793": {501, "a transfer coding the server does not decode (deflate), RFC 9112 §6.1; llhttp hands the coded body on"},
	"uri.md:222":               {400, "userinfo in an http URI, RFC 9110 §4.2.4 (invalid, and a phishing vector)"},
}

// stricterCase is the status the server refuses a listed case with, and
// why.
type stricterCase struct {
	status int
	reason string
}

// llhttpStricterWithoutHost is the one extra reason the server may refuse
// the cases as they are in the corpus: RFC 9112 §3.2 requires a server to
// answer 400 to an HTTP/1.1 request without Host, which llhttp does not
// check.
const llhttpStricterWithoutHost = "HTTP/1.1 request without Host: RFC 9112 §3.2 requires 400; llhttp does not check Host"

// llhttpMethodNames lists the cases llhttp refuses only for the method's
// name, which the server serves: methods are an open set of tokens (RFC
// 9110 §9.1; net/http, nginx and Apache httpd serve any token too), and the
// method plays no part in framing, so these are no smuggling vector. llhttp
// knows a fixed list, ANNOUNCE only for RTSP. The test checks that llhttp's
// error is about the method and that nothing past the request is served.
var llhttpMethodNames = map[string]string{
	"invalid.md:66":  "ANNOUNCE with HTTP/1.0: an extension method, served",
	"invalid.md:356": "MKCOLA: an extension method, served",
}

// llhttpDecidesSooner lists the cases llhttp refuses at a byte inside an
// unfinished request line, where the server waits for the line's end
// before it judges the line. The test checks that once the line (and the
// head) ends, the server refuses it.
var llhttpDecidesSooner = map[string]string{
	"invalid.md:490": "HTTP/5.6 without a line end: the request line is judged at its CRLF (505 then)",
}

// corpusRun is what the server did with one case's bytes.
type corpusRun struct {
	served  []string // the methods of the requests the handler saw, in order
	refusal int      // the status of the server's own error response, or 0
	closed  bool     // the server closed the connection
}

func (r corpusRun) String() string {
	s := fmt.Sprintf("served %d %q", len(r.served), r.served)
	if r.refusal != 0 {
		s += fmt.Sprintf(", refused with %d", r.refusal)
	}
	if r.closed {
		s += ", closed"
	} else if r.refusal == 0 {
		s += ", waiting"
	}
	return s
}

// runCorpusBytes replays data through a server connection over the
// in-memory transport, in pieces of step bytes (0: all at once), and
// reports which requests were served and how the server answered.
func runCorpusBytes(t *testing.T, data []byte, step int) corpusRun {
	t.Helper()
	var run corpusRun
	h := newHarness(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		run.served = append(run.served, r.Method())
		w.WriteString("served " + r.Method() + " " + r.Target())
	}))
	var out bytes.Buffer
	drain := func() {
		out.Write(h.tr.Value())
		h.tr.Clear()
		for h.loop.Advance(0) > 0 {
			out.Write(h.tr.Value())
			h.tr.Clear()
		}
	}
	if step == 0 {
		step = len(data)
	}
	for len(data) > 0 && !h.closed() {
		n := min(step, len(data))
		h.p.DataReceived(data[:n])
		data = data[n:]
		drain()
	}
	run.closed = h.closed()
	br := bufio.NewReader(&out)
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			break
		}
		method := "GET"
		if i < len(run.served) {
			method = run.served[i]
		}
		resp, err := nethttp.ReadResponse(br, &nethttp.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v\noutput %q", i, err, out.String())
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		resp.Body.Close()
		switch {
		case i < len(run.served):
			if resp.StatusCode != 200 {
				t.Fatalf("response %d to a served request: status %d", i, resp.StatusCode)
			}
		case i == len(run.served) && resp.StatusCode >= 400:
			run.refusal = resp.StatusCode
		default:
			t.Fatalf("unexpected response %d: status %d", i, resp.StatusCode)
		}
	}
	return run
}

// Kinds of difference between a run and llhttp's verdict.
const (
	sameVerdict = iota
	stricter    // the server stopped earlier
	looser      // the server served more than llhttp parsed
	waiting     // the server waits for more where llhttp has refused
)

// verdict compares a run with llhttp's: it returns the kind of difference
// and a description of it.
func (c *llhttpCase) verdict(run corpusRun) (int, string) {
	e := c.Expected
	n := len(run.served)
	switch {
	case n > e.Messages:
		return looser, fmt.Sprintf("served %d requests where llhttp parsed %d (%s)", n, e.Messages, e.Outcome)
	case n < e.Messages:
		if run.refusal == 0 && !run.closed {
			// Waiting inside a message llhttp parsed whole.
			return looser, fmt.Sprintf("waiting after %d requests where llhttp parsed %d", n, e.Messages)
		}
		return stricter, fmt.Sprintf("stopped after %d requests where llhttp parsed %d", n, e.Messages)
	}
	switch e.Outcome {
	case "ok":
		// llhttp waits for more (incomplete) or is ready for the next
		// request; a connection closed after an HTTP/1.0 or "close"
		// request is the same verdict.
		if run.refusal != 0 {
			return stricter, fmt.Sprintf("refused with %d after the %d requests llhttp parsed", run.refusal, n)
		}
	case "error":
		// llhttp refuses what follows its last message: the server must
		// have refused it too, or closed the connection before it.
		if run.refusal == 0 && !run.closed {
			return waiting, fmt.Sprintf("waiting where llhttp refuses (%s: %s)", e.Error, e.Reason)
		}
	case "upgrade":
		// llhttp hands the rest of the stream to another protocol; the
		// server, which implements no upgrade, must not serve any of it
		// as requests, which n == e.Messages already ensures.
	default:
		return looser, "unknown outcome " + e.Outcome
	}
	return sameVerdict, ""
}

// TestLLHTTPCorpus replays every request case of llhttp's strict-mode test
// suite through a server connection, whole and one byte at a time, as the
// corpus has it and with Host added where a message lacks one. The server
// may never serve a request llhttp refuses, nor serve more messages than
// llhttp parses (request smuggling lives in that direction); every
// difference must be in one of the lists above, with its reason.
func TestLLHTTPCorpus(t *testing.T) {
	cases := loadLLHTTPCorpus(t)
	ids := map[string]bool{}
	for _, c := range cases {
		ids[c.ID] = true
	}
	for id := range llhttpStricter {
		if !ids[id] {
			t.Errorf("%s is listed but not in the corpus", id)
		}
	}
	for _, list := range []map[string]string{llhttpMethodNames, llhttpDecidesSooner} {
		for id := range list {
			if !ids[id] {
				t.Errorf("%s is listed but not in the corpus", id)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			t.Logf("%s: llhttp %s, %d messages (%s %s)\n%q", c.Title, c.Expected.Outcome, c.Expected.Messages,
				c.Expected.Error, c.Expected.Reason, c.raw)
			hostData := c.withHost()
			hostRun := c.check(t, "with Host", hostData)
			kind, diff := c.verdict(hostRun)
			if reason := c.allowed(t, kind, hostData, hostRun, true); reason == "" {
				t.Errorf("with Host: %s", diff)
			} else if kind != sameVerdict {
				t.Logf("with Host: %s: allowed: %s", diff, reason)
			}
			rawRun := c.check(t, "as is", c.raw)
			kind, diff = c.verdict(rawRun)
			reason := c.allowed(t, kind, c.raw, rawRun, false)
			if reason == "" && kind == stricter && c.missingHostRefused(rawRun, hostRun) {
				reason = llhttpStricterWithoutHost
			}
			if reason == "" {
				t.Errorf("as is: %s", diff)
			} else if kind != sameVerdict {
				t.Logf("as is: %s: allowed: %s", diff, reason)
			}
		})
	}
}

// allowed returns why a difference of the given kind is allowed for the
// case, or "" when it is not. For no difference it returns "same", and on
// the run with Host it reports a listed case whose difference is gone.
func (c *llhttpCase) allowed(t *testing.T, kind int, data []byte, run corpusRun, withHost bool) string {
	t.Helper()
	stricterReasons := map[string]string{}
	for id, sc := range llhttpStricter {
		stricterReasons[id] = sc.reason
	}
	lists := map[int]map[string]string{stricter: stricterReasons, looser: llhttpMethodNames, waiting: llhttpDecidesSooner}
	if kind == sameVerdict {
		for _, list := range lists {
			if reason, ok := list[c.ID]; ok && withHost {
				t.Errorf("listed (%q), but the verdict is llhttp's now: drop the entry", reason)
			}
		}
		return "same"
	}
	reason := lists[kind][c.ID]
	if reason == "" {
		return ""
	}
	e := c.Expected
	switch kind {
	case stricter:
		// As the corpus has it, the case may lack Host too, which the
		// server checks once the head is complete.
		if want := llhttpStricter[c.ID].status; withHost && run.refusal != want {
			t.Errorf("listed as refused with %d, but the server answered %s", want, run)
		}
	case looser:
		if e.Outcome != "error" || e.Messages != 0 || len(run.served) != 1 ||
			e.Error != "INVALID_METHOD" && !strings.Contains(strings.ToLower(e.Reason), "method") {
			t.Errorf("listed as a method name, but llhttp says %s (%s) and the server served %d", e.Error, e.Reason, len(run.served))
		}
	case waiting:
		done := runCorpusBytes(t, append(slices.Clone(data), "\r\n\r\n"...), 0)
		if len(done.served) > e.Messages || done.refusal == 0 {
			t.Errorf("listed as decided at the line end, but with the line ended: %s", done)
		}
	}
	return reason
}

// check runs data whole and byte by byte; the two must agree.
func (c *llhttpCase) check(t *testing.T, variant string, data []byte) corpusRun {
	t.Helper()
	whole := runCorpusBytes(t, data, 0)
	bytewise := runCorpusBytes(t, data, 1)
	if whole.String() != bytewise.String() {
		t.Errorf("%s: whole %s, byte by byte %s", variant, whole, bytewise)
	}
	t.Logf("%s: %s", variant, whole)
	return whole
}

// missingHostRefused reports whether the only reason the raw case fared
// worse than llhttp is a missing Host: the raw run stopped with 400 at an
// HTTP/1.1 message llhttp saw without Host, and with Host added the server
// served that message or waits for the rest of it.
func (c *llhttpCase) missingHostRefused(raw, withHost corpusRun) bool {
	i := len(raw.served)
	e := c.Expected
	if raw.refusal != statusBadRequest || i >= len(e.HasHost) || e.HasHost[i] ||
		len(withHost.served) <= i && withHost.refusal != 0 {
		return false
	}
	return i < len(e.RequestLineEnds) && e.RequestLineEnds[i] != nil &&
		strings.HasSuffix(string(c.raw[:*e.RequestLineEnds[i]]), "HTTP/1.1")
}
