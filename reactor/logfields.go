package reactor

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// Log fields for errors and panic values. zerolog's Interface marshals a
// value as JSON, which turns most errors into "{}", and the text of an
// error built with errors.Join (the reactor's own join a kind and its
// cause with ": " instead) has a newline between its parts, which splits
// a console log line. These helpers log a value's text (Error, String, or
// fmt's %v) on one line.

// logErr adds err's text under zerolog's error field name, on one line.
func logErr(e *zerolog.Event, err error) *zerolog.Event {
	return logErrAs(e, zerolog.ErrorFieldName, err)
}

// logErrAs adds err's text under key, on one line; a nil err adds nothing.
func logErrAs(e *zerolog.Event, key string, err error) *zerolog.Event {
	if err == nil {
		return e
	}
	return e.Str(key, oneLine(err.Error()))
}

// logPanic adds a recovered panic value under "panic": an error as its
// text, anything else as fmt prints it, on one line.
func logPanic(e *zerolog.Event, v any) *zerolog.Event {
	return e.Str("panic", oneLine(fmt.Sprint(v)))
}

// oneLine joins the lines of s with "; ", the separator errors.Join's
// newline stands for.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	return strings.Join(lines, "; ")
}
