package examplecli_test

import (
	"flag"
	"fmt"

	"github.com/mustaine/mustaine/internal/examplecli"
)

func ExampleLogger() {
	verbose := flag.Bool("v", true, "log connections (debug level)")
	loops := flag.Int("loops", 2, "number of event loops (at least 1)")
	flag.Parse()
	examplecli.CheckLoops(*loops) // at least 1: nothing happens
	fmt.Println(examplecli.Logger(*verbose).GetLevel())
	// Output: debug
}
