package deferred

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// collectReports installs a hook that passes on reports of err only, and
// restores the previous hook when the test ends.
func collectReports(t *testing.T, err error) <-chan string {
	t.Helper()
	ch := make(chan string, 16)
	prev := SetUnhandledErrorHook(func(e error, at string) {
		if errors.Is(e, err) {
			select {
			case ch <- at:
			default:
			}
		}
	})
	t.Cleanup(func() { SetUnhandledErrorHook(prev) })
	return ch
}

// awaitReport runs the garbage collector until a report arrives. The bound
// only keeps a broken build from hanging; nothing is asserted about time.
func awaitReport(t *testing.T, ch <-chan string) string {
	t.Helper()
	for range 500 {
		runtime.GC()
		select {
		case at := <-ch:
			return at
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("no unhandled-error report")
	return ""
}

//go:noinline
func abandonFailedDeferred(err error) {
	d := New[int]()
	d.AddCallback(addOne)
	_ = d.Errback(err)
}

func TestUnhandledErrorReportedOnGCWithCreationSite(t *testing.T) {
	errLost := errors.New("lost error")
	ch := collectReports(t, errLost)
	abandonFailedDeferred(errLost)
	at := awaitReport(t, ch)
	if !strings.Contains(at, "abandonFailedDeferred") || !strings.Contains(at, "unhandled_test.go:") {
		t.Fatalf("creation site = %q; want abandonFailedDeferred in unhandled_test.go", at)
	}
}

func TestHandledErrorRegistersNothingAndIsNotReported(t *testing.T) {
	errHandled := errors.New("handled error")
	errLost := errors.New("lost error 2")
	handled := make(chan string, 1)
	lost := make(chan string, 1)
	prev := SetUnhandledErrorHook(func(e error, at string) {
		ch := lost
		if errors.Is(e, errHandled) {
			ch = handled
		} else if !errors.Is(e, errLost) {
			return
		}
		select {
		case ch <- at:
		default:
		}
	})
	defer func() { SetUnhandledErrorHook(prev) }()

	func() {
		d := New[int]()
		d.AddErrback(func(error) (int, error) { return 0, nil })
		_ = d.Errback(errHandled)
		if d.fail != nil {
			t.Error("a Deferred whose error was handled still has a report registered")
		}
	}()
	// The unhandled one, dropped after the handled one, is reported: the
	// handled one has had the same collections to be reported in.
	abandonFailedDeferred(errLost)
	awaitReport(t, lost)
	select {
	case at := <-handled:
		t.Fatalf("handled error reported (created at %s)", at)
	default:
	}
}

func TestSuccessfulDeferredRegistersNoReport(t *testing.T) {
	d := New[int]()
	d.AddCallback(addOne)
	_ = d.Callback(1)
	if d.fail != nil {
		t.Fatal("a Deferred that ended in a value registered a report")
	}
	d.AddCallback(func(int) (int, error) { return 0, errBoom })
	if d.fail == nil {
		t.Fatal("a Deferred whose chain now ends in an error registered no report")
	}
	d.AddErrback(func(error) (int, error) { return 0, nil })
	if d.fail != nil {
		t.Fatal("the report stayed registered after an errback handled the error")
	}
}

func TestCreationSiteCaptureCanBeTurnedOff(t *testing.T) {
	SetCaptureCreationSite(false)
	d := New[int]()
	SetCaptureCreationSite(true)
	if d.site != 0 {
		t.Fatal("site captured while capture was off")
	}
	if New[int]().site == 0 {
		t.Fatal("site not captured when on")
	}
}

func TestSetUnhandledErrorHookNilRestoresDefault(t *testing.T) {
	mine := func(error, string) {}
	prev := SetUnhandledErrorHook(mine)
	defer func() { SetUnhandledErrorHook(prev) }()
	SetUnhandledErrorHook(nil)
	if p := unhandledHook.Load(); p != nil {
		t.Fatal("nil hook did not restore the default")
	}
}

func TestDefaultHookWritesZerologErrorLineWithCreationSite(t *testing.T) {
	var buf bytes.Buffer
	old := defaultLogger
	defaultLogger = zerolog.New(&buf)
	defer func() { defaultLogger = old }()
	logUnhandled(errBoom, "pkg.F (f.go:3)")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["level"] != "error" || line["error"] != "boom" || line["created_at"] != "pkg.F (f.go:3)" {
		t.Fatalf("log line = %v", line)
	}
}
