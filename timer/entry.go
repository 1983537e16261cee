package timer

// entry is one scheduled call. Entries are allocated in slabs, linked into
// the wheel's lists while pending and onto its free list once they fired or
// were cancelled. The layout is kept to 64 bytes: a pending timer costs one
// entry and nothing else.
type entry struct {
	fn   func()
	next *entry
	prev *entry
	w    *Wheel
	// when is the exact due time in nanoseconds since the wheel's origin;
	// it answers Handle.When. For a held entry (on heldList) it is the
	// delay still to be counted from the next Advance or Settle.
	when int64
	// expire is the due tick, ceil(when/tick); it decides placement.
	expire uint64
	// gen changes every time the entry is recycled, so that a Handle taken
	// before can tell it no longer refers to the same call.
	gen uint64
	// where is the index of the list holding the entry in w.lists, or
	// notPending.
	where int32
}

// notPending marks an entry that is on no list: on the free list, or
// being fired.
const notPending = -1

// slabSize is how many entries are allocated at once when the free list
// runs dry. 255, not 256: an object over 512 bytes that holds pointers
// carries an 8-byte allocation header, so 256 × 64 bytes would spill into
// the next size class (18 KiB) and cost 8 more bytes per timer, while
// 255 × 64 + 8 fits the 16 KiB class.
const slabSize = 255

// slotList is a FIFO of entries. FIFO order within a slot is what makes
// calls due in the same tick fire in scheduling order: two calls with the
// same due tick always sit in the same slot, and cascading moves a slot's
// entries down in list order.
type slotList struct {
	head, tail *entry
	// min is a lower bound of the due ticks in the list: exact after
	// pushes, possibly stale-low after removals, which only makes the
	// owner wake up early, never late.
	min uint64
}

func (l *slotList) push(e *entry) {
	e.next = nil
	e.prev = l.tail
	if l.tail == nil {
		l.head = e
		l.min = e.expire
	} else {
		l.tail.next = e
		if e.expire < l.min {
			l.min = e.expire
		}
	}
	l.tail = e
}

func (l *slotList) remove(e *entry) {
	if e.prev == nil {
		l.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		l.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	e.next, e.prev = nil, nil
}
