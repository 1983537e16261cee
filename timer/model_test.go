package timer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// This file checks the Wheel against a reference model: a plain list of
// calls searched for the minimum on every step. Both are driven by the
// same byte stream, which decodes into schedule, cancel, reset and advance
// operations, some of them performed from inside firing callbacks. The
// fired calls (set and order), every return value, Len, When and
// NextDeadline must agree after each operation.
//
// Half of the streams drive a WithLaggingNow wheel, whose relative calls
// (CallLater, Reset with a positive delay) are held until the next Advance
// or Settle and count from its time; the reference holds them the same way.

// modelTicks are the resolutions the stream chooses from: the Clock's
// nanosecond, the reactor's millisecond, and odd values that make rounding
// show.
var modelTicks = []int64{1, int64(time.Millisecond), 3, 1000, 7}

// action is what a callback does when it fires.
type action struct {
	kind   byte // actNone, actCancel, actReset, actSchedule
	target byte // the call acted upon: target % (calls so far)
	delay  int64
}

const (
	actNone = iota
	actCancel
	actReset
	actSchedule
	numActs
)

// opStream decodes a byte slice; it reads zeros once exhausted.
type opStream struct{ b []byte }

func (s *opStream) done() bool { return len(s.b) == 0 }

func (s *opStream) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *opStream) u16() uint64 { return uint64(s.byte())<<8 | uint64(s.byte()) }

func (s *opStream) u32() uint64 { return s.u16()<<16 | s.u16() }

// delay decodes a delay spread over every level of the wheel, with zero,
// negative, sub-tick and saturating values.
func (s *opStream) delay(tick int64) int64 {
	switch s.byte() % 8 {
	case 0:
		return 0
	case 1:
		return -int64(s.byte())
	case 2, 3:
		return int64(s.byte()) * tick / 4
	case 4:
		return int64(s.u16())*tick + int64(s.byte())
	case 5:
		return int64(s.u32()) * tick
	case 6:
		return int64(s.u16()<<20) * tick
	default:
		return math.MaxInt64 - int64(s.byte())
	}
}

// step decodes how far an advance moves time; mostly a few ticks.
func (s *opStream) step(tick int64) int64 {
	switch s.byte() % 6 {
	case 0:
		return 0
	case 1, 2:
		return int64(s.byte()) * tick / 4
	case 3:
		return int64(s.u16()) * tick
	case 4:
		return int64(s.u32()) * tick
	default:
		return int64(s.u16()<<20) * tick
	}
}

func (s *opStream) action(tick int64) action {
	a := action{kind: s.byte() % numActs}
	if a.kind != actNone {
		a.target = s.byte()
		a.delay = s.delay(tick)
	}
	return a
}

// model is what the driver needs from both the wheel and the reference.
type model interface {
	schedule(when int64, a action) // absolute when, ns since origin
	later(d int64, a action)       // relative to now: CallLater
	settle(to int64)
	cancel(id int) bool
	reset(id int, d int64) bool
	advance(to int64) int
	now() int64
	calls() int
	fired() []int
	length() int
	when(id int) (int64, bool)
}

// refCall is one call of the reference model.
type refCall struct {
	pending bool
	ready   bool // due at or before now when scheduled
	fresh   bool // made ready during the current advance
	held    bool // lagging: waits for the next advance or settle
	delay   int64
	due     uint64
	when    int64
	seq     uint64
	act     action
}

// refModel is the specification: calls are due at tick ceil(when/tick);
// an advance fires, in (ready first, due tick, scheduling order), every
// pending call that is due by its end, except those made ready while it
// runs, which wait for the next advance. When lagging, a call scheduled or
// reset with a positive delay is held: an advance or settle first moves
// time, then files the held calls, in the order they were held, delay after
// the new time; calls held while an advance fires stay held.
type refModel struct {
	tick    int64
	lagging bool
	nowOff  int64
	cs      []*refCall
	seq     uint64
	log     []int
	firing  bool
}

func (r *refModel) file(c *refCall, when int64) {
	c.held = false
	c.when, c.seq = when, r.seq
	r.seq++
	c.ready = when <= r.nowOff
	c.fresh = c.ready && r.firing
	if !c.ready {
		q := when / r.tick
		if when%r.tick != 0 {
			q++
		}
		c.due = uint64(q)
	}
}

func (r *refModel) schedule(when int64, a action) {
	c := &refCall{pending: true, act: a}
	r.cs = append(r.cs, c)
	r.file(c, when)
}

// fileIn files c delay d after now, or holds it.
func (r *refModel) fileIn(c *refCall, d int64) {
	if r.lagging && d > 0 {
		c.held, c.delay, c.seq = true, d, r.seq
		r.seq++
		return
	}
	r.file(c, addSat(r.nowOff, d))
}

func (r *refModel) later(d int64, a action) {
	c := &refCall{pending: true, act: a}
	r.cs = append(r.cs, c)
	r.fileIn(c, d)
}

func (r *refModel) settle(to int64) {
	if to > r.nowOff {
		r.nowOff = to
	}
	var held []*refCall
	for _, c := range r.cs {
		if c.pending && c.held {
			held = append(held, c)
		}
	}
	slices.SortFunc(held, func(a, b *refCall) int { return int(a.seq - b.seq) })
	for _, c := range held {
		r.file(c, addSat(r.nowOff, c.delay))
	}
}

func (r *refModel) cancel(id int) bool {
	c := r.cs[id]
	if !c.pending {
		return false
	}
	c.pending = false
	return true
}

func (r *refModel) reset(id int, d int64) bool {
	c := r.cs[id]
	if !c.pending {
		return false
	}
	r.fileIn(c, d)
	return true
}

func (r *refModel) advance(to int64) int {
	r.settle(to)
	target := uint64(r.nowOff / r.tick)
	r.firing = true
	n := 0
	for {
		best := -1
		for id, c := range r.cs {
			if !c.pending || c.held || (c.ready && c.fresh) || (!c.ready && c.due > target) {
				continue
			}
			if best < 0 || refBefore(c, r.cs[best]) {
				best = id
			}
		}
		if best < 0 {
			break
		}
		c := r.cs[best]
		c.pending = false
		r.log = append(r.log, best)
		n++
		perform(r, c.act)
	}
	r.firing = false
	for _, c := range r.cs {
		c.fresh = false
	}
	return n
}

func refBefore(a, b *refCall) bool {
	if a.ready != b.ready {
		return a.ready
	}
	if !a.ready && a.due != b.due {
		return a.due < b.due
	}
	return a.seq < b.seq
}

func (r *refModel) now() int64   { return r.nowOff }
func (r *refModel) calls() int   { return len(r.cs) }
func (r *refModel) fired() []int { return r.log }

func (r *refModel) length() int {
	n := 0
	for _, c := range r.cs {
		if c.pending {
			n++
		}
	}
	return n
}

func (r *refModel) when(id int) (int64, bool) {
	c := r.cs[id]
	if c.held {
		return addSat(r.nowOff, c.delay), c.pending
	}
	return c.when, c.pending
}

// deadline is the earliest tick-rounded due time, or now when calls are
// ready or held.
func (r *refModel) deadline() (int64, bool) {
	var best uint64 = math.MaxUint64
	found := false
	for _, c := range r.cs {
		if !c.pending {
			continue
		}
		found = true
		if c.ready || c.held {
			return r.nowOff, true
		}
		best = min(best, c.due)
	}
	return mulSat(best, r.tick), found
}

func (r *refModel) readyOrHeld() bool {
	for _, c := range r.cs {
		if c.pending && (c.ready || c.held) {
			return true
		}
	}
	return false
}

// perform runs a callback's action on the model it fired in.
func perform(m model, a action) {
	if a.kind == actNone {
		return
	}
	target := int(a.target) % m.calls()
	switch a.kind {
	case actCancel:
		m.cancel(target)
	case actReset:
		m.reset(target, a.delay)
	case actSchedule:
		m.later(a.delay, action{})
	}
}

// wheelModel drives a real Wheel.
type wheelModel struct {
	w      *Wheel
	origin time.Time
	hs     []Handle
	log    []int
}

func (m *wheelModel) at(off int64) time.Time { return m.origin.Add(time.Duration(off)) }

func (m *wheelModel) schedule(when int64, a action) {
	id := len(m.hs)
	m.hs = append(m.hs, m.w.CallAt(m.at(when), func() {
		m.log = append(m.log, id)
		perform(m, a)
	}))
}

func (m *wheelModel) later(d int64, a action) {
	id := len(m.hs)
	m.hs = append(m.hs, m.w.CallLater(time.Duration(d), func() {
		m.log = append(m.log, id)
		perform(m, a)
	}))
}

func (m *wheelModel) settle(to int64)            { m.w.Settle(m.at(to)) }
func (m *wheelModel) cancel(id int) bool         { return m.hs[id].Cancel() }
func (m *wheelModel) reset(id int, d int64) bool { return m.hs[id].Reset(time.Duration(d)) }
func (m *wheelModel) advance(to int64) int       { return m.w.Advance(m.at(to)) }
func (m *wheelModel) now() int64                 { return int64(m.w.Now().Sub(m.origin)) }
func (m *wheelModel) calls() int                 { return len(m.hs) }
func (m *wheelModel) fired() []int               { return m.log }
func (m *wheelModel) length() int                { return m.w.Len() }

func (m *wheelModel) when(id int) (int64, bool) {
	h := m.hs[id]
	if !h.Active() {
		return 0, false
	}
	return int64(h.When().Sub(m.origin)), true
}

// runModel decodes data into operations, applies them to a Wheel and to
// the reference, and fails at the first disagreement.
func runModel(t testing.TB, data []byte, maxOps int) {
	s := &opStream{b: data}
	first := s.byte()
	tick := modelTicks[int(first&0x7f)%len(modelTicks)]
	lagging := first&0x80 != 0
	opts := []Option{WithTick(time.Duration(tick))}
	if lagging {
		opts = append(opts, WithLaggingNow())
	}
	origin := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	wm := &wheelModel{w: NewWheel(origin, opts...), origin: origin}
	rm := &refModel{tick: tick, lagging: lagging}
	ms := [2]model{wm, rm}
	for op := 0; op < maxOps && !s.done(); op++ {
		var res [2]int
		kind := s.byte() % 10
		switch kind {
		case 0, 1, 2: // schedule relative to now
			d, a := s.delay(tick), s.action(tick)
			for i, m := range ms {
				m.later(d, a)
				res[i] = m.calls()
			}
		case 3: // schedule at an absolute time, possibly in the past
			off := int64(s.u32())*tick/4 - int64(s.u16())
			a := s.action(tick)
			for i, m := range ms {
				m.schedule(off, a)
				res[i] = m.calls()
			}
		case 4:
			if rm.calls() == 0 {
				continue
			}
			id := int(s.u16()) % rm.calls()
			for i, m := range ms {
				res[i] = b2i(m.cancel(id))
			}
		case 5:
			if rm.calls() == 0 {
				continue
			}
			id, d := int(s.u16())%rm.calls(), s.delay(tick)
			for i, m := range ms {
				res[i] = b2i(m.reset(id, d))
			}
		case 6, 7, 8:
			to := addSat(rm.now(), s.step(tick))
			if lagging && kind == 8 {
				// A reactor loop settles before it sleeps.
				for _, m := range ms {
					m.settle(to)
				}
				break
			}
			for i, m := range ms {
				res[i] = m.advance(to)
			}
		case 9: // sleep exactly until NextDeadline, as a reactor loop does
			dl, ok := wm.w.NextDeadline()
			if !ok {
				continue
			}
			to := int64(dl.Sub(origin))
			for i, m := range ms {
				res[i] = m.advance(to)
			}
		}
		if res[0] != res[1] {
			t.Fatalf("op %d (kind %d): wheel returned %d, reference %d", op, kind, res[0], res[1])
		}
		compareModels(t, op, wm, rm)
	}
}

func compareModels(t testing.TB, op int, wm *wheelModel, rm *refModel) {
	t.Helper()
	if !slices.Equal(wm.log, rm.log) {
		t.Fatalf("op %d: fired calls differ\nwheel:     %v\nreference: %v", op, wm.log, rm.log)
	}
	if wm.now() != rm.now() {
		t.Fatalf("op %d: Now is %d, reference %d", op, wm.now(), rm.now())
	}
	if wm.length() != rm.length() {
		t.Fatalf("op %d: Len is %d, reference %d", op, wm.length(), rm.length())
	}
	for id := range rm.cs {
		ww, wok := wm.when(id)
		rw, rok := rm.when(id)
		if wok != rok || (rok && ww != rw) {
			t.Fatalf("op %d: call %d: When %d active %v, reference %d active %v", op, id, ww, wok, rw, rok)
		}
	}
	rd, rok := rm.deadline()
	dl, ok := wm.w.NextDeadline()
	if ok != rok {
		t.Fatalf("op %d: NextDeadline reports pending %v, reference %v", op, ok, rok)
	}
	if ok {
		d := int64(dl.Sub(wm.origin))
		switch {
		case rm.readyOrHeld() && d != rm.nowOff:
			t.Fatalf("op %d: calls are ready but NextDeadline is %d, not now %d", op, d, rm.nowOff)
		case rd <= rm.nowOff && d > rd:
			// A settle moved time past calls it did not fire.
			t.Fatalf("op %d: NextDeadline %d after the overdue call's %d", op, d, rd)
		case rd > rm.nowOff && (d <= rm.nowOff || d > rd):
			t.Fatalf("op %d: NextDeadline %d outside (now %d, earliest due %d]", op, d, rm.nowOff, rd)
		}
	}
	wm.w.checkInvariants(t)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkInvariants verifies the wheel's internal bookkeeping: every entry is
// in the slot (expire, cur) designates, occupancy bits match the lists,
// and Len matches the entries on lists.
func (w *Wheel) checkInvariants(t testing.TB) {
	t.Helper()
	n := 0
	for idx := range w.lists {
		l := &w.lists[idx]
		var prev *entry
		for e := l.head; e != nil; e = e.next {
			n++
			if e.prev != prev || int(e.where) != idx || e.fn == nil || e.w != w {
				t.Fatalf("list %d: broken entry %+v", idx, *e)
			}
			if idx < numSlots {
				level, slot := idx/slotsPerLevel, idx%slotsPerLevel
				if e.expire <= w.cur {
					t.Fatalf("slot %d/%d holds expire %d at cur %d", level, slot, e.expire, w.cur)
				}
				wl := (63 - leadingZeros(e.expire^w.cur)) / slotBits
				ws := int(e.expire>>uint(wl*slotBits)) & slotMask
				if wl != level || ws != slot {
					t.Fatalf("expire %d at cur %d is in slot %d/%d, belongs in %d/%d", e.expire, w.cur, level, slot, wl, ws)
				}
				if e.expire < l.min {
					t.Fatalf("slot %d/%d min %d above entry %d", level, slot, l.min, e.expire)
				}
			}
			prev = e
		}
		if l.tail != prev {
			t.Fatalf("list %d: tail is not the last entry", idx)
		}
		if idx < numSlots {
			level, slot := idx/slotsPerLevel, idx%slotsPerLevel
			if (w.occ[level]>>uint(slot)&1 == 1) != (l.head != nil) {
				t.Fatalf("slot %d/%d occupancy bit disagrees with its list", level, slot)
			}
		}
	}
	for level := range numLevels {
		if (w.levels>>uint(level)&1 == 1) != (w.occ[level] != 0) {
			t.Fatalf("level %d bit disagrees with its occupancy", level)
		}
	}
	if n != w.count {
		t.Fatalf("Len is %d, lists hold %d", w.count, n)
	}
}

func leadingZeros(x uint64) int {
	n := 0
	for x>>63 == 0 && n < 64 {
		x <<= 1
		n++
	}
	return n
}

// TestWheelMatchesReferenceModel runs random operation streams, with
// operations from inside callbacks, against the reference model.
func TestWheelMatchesReferenceModel(t *testing.T) {
	runs, ops := 300, 400
	if testing.Short() {
		runs = 50
	}
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		data := make([]byte, 4000)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		runModel(t, data, ops)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

// FuzzWheel is the fuzzing form of the model test; its seed corpus is in
// testdata/fuzz/FuzzWheel.
func FuzzWheel(f *testing.F) {
	f.Add([]byte{0, 0, 2, 4, 0, 0, 2, 4, 0, 6, 2, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		runModel(t, data, 1000)
	})
}
