package policies

import (
	"fmt"
	"time"

	"github.com/mustaine/mustaine/protocol"
)

// TimeoutError is the reason a protocol wrapped by WithTimeout or
// TimeoutFactory gets in ConnectionLost when its idle timeout closed the
// connection. errors.Is matches protocol.ErrTimeout and the transport's own
// reason (such as protocol.ErrConnectionDone).
type TimeoutError struct {
	// Idle is the timeout that expired.
	Idle time.Duration
	// Reason is the reason the transport gave.
	Reason error
}

// Error describes the timeout.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v after %v idle: %v", protocol.ErrTimeout, e.Idle, e.Reason)
}

// Unwrap returns protocol.ErrTimeout and the transport's reason.
func (e *TimeoutError) Unwrap() []error { return []error{protocol.ErrTimeout, e.Reason} }
