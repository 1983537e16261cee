package deferred

import (
	"errors"
	"strings"
	"testing"
)

func TestPackageOfFunctionNames(t *testing.T) {
	for fn, want := range map[string]string{
		"github.com/mustaine/mustaine/reactor.(*Reactor).dial.func1": "github.com/mustaine/mustaine/reactor",
		"github.com/mustaine/mustaine/reactor.DeferToThread[...]":    "github.com/mustaine/mustaine/reactor",
		"github.com/mustaine/mustaine/reactor.F[go.shape.*a/b.T]":    "github.com/mustaine/mustaine/reactor",
		"main.main":       "main",
		"testing.tRunner": "testing",
		"github.com/mustaine/mustaine/deferred.TestPackageOfFunctionNames": "github.com/mustaine/mustaine/deferred",
	} {
		if got := packageOf(fn); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", fn, got, want)
		}
	}
}

//go:noinline
func libraryEntry(err error) *Deferred[int] { return libraryInner(err) }

//go:noinline
func libraryInner(err error) *Deferred[int] { return FailForCaller[int](err) }

// Called from within its own package, as here, NewForCaller and
// FailForCaller look past every frame of that package: the site is the
// test runner that called this test.
func TestForCallerSkipsEveryFrameOfTheCallingPackage(t *testing.T) {
	errLost := errors.New("lost for caller")
	ch := collectReports(t, errLost)
	libraryEntry(errLost)
	NewForCaller[int](nil).Errback(errLost)
	for range 2 {
		if at := awaitReport(t, ch); !strings.HasPrefix(at, "testing.") {
			t.Fatalf("creation site %q, want the first frame outside package deferred", at)
		}
	}
}
