package deferred

import (
	"runtime"
	"strings"
	"sync"
)

// NewForCaller is NewWithCanceller for library code that creates a Deferred
// on its caller's behalf, as reactor.DeferToThread and reactor.ConnectTCP
// do. The creation site that an unhandled-error report names (see
// SetUnhandledErrorHook) is the first caller outside the package that
// called NewForCaller, that is the user's line that called into the
// library, however many of the library's own functions lie in between,
// rather than the library's line, which would be the same for every report.
// c may be nil.
func NewForCaller[T any](c func(d *Deferred[T])) *Deferred[T] {
	return &Deferred[T]{canceller: c, site: outsideCallerSite(1)}
}

// FailForCaller is Fail for library code, with NewForCaller's creation
// site.
func FailForCaller[T any](err error) *Deferred[T] {
	if err == nil {
		err = ErrNilError
	}
	return failed[T](err, outsideCallerSite(1))
}

// maxLibraryFrames bounds how far outsideCallerSite looks for a frame
// outside the library package.
const maxLibraryFrames = 12

// framePackages caches the package of each program counter it was asked
// about. Call sites are finite, so it stays small, and steady-state
// lookups do not symbolize.
var framePackages sync.Map // uintptr -> string

// outsideCallerSite is callerSite for the first frame, from skip up, whose
// package differs from that of the frame at skip (0 is the function calling
// outsideCallerSite). When every frame it looks at is in that package it
// returns the last of them.
func outsideCallerSite(skip int) uintptr {
	if !captureSites.Load() {
		return 0
	}
	var pcs [maxLibraryFrames]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	if n == 0 {
		return 0
	}
	lib := framePackage(pcs[0])
	for _, pc := range pcs[1:n] {
		if framePackage(pc) != lib {
			return pc
		}
	}
	return pcs[n-1]
}

func framePackage(pc uintptr) string {
	if p, ok := framePackages.Load(pc); ok {
		return p.(string)
	}
	frame, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	p := packageOf(frame.Function)
	framePackages.Store(pc, p)
	return p
}

// packageOf returns the import path part of a function's full name, such
// as "github.com/mustaine/mustaine/reactor" for
// "github.com/mustaine/mustaine/reactor.(*Reactor).dial.func1".
// A dot in the last path element (gopkg.in/yaml.v3) cuts it short; that
// only matters if two such packages call each other, and then costs a
// frame of precision, not a wrong library frame.
func packageOf(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i] // type arguments may hold paths of their own
	}
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}
