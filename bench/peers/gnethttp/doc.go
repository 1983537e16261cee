// Command gnethttp is the gnet v2 plaintext HTTP server the bench harness
// measures Mustaine against, built like TechEmpower's gnet entry: request
// boundaries are found by scanning for the blank line "\r\n\r\n" (no real
// HTTP parsing), every complete request gets the same "Hello, World!"
// response, all responses for one read are written at once, and the Date
// header comes from a value refreshed once per second.
//
// Usage:
//
//	gnethttp -addr 127.0.0.1:8080 -loops 1
package main
