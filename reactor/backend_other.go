//go:build !linux

package reactor

import "errors"

// readinessName names the readiness backend in the fallback's log line.
const readinessName = "kqueue"

// errUringNotLinux is why io_uring falls back off Linux.
var errUringNotLinux = errors.New("io_uring exists only on Linux")

// uringProbe reports why io_uring cannot be used: off Linux, never.
func uringProbe() error { return errUringNotLinux }

// newLoopPoller makes a loop's poller: always the readiness one here.
func newLoopPoller(cfg *config) (poller, error) { return newPoller(cfg.maxEvents) }

// uringPoller is the io_uring backend, which exists only on Linux; the
// loop's hooks for it are never reached here.
type uringPoller struct{ l *loop }

func (*uringPoller) addStream(*conn) {}
func (*uringPoller) connected(*conn) {}
func (*uringPoller) send(*conn)      {}
func (*uringPoller) resume(*conn)    {}
func (*uringPoller) complete()       {}

// asUring is nil: every poller here is a readiness one.
func asUring(poller) *uringPoller { return nil }
func (*uringPoller) pause(*conn)  {}
