package amp_test

import (
	"fmt"

	"github.com/mustaine/mustaine/protocol/amp"
	"github.com/mustaine/mustaine/reactor/reactortest"
)

// A calculator server and a client, connected in memory; over TCP the
// factory from amp.NewFactory goes to reactor.ListenTCP or ConnectTCP.
func Example() {
	type SumArgs struct {
		A int64 `amp:"a"`
		B int64 `amp:"b"`
	}
	type SumResult struct {
		Total int64 `amp:"total"`
	}
	sum := amp.Command[SumArgs, SumResult]{Name: "Sum"}

	rs := amp.NewResponders()
	amp.Respond(rs, sum, func(a SumArgs) (SumResult, error) {
		return SumResult{a.A + a.B}, nil
	})
	server, client := amp.New(rs), amp.New(nil)
	pair := reactortest.ConnectedPair(server, client)

	amp.Call(client, sum, SumArgs{13, 81}).AddCallback(func(r SumResult) (SumResult, error) {
		fmt.Println("total:", r.Total)
		return r, nil
	})
	pair.Flush()
	// Output: total: 94
}
