package timer

import (
	"testing"
	"time"
	"unsafe"
)

func TestEntryFitsIn64Bytes(t *testing.T) {
	if size := unsafe.Sizeof(entry{}); size > 64 {
		t.Fatalf("entry is %d bytes, the budget per pending timer is 64", size)
	}
}

func TestWheelDropsFunctionWhenCallFiresOrIsCancelled(t *testing.T) {
	w := NewWheel(time.Now())
	fired := w.CallLater(0, func() {})
	cancelled := w.CallLater(time.Hour, func() {})
	cancelled.Cancel()
	if cancelled.e.fn != nil {
		t.Fatal("a cancelled call's function is still referenced")
	}
	w.Advance(w.Now())
	if fired.e.fn != nil {
		t.Fatal("a fired call's function is still referenced")
	}
}

func TestPanickingCallbackDoesNotKeepItsFunction(t *testing.T) {
	w := NewWheel(time.Now())
	h := w.CallLater(0, func() { panic("x") })
	func() {
		defer func() { _ = recover() }()
		w.Advance(w.Now())
	}()
	if h.e.fn != nil {
		t.Fatal("the function that panicked is still referenced")
	}
	w.checkInvariants(t)
}
