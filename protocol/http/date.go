package http

import "time"

// TimeFormat is the IMF-fixdate format of the Date field (RFC 9110 §5.6.7).
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// statusLineOK is the status line of most responses.
const statusLineOK = "HTTP/1.1 200 OK\r\n"

// headPrefix caches the start every response head of a loop shares: the
// 200 status line, the Server field line and the Date field line of the
// current second. A response copies the part it needs with one append,
// and the date is formatted at most once per second however many
// responses the loop sends.
type headPrefix struct {
	sec    int64
	valid  bool
	dateAt int    // offset of "Date: " in buf; buf[len(statusLineOK):dateAt] is the Server line
	buf    []byte // statusLineOK, the Server line (if any), "Date: ...\r\n"
}

// newHeadPrefix returns the prefix for a server called server ("" sends no
// Server field).
func newHeadPrefix(server string) headPrefix {
	b := make([]byte, 0, len(statusLineOK)+len("Server: \r\nDate: \r\n")+len(server)+len(TimeFormat))
	b = append(b, statusLineOK...)
	if server != "" {
		b = append(b, "Server: "...)
		b = append(b, server...)
		b = append(b, '\r', '\n')
	}
	return headPrefix{dateAt: len(b), buf: b}
}

// get returns the prefix for now. The slice is reused: copy it before the
// next call.
func (p *headPrefix) get(now time.Time) []byte {
	if s := now.Unix(); !p.valid || s != p.sec {
		b := append(p.buf[:p.dateAt], "Date: "...)
		b = now.UTC().AppendFormat(b, TimeFormat)
		p.buf = append(b, '\r', '\n')
		p.sec, p.valid = s, true
	}
	return p.buf
}

// appendFixed appends the status line for status, the Server line and,
// unless withDate is false, the Date line.
func (p *headPrefix) appendFixed(b []byte, status int, withDate bool, now time.Time) []byte {
	pre := p.get(now)
	if !withDate {
		pre = pre[:p.dateAt]
	}
	if status == 200 {
		return append(b, pre...)
	}
	b = appendStatusLine(b, status)
	return append(b, pre[len(statusLineOK):]...)
}
