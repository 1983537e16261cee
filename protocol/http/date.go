package http

import "time"

// TimeFormat is the IMF-fixdate format of the Date field (RFC 9110 §5.6.7).
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// dateCache holds the Date field value of the current second, so a loop
// formats it at most once per second however many responses it sends.
type dateCache struct {
	sec   int64
	valid bool
	buf   [len(TimeFormat)]byte
}

// get returns the Date value for now. The slice is reused: copy it before
// the next call.
func (d *dateCache) get(now time.Time) []byte {
	if s := now.Unix(); !d.valid || s != d.sec {
		now.UTC().AppendFormat(d.buf[:0], TimeFormat)
		d.sec, d.valid = s, true
	}
	return d.buf[:]
}
