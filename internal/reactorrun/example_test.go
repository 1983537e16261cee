package reactorrun_test

import (
	"fmt"
	"testing"

	"github.com/mustaine/mustaine/internal/reactorrun"
	"github.com/mustaine/mustaine/reactor"
)

// exampleTB stands in for a test's *testing.T: it runs the cleanups when
// the example says the test has ended.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (e *exampleTB) Helper()                      {}
func (e *exampleTB) Cleanup(f func())             { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Errorf(f string, args ...any) { fmt.Printf(f+"\n", args...) }
func (e *exampleTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// Run returns once the reactor runs, and stops it when the test ends.
func ExampleRun() {
	t := &exampleTB{}
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false))
	if err != nil {
		fmt.Println(err)
		return
	}
	reactorrun.Run(t, r)
	fmt.Println("running:", r.Running())
	for _, f := range t.cleanups { // the test's end
		f()
	}
	fmt.Println("running:", r.Running())
	// Output:
	// running: true
	// running: false
}
