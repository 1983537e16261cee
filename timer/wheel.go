package timer

import (
	"math"
	"math/bits"
	"time"
)

// The wheel has numLevels levels of 64 slots. A slot at level l spans 64^l
// ticks, so eleven levels cover every uint64 tick count: any delay a
// time.Duration can express is filed directly, with no overflow list.
const (
	slotBits      = 6
	slotsPerLevel = 1 << slotBits
	slotMask      = slotsPerLevel - 1
	numLevels     = (64 + slotBits - 1) / slotBits
	numSlots      = numLevels * slotsPerLevel

	// readyList holds calls whose due time was not after Now when they
	// were scheduled: they fire at the start of the next Advance.
	readyList = numSlots
	// firingList holds calls the current Advance found due. A callback
	// that panics leaves the rest here, and the next Advance fires them
	// first.
	firingList = numSlots + 1
	// heldList holds the calls of a WithLaggingNow wheel scheduled
	// relative to Now since the last Advance or Settle, in scheduling
	// order; each entry's when is its delay until Settle files it.
	heldList = numSlots + 2
	numLists = numSlots + 3
)

// DefaultTick is the wheel's resolution unless WithTick says otherwise.
const DefaultTick = time.Millisecond

// Option configures a Wheel.
type Option func(*Wheel)

// WithTick sets the wheel's resolution: a call fires at most one tick after
// its due time. A tick of zero or less leaves the default, DefaultTick.
func WithTick(d time.Duration) Option {
	return func(w *Wheel) {
		if d > 0 {
			w.tick = int64(d)
		}
	}
}

// WithLaggingNow is for an owner whose Now lags the real clock between two
// Advances, as a reactor loop's does: it reads the clock once per turn, then
// runs callbacks that may arm timeouts for data read after that reading.
// Counting those deadlines from Now would fire them early by the lag.
//
// On such a wheel a call scheduled relative to Now with a positive delay
// (CallLater, Handle.Reset) is held: it is pending (Active, cancellable,
// resettable) but its due time is fixed only by the next Advance or Settle,
// as that time plus the delay. The owner reads the clock for that Advance
// after the call was made, so the call never fires earlier than its delay
// after it was made, and fires late by no more than the time until that
// reading. Held calls are filed in the order they were made, after the
// calls already pending. CallAt, and delays of zero or less (which are due
// on the next Advance), are not held.
//
// The owner must call Advance or Settle before sleeping until
// NextDeadline, which reports Now while calls are held. The clock reading
// that fixes the deadlines is the owner's, so the wheel stays free of
// syscalls, and an owner that already reads the clock once per turn pays
// nothing more per timer.
func WithLaggingNow() Option {
	return func(w *Wheel) { w.lagging = true }
}

// Wheel is a hierarchical timing wheel: schedule, cancel and reset are O(1),
// and so is an Advance over any stretch of time in which nothing is due.
// Its owner passes the time in: it calls Advance with the current time on
// every loop iteration and may sleep until NextDeadline.
//
// A call due at time t fires in the first Advance whose time is at or after
// t, never earlier and at most one tick later. Calls due in the same tick
// fire in the order they were scheduled. See the package documentation for
// calls scheduled while an Advance is firing.
//
// Callbacks may schedule, cancel and reset calls, including their own
// handle (which is no longer pending), and may even call Advance. A panic
// escaping a callback propagates out of Advance and leaves the wheel
// consistent: the calls that were still due fire on the next Advance.
//
// A Wheel is not safe for concurrent use. It implements Scheduler.
type Wheel struct {
	origin time.Time
	now    time.Time
	// nowOff is now as nanoseconds since origin; it never decreases.
	nowOff int64
	tick   int64
	// lagging is WithLaggingNow: relative calls wait on heldList.
	lagging bool
	// cur is the last tick the wheel has processed. Every entry in the
	// levels has expire > cur and sits in the slot given by (expire, cur):
	// the level of the highest 6-bit group in which they differ.
	cur uint64
	// levels has bit l set when level l holds an entry; occ[l] has bit s
	// set when slot s of level l does. Together they find the next
	// non-empty slot without looking at empty ones.
	levels uint16
	occ    [numLevels]uint64
	count  int
	free   *entry
	// dlTick and dlTime memoize the conversion of the last due tick
	// NextDeadline reported: an idle loop asks for the same one on every
	// iteration.
	dlTick uint64
	dlTime time.Time
	lists  [numLists]slotList
}

var _ Scheduler = (*Wheel)(nil)

// NewWheel returns an empty wheel whose time starts at now. Pass a time
// with a monotonic clock reading (time.Now()) so that wall-clock jumps do not
// move timers.
func NewWheel(now time.Time, opts ...Option) *Wheel {
	w := &Wheel{origin: now, now: now, tick: int64(DefaultTick), dlTick: math.MaxUint64}
	for _, o := range opts {
		if o != nil {
			o(w)
		}
	}
	return w
}

// Now returns the time given to the last Advance, or to NewWheel.
func (w *Wheel) Now() time.Time { return w.now }

// Tick returns the wheel's resolution.
func (w *Wheel) Tick() time.Duration { return time.Duration(w.tick) }

// Len returns the number of pending calls.
func (w *Wheel) Len() int { return w.count }

// CancelAll cancels every pending call, as Cancel on each of their handles
// would, and returns how many there were. The wheel keeps none of their
// funcs afterwards; it stays usable.
func (w *Wheel) CancelAll() int {
	n := 0
	for i := range w.lists {
		for e := w.lists[i].head; e != nil; e = w.lists[i].head {
			w.unlink(e)
			w.release(e)
			n++
		}
	}
	return n
}

// CallLater schedules fn to run d after Now (on a WithLaggingNow wheel, d
// after the time of the next Advance or Settle). A delay of zero or less
// runs fn on the next Advance. A nil fn schedules nothing and returns the
// zero Handle.
func (w *Wheel) CallLater(d time.Duration, fn func()) Handle {
	if fn == nil {
		return Handle{}
	}
	e := w.alloc()
	e.fn = fn
	w.count++
	w.placeIn(e, int64(d))
	return Handle{e: e, gen: e.gen}
}

// Held reports whether calls are held waiting for Advance or Settle to fix
// their due times (see WithLaggingNow).
func (w *Wheel) Held() bool { return w.lists[heldList].head != nil }

// Settle moves the wheel's time to now, as Advance does, and fixes the due
// time of every held call from it (see WithLaggingNow), firing nothing. A
// time earlier than Now does not move time back.
func (w *Wheel) Settle(now time.Time) {
	w.moveTo(now)
	if w.lists[heldList].head != nil {
		w.settle()
	}
}

func (w *Wheel) moveTo(now time.Time) {
	if off := int64(now.Sub(w.origin)); off > w.nowOff {
		w.nowOff = off
		w.now = now
	}
}

// settle files the held calls, in the order they were held, d after Now.
func (w *Wheel) settle() {
	l := &w.lists[heldList]
	for e := l.head; e != nil; e = l.head {
		l.remove(e)
		w.place(e, addSat(w.nowOff, e.when))
	}
}

// placeIn files a pending entry due d after Now, or holds it.
func (w *Wheel) placeIn(e *entry, d int64) {
	if w.lagging && d > 0 {
		e.when = d
		w.push(e, heldList)
		return
	}
	w.place(e, addSat(w.nowOff, d))
}

// CallAt schedules fn to run at t. A time not after Now runs fn on the next
// Advance. A nil fn schedules nothing and returns the zero Handle.
func (w *Wheel) CallAt(t time.Time, fn func()) Handle {
	return w.schedule(int64(t.Sub(w.origin)), fn)
}

func (w *Wheel) schedule(when int64, fn func()) Handle {
	if fn == nil {
		return Handle{}
	}
	e := w.alloc()
	e.fn = fn
	w.count++
	w.place(e, when)
	return Handle{e: e, gen: e.gen}
}

// Advance moves the wheel's time to now and fires, in order, every call due
// at or before it. It returns how many calls it fired. A time earlier than
// Now does not move time back; the calls already due still fire.
//
// Held calls (WithLaggingNow) get their due times from now first, so none
// of them fires in this Advance; calls held while it fires wait for the
// next Advance or Settle.
func (w *Wheel) Advance(now time.Time) int {
	w.moveTo(now)
	if w.lists[heldList].head != nil {
		w.settle()
	}
	target := uint64(w.nowOff / w.tick)
	if w.lists[readyList].head != nil {
		w.takeReady()
	}
	fired := 0
	for {
		fired += w.fire()
		level, slot, start, ok := w.nextSlot()
		if !ok || start > target {
			break
		}
		// Every slot below this one is empty, so moving cur to its start
		// leaves every other entry where (expire, cur) says it belongs.
		w.cur = start
		w.cascade(level, slot)
	}
	// A callback may have advanced the wheel further (a nested Advance).
	if target > w.cur {
		w.cur = target
	}
	return fired
}

// NextDeadline returns the time by which the owner must call Advance again,
// and false when no call is pending. It is never later than the due time of
// the earliest call rounded up to a tick. It is Now when calls are already
// due. It may be earlier than the earliest call after cancellations, or
// when the earliest call is far away and the wheel needs to re-file it;
// the owner then wakes up, Advance fires nothing, and NextDeadline moves on.
// While calls are held (WithLaggingNow) it is Now: the owner must Advance or
// Settle before it can know how long to sleep.
func (w *Wheel) NextDeadline() (time.Time, bool) {
	if w.lists[readyList].head != nil || w.lists[firingList].head != nil || w.lists[heldList].head != nil {
		return w.now, true
	}
	level, slot, start, ok := w.nextSlot()
	if !ok {
		return time.Time{}, false
	}
	due := w.lists[level*slotsPerLevel+slot].min
	if due < start {
		due = start
	}
	if due != w.dlTick {
		w.dlTick, w.dlTime = due, w.origin.Add(time.Duration(mulSat(due, w.tick)))
	}
	return w.dlTime, true
}

// nextSlot finds the earliest non-empty slot. Entries of a lower level are
// all due before those of a higher one (they share more high bits with
// cur), so it is the first occupied slot of the lowest occupied level.
func (w *Wheel) nextSlot() (level, slot int, start uint64, ok bool) {
	if w.levels == 0 {
		return 0, 0, 0, false
	}
	level = bits.TrailingZeros16(w.levels)
	slot = bits.TrailingZeros64(w.occ[level])
	shift := uint(level * slotBits)
	// Go defines shifts by 64 or more as giving 0, which the top level
	// relies on.
	start = w.cur>>(shift+slotBits)<<(shift+slotBits) | uint64(slot)<<shift
	return level, slot, start, true
}

// cascade empties a slot whose start is w.cur: entries due now move to the
// firing list, the others go down to a lower level. List order is kept, so
// calls due in the same tick stay in scheduling order.
func (w *Wheel) cascade(level, slot int) {
	l := &w.lists[level*slotsPerLevel+slot]
	e := l.head
	l.head, l.tail = nil, nil
	w.clearOcc(level, slot)
	for e != nil {
		next := e.next
		if e.expire <= w.cur {
			w.push(e, firingList)
		} else {
			w.insert(e)
		}
		e = next
	}
}

// fire runs the firing list. Each entry is released before its function
// runs, so the callback sees its own handle as no longer pending, and a
// panic leaves only not-yet-fired calls on the list.
func (w *Wheel) fire() int {
	n := 0
	l := &w.lists[firingList]
	for e := l.head; e != nil; e = l.head {
		l.remove(e)
		e.where = notPending
		fn := e.fn
		w.release(e)
		n++
		fn()
	}
	return n
}

// takeReady appends the ready list to the firing list. Calls made ready
// from now on wait for the next Advance.
func (w *Wheel) takeReady() {
	r, f := &w.lists[readyList], &w.lists[firingList]
	for e := r.head; e != nil; e = e.next {
		e.where = firingList
	}
	if f.tail == nil {
		f.head = r.head
	} else {
		f.tail.next = r.head
		r.head.prev = f.tail
	}
	f.tail = r.tail
	r.head, r.tail = nil, nil
}

// place files a pending entry due at when (nanoseconds since origin).
func (w *Wheel) place(e *entry, when int64) {
	e.when = when
	if when <= w.nowOff {
		e.expire = w.cur
		w.push(e, readyList)
		return
	}
	q := when / w.tick
	if when%w.tick != 0 {
		q++
	}
	e.expire = uint64(q)
	w.insert(e)
}

// insert files e, whose expire is after cur, in the slot (expire, cur)
// designates.
func (w *Wheel) insert(e *entry) {
	level := (63 - bits.LeadingZeros64(e.expire^w.cur)) / slotBits
	slot := int(e.expire>>uint(level*slotBits)) & slotMask
	w.push(e, level*slotsPerLevel+slot)
	w.occ[level] |= 1 << uint(slot)
	w.levels |= 1 << uint(level)
}

func (w *Wheel) push(e *entry, list int) {
	e.where = int32(list)
	w.lists[list].push(e)
}

// unlink takes a pending entry off its list.
func (w *Wheel) unlink(e *entry) {
	idx := int(e.where)
	l := &w.lists[idx]
	l.remove(e)
	if l.head == nil && idx < numSlots {
		w.clearOcc(idx/slotsPerLevel, idx%slotsPerLevel)
	}
	e.where = notPending
}

func (w *Wheel) clearOcc(level, slot int) {
	w.occ[level] &^= 1 << uint(slot)
	if w.occ[level] == 0 {
		w.levels &^= 1 << uint(level)
	}
}

// alloc takes an entry off the free list, refilling it a slab at a time.
func (w *Wheel) alloc() *entry {
	if w.free == nil {
		slab := make([]entry, slabSize)
		for i := range slab {
			slab[i].w = w
			slab[i].where = notPending
			if i+1 < len(slab) {
				slab[i].next = &slab[i+1]
			}
		}
		w.free = &slab[0]
	}
	e := w.free
	w.free = e.next
	e.next = nil
	return e
}

// release recycles an entry that is on no list. Dropping fn here is what
// keeps a long-lived wheel from holding on to its users' closures.
func (w *Wheel) release(e *entry) {
	e.fn = nil
	e.gen++
	e.prev = nil
	e.next = w.free
	w.free = e
	w.count--
}

func addSat(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

func mulSat(t uint64, tick int64) int64 {
	if t > uint64(math.MaxInt64/tick) {
		return math.MaxInt64
	}
	return int64(t) * tick
}
