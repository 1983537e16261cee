package protocol

import (
	"errors"
	"io"
	"testing"
)

func TestPanicErrorMatchesErrPanicAndUnwrapsAnErrorValue(t *testing.T) {
	withErr := &PanicError{Value: io.ErrUnexpectedEOF}
	if !errors.Is(withErr, ErrPanic) || !errors.Is(withErr, io.ErrUnexpectedEOF) {
		t.Fatalf("%v: want errors.Is for ErrPanic and the panicked error", withErr)
	}
	withString := &PanicError{Value: "boom"}
	if !errors.Is(withString, ErrPanic) || withString.Unwrap() != nil {
		t.Fatalf("%v: want ErrPanic and nothing to unwrap", withString)
	}
	if errors.Is(withString, ErrAborted) {
		t.Fatal("a panic is not an abort")
	}
}

func TestFuncsSkipsNilCallbacks(t *testing.T) {
	f := &Funcs{}
	f.ConnectionMade(nil)
	f.DataReceived([]byte("x"))
	f.ConnectionLost(ErrConnectionDone)
}
