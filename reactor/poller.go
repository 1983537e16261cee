package reactor

import "time"

// Readiness bits a poller reports. They are hints: the loop always learns
// the truth from the read, write or accept call that follows, so a stale
// event for a reused fd number does no harm.
const (
	evRead  uint32 = 1 << iota // data, EOF or a pending connection
	evWrite                    // room in the send buffer, or connect finished
	evHup                      // the peer closed (RDHUP/HUP/EOF) or an error is pending
)

// pollEvent is one readiness report for one fd.
type pollEvent struct {
	fd    int32
	flags uint32
}

// poller is the small interface every OS backend implements: epoll on Linux
// (poller_epoll.go), kqueue on the BSDs and macOS (poller_kqueue.go).
//
// Connections are registered once, edge-triggered for both directions, and
// never modified afterwards: writes need no epoll_ctl, and pausing reads is
// done by not reading (the kernel's buffer fills and the peer is held back).
// Listeners are level-triggered so that a backlog left after a bounded batch
// of accepts is reported again.
type poller interface {
	// addConn registers a connected (or connecting) socket.
	addConn(fd int) error
	// addListener registers a listening socket shared by every loop.
	addListener(fd int) error
	// remove unregisters fd (closing an fd also unregisters it).
	remove(fd int) error
	// wait fills events and returns how many it filled; timeout < 0 blocks
	// until an event or a wake-up, 0 returns at once.
	wait(events []pollEvent, timeout time.Duration) (int, error)
	// wake interrupts a blocked wait from another goroutine.
	wake() error
	// close releases the poller's own fds.
	close() error
}
