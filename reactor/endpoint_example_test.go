package reactor_test

import (
	"fmt"

	"github.com/mustaine/mustaine/reactor"
)

// Endpoint strings in Twisted's syntax; a malformed one names its bad
// field.
func ExampleParseServerEndpoint() {
	e, err := reactor.ParseServerEndpoint("tcp:8080:interface=127.0.0.1:backlog=512")
	fmt.Println(e.Port, e.Interface, e.Backlog, err)
	u, _ := reactor.ParseServerEndpoint("unix:/run/app.sock:mode=660")
	fmt.Printf("%s %o\n", u.Path, u.Mode)
	c, _ := reactor.ParseClientEndpoint("tcp:host=example.internal:port=443:timeout=5")
	fmt.Println(c.Host, c.Port, c.Timeout)
	_, err = reactor.ParseServerEndpoint("tcp:8080:backlog=many")
	fmt.Println(err)
	// Output:
	// 8080 127.0.0.1 512 <nil>
	// /run/app.sock 660
	// example.internal 443 5s
	// mustaine: bad endpoint "tcp:8080:backlog=many": backlog: "many" is not a positive integer
}
