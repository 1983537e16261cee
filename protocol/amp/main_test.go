package amp

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine may outlive a test: reactors are stopped, Python peers
// waited for.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
