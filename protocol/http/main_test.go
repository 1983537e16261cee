package http

import (
	"testing"

	"go.uber.org/goleak"
)

// The examples hand work to goroutines; none may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
