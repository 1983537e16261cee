// Package loadgen is the echo load generator of the bench harness: it holds
// a number of TCP connections to an echo server, keeps a fixed number of
// messages in flight on each, checks every echoed byte against what was
// sent, and reports messages per second, megabytes per second and latency
// percentiles.
//
// Each connection sends messages whose content depends on the connection
// and on the message's position, so an echo that is corrupted, reordered,
// truncated or delivered to the wrong connection fails the run with
// ErrMismatch instead of being counted.
package loadgen
