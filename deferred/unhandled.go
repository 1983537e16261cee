package deferred

import (
	"os"
	"runtime"
	"strconv"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// failure is the report pending for a Deferred whose chain ends in an error.
// It is the argument of a runtime cleanup on the Deferred and must never
// point back to it, or the Deferred could not be collected.
type failure struct {
	err     error
	site    uintptr
	cleanup runtime.Cleanup
}

var (
	unhandledHook atomic.Pointer[func(err error, createdAt string)]
	captureSites  atomic.Bool
	defaultLogger = zerolog.New(os.Stderr).With().Timestamp().Logger()
)

func init() {
	captureSites.Store(true)
}

// SetUnhandledErrorHook sets the function told about a Deferred that was
// garbage collected while an error sat at the end of its chain, and returns
// the previous hook. createdAt names the function, file and line that
// created the Deferred ("" when creation sites are not captured). A nil h
// restores the default, which writes one zerolog error line to stderr.
//
// The hook runs on a runtime cleanup goroutine, some time after the
// Deferred became unreachable: it must be safe to call from any goroutine
// and should return quickly.
func SetUnhandledErrorHook(h func(err error, createdAt string)) (previous func(err error, createdAt string)) {
	var p *func(error, string)
	if h != nil {
		p = &h
	}
	if old := unhandledHook.Swap(p); old != nil {
		return *old
	}
	return logUnhandled
}

// SetCaptureCreationSite turns the recording of each Deferred's creation
// site on (the default) or off. Recording costs one runtime.Callers call per
// Deferred; without it unhandled-error reports cannot say where the
// Deferred came from.
func SetCaptureCreationSite(on bool) {
	captureSites.Store(on)
}

func logUnhandled(err error, createdAt string) {
	defaultLogger.Error().Err(err).Str("created_at", createdAt).Msg("deferred: unhandled error in Deferred")
}

func reportUnhandled(f *failure) {
	h := logUnhandled
	if p := unhandledHook.Load(); p != nil {
		h = *p
	}
	h(f.err, siteString(f.site))
}

// callerSite returns a program counter on the current stack: skip 0 is the
// function calling callerSite, 1 its caller, and so on. It is kept raw;
// symbolizing waits until a report needs it.
func callerSite(skip int) uintptr {
	if !captureSites.Load() {
		return 0
	}
	var pcs [1]uintptr
	if runtime.Callers(skip+2, pcs[:]) < 1 {
		return 0
	}
	return pcs[0]
}

func siteString(pc uintptr) string {
	if pc == 0 {
		return ""
	}
	frame, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	if frame.Function == "" {
		return ""
	}
	return frame.Function + " (" + frame.File + ":" + strconv.Itoa(frame.Line) + ")"
}

// trackFailure arranges for d's current error to be reported if d is
// collected before something handles it. Only Deferreds whose chain is at
// rest on an error pay for the registration.
func (d *Deferred[T]) trackFailure() {
	if d.fail != nil {
		// The cleanup goroutine reads err only after d is unreachable; the
		// runtime orders that read after this write.
		d.fail.err = d.err
		return
	}
	f := &failure{err: d.err, site: d.site}
	f.cleanup = runtime.AddCleanup(d, reportUnhandled, f)
	d.fail = f
}

// untrackFailure forgets the pending report: the error was handled.
func (d *Deferred[T]) untrackFailure() {
	d.fail.cleanup.Stop()
	d.fail = nil
	runtime.KeepAlive(d)
}
