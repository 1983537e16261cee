package reactor

import "runtime"

// onLoop reports whether the caller runs on this loop's goroutine. It costs
// about a microsecond (see currentGoroutineID): for rare calls only.
func (l *loop) onLoop() bool {
	id := l.gid.Load()
	return id != 0 && id == currentGoroutineID()
}

// currentGoroutineID returns the current goroutine's id, read from the
// header of its stack trace ("goroutine 42 [running]:").
func currentGoroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = b[min(len(b), len("goroutine ")):]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
