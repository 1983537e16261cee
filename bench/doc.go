// Command bench is Mustaine's load harness: it builds Mustaine's example
// servers and their peers (gnet, fasthttp, net/http and a
// goroutine-per-connection echo) from this module, starts each one in turn
// on loopback, loads it with wrk, the Go echo load generator or the Go TLS
// handshake load generator, and writes a markdown table of medians and
// ratios to gnet (to net/http for the HTTPS loads).
//
// Usage:
//
//	go run ./bench [flags]                 # the measurement (see -h)
//	go run ./bench loadgen [flags]         # the echo load generator alone
//	go run ./bench tlsload [flags]         # the TLS handshake load generator alone
//	go run ./bench udp [flags]             # UDP echo: Mustaine vs gnet vs net.UDPConn
//	go run ./bench udpload [flags]         # the UDP load generator alone
//
// Each measurement starts a fresh server process, reads the server's CPU
// time from /proc/<pid>/stat before and after the load, and kills the
// server by PID. Targets are interleaved within each round, in an order
// that rotates from round to round, so slow drifts of the machine spread
// over all of them. See bench/README.md.
//
// The harness needs Linux (/proc, taskset) and wrk for the HTTP loads.
package main
