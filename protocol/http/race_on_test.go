//go:build race

package http

// raceEnabled reports a race-detector build, whose allocations carry the
// detector's own bookkeeping: heap measurements are not comparable.
const raceEnabled = true
