package exampletest_test

import (
	"fmt"

	"github.com/mustaine/mustaine/internal/exampletest"
)

// In the test binary's own process the variable is not set, so
// HelperProcess returns at once and the tests go on; in the child it runs
// main and exits.
func ExampleHelperProcess() {
	ran := false
	exampletest.HelperProcess("MUSTAINE_EXAMPLETEST_UNSET", "demo", func() { ran = true })
	fmt.Println("main ran:", ran)
	// Output: main ran: false
}
