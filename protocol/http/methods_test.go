package http

import (
	"strings"
	"testing"
)

// RFC 9110 §9.1: a server that receives a method it does not recognise
// should answer 501. The registered methods are served; an extension
// method is served only when WithExtensionMethods names it, and methods
// are case-sensitive.
func TestUnknownMethodIs501UnlessNamed(t *testing.T) {
	cases := []struct {
		method string
		opts   []Option
		status string
	}{
		{"GET", nil, "200"},
		{"PROPFIND", nil, "200"},
		{"M-SEARCH", nil, "200"},
		{"QUERY", nil, "200"},
		{"MKCOLA", nil, "501"},
		{"get", nil, "501"},
		{"BREW", nil, "501"},
		{"BREW", []Option{WithExtensionMethods("BREW")}, "200"},
		{"brew", []Option{WithExtensionMethods("BREW")}, "501"},
	}
	for _, tc := range cases {
		h := newHarness(t, echo, tc.opts...)
		h.send(tc.method + " / HTTP/1.1\r\nHost: x\r\n\r\n")
		out := h.tr.String()
		if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("%s with %d options: got %q, want status %s", tc.method, len(tc.opts), firstLine(out), tc.status)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
