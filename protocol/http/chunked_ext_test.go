package http

import "testing"

// TestChunkExtensionGrammar decodes one-chunk bodies whose chunk-size line
// carries an extension, accepted when it follows RFC 9112 §7.1.1
//
//	chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
//
// with quoted-string from RFC 9110 §5.6.4, and with no whitespace (the
// optional BWS is refused, as by llhttp's strict mode). Everything else
// is 400: a reader that skips a malformed extension to the next CRLF and
// one that stops at it frame the body differently.
func TestChunkExtensionGrammar(t *testing.T) {
	cases := []struct {
		ext string
		ok  bool
	}{
		{";a", true},
		{";a=b", true},
		{";a;b", true},
		{";a=b;c=d", true},
		{`;a="b c"`, true},
		{`;a=""`, true},
		{`;a="b;c=d"`, true},
		{`;a="\""`, true},
		{`;a="\\"`, true},
		{";a=\"\t\"", true},
		{";a=\"caf\xc3\xa9\"", true},
		{"; a", false},
		{";a =b", false},
		{";a= b", false},
		{";a=b ", false},
		{";", false},
		{";;a", false},
		{";a;", false},
		{";=b", false},
		{";a=", false},
		{";a==b", false},
		{`;a="b`, false},
		{`;a="b\"`, false},
		{`;a=b"c"`, false},
		{`;a="b"c`, false},
		{`;a="b""c"`, false},
		{";a@b", false},
		{";a=b@c", false},
		{";a=\"b\x01\"", false},
		{";a=\"b\x7f\"", false},
		{";a=\"b\\\x00\"", false},
		{"g", false}, // not a hex digit, not an extension
	}
	lim := defaultConfig().limits
	for _, tc := range cases {
		var d chunkedDecoder
		in := "1" + tc.ext + "\r\nx\r\n0\r\n\r\n"
		n, body, st := d.decode([]byte(in), nil, &lim)
		ok := st == 0 && d.state == chunkDone && n == len(in) && string(body) == "x"
		if ok != tc.ok || !ok && st != statusBadRequest {
			t.Errorf("extension %q: status %d, done %v, body %q; want accepted %v (or 400)", tc.ext, st, d.state == chunkDone, body, tc.ok)
		}
	}
}
