//go:build linux

package reactor

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is the io_uring ring itself, ours and small, on raw system
// calls (io_uring_setup 425, io_uring_enter 426, io_uring_register 427):
// the submission and completion rings and the SQE array are mmap'd from
// the ring's fd, and the provided-buffer ring the kernel receives into is
// mmap'd anonymous memory. The kernel never holds a pointer into the Go
// heap except for the send buffers, which uring_linux.go pins (see
// sendSlot). Ordering with the kernel goes through sync/atomic loads and
// stores of the rings' head and tail words, which are sequentially
// consistent in Go and so give the acquire and release the protocol asks
// for.

// The uapi constants this backend uses (linux/io_uring.h).
const (
	iouSetupCQSize       = 1 << 3
	iouSetupClamp        = 1 << 4
	iouSetupSubmitAll    = 1 << 7
	iouSetupRDisabled    = 1 << 6
	iouSetupSingleIssuer = 1 << 12
	iouSetupDeferTaskrun = 1 << 13

	iouFeatSingleMmap = 1 << 0
	iouFeatNoDrop     = 1 << 1
	iouFeatFastPoll   = 1 << 5
	iouFeatExtArg     = 1 << 8
	iouFeatMinTimeout = 1 << 15

	iouEnterGetEvents = 1 << 0
	iouEnterExtArg    = 1 << 3

	iouSqeBufferSelect   = 1 << 5
	iouSqeCQESkipSuccess = 1 << 6

	iouCqeFBuffer  = 1 << 0
	iouCqeFMore    = 1 << 1
	iouCqeBufShift = 16

	iouOpPollAdd     = 6
	iouOpPollRemove  = 7
	iouOpAccept      = 13
	iouOpAsyncCancel = 14
	iouOpRead        = 22
	iouOpSend        = 26
	iouOpRecv        = 27

	iouPollAddMulti        = 1 << 0
	iouAcceptMultishot     = 1 << 0
	iouRecvMultishot       = 1 << 1
	iouAsyncCancelAll      = 1 << 0
	iouAsyncCancelFD       = 1 << 1
	iouRegisterProbe       = 8
	iouRegisterEnableRings = 12
	iouRegisterPbufRing    = 22
	iouUnregisterPbufRing  = 23
	iouRegisterSyncCancel  = 24
	iouProbeOpSupported    = 1 << 0

	iouOffSQRing = 0
	iouOffSQEs   = 0x10000000
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	opFlags  uint32
	userData uint64
	bufIndex uint16
	personal uint16
	fileIdx  int32
	addr3    uint64
	pad      uint64
}

// uringCQE is struct io_uring_cqe (16 bytes).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uringGeteventsArg is struct io_uring_getevents_arg.
type uringGeteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// uringSetup is io_uring_setup(2); a variable so that tests can make it
// fail as a kernel without io_uring or a seccomp profile would.
var uringSetup = func(entries uint32, p *uringParams) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// uringDisabledPath is the sysctl that turns io_uring off (2) or limits it
// to a group (1); a variable for tests.
var uringDisabledPath = "/proc/sys/kernel/io_uring_disabled"

// ring is one io_uring instance, used by one loop goroutine only (wake-ups
// from other goroutines go through an eventfd, never through the ring).
type ring struct {
	fd       int
	features uint32
	flags    uint32
	rings    []byte // SQ and CQ rings, one mapping (IORING_FEAT_SINGLE_MMAP)
	sqeMem   []byte

	sqHead, sqTail *uint32
	sqMask, sqSize uint32
	sqes           []uringSQE
	tail           uint32     // our SQ tail, published at submit
	unsubmitted    uint32     // SQEs made since the last io_uring_enter
	backlog        []uringSQE // SQEs made while the ring was full, in order

	// inline is how many of the requests queued since the last enter
	// are expected to complete during their submission (sends to a
	// socket with room), and minWait (µs, 0: off) how long a wait that
	// expects them waits for one more completion: see enter.
	inline  uint32
	minWait uint32

	// refusedSince is when the kernel began refusing submissions
	// (EAGAIN, ENOMEM, EBUSY) without taking any since; zero otherwise.
	refusedSince time.Time

	sys    uringEnterFunc // io_uring_enter(2)
	err    error          // why the ring is unusable, once it is
	enters uint64         // io_uring_enter calls, for tests and the bench

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []uringCQE

	// The wait's arguments, kept in the ring (heap, never moved) because
	// the kernel reads ts through a pointer inside arg.
	arg uringGeteventsArg
	ts  unix.Timespec
}

func newRing(entries, flags uint32) (*ring, error) {
	var p uringParams
	p.flags = flags | iouSetupClamp | iouSetupCQSize
	p.cqEntries = entries * 4
	fd, err := uringSetup(entries, &p)
	if err != nil {
		return nil, fmt.Errorf("io_uring_setup: %w", err)
	}
	r := &ring{fd: fd, features: p.features, flags: p.flags, sys: uringEnter}
	if p.features&iouFeatSingleMmap == 0 {
		r.close()
		return nil, errors.New("io_uring: kernel lacks IORING_FEAT_SINGLE_MMAP (Linux 5.4)")
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	r.rings, err = unix.Mmap(fd, iouOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: mmap rings: %w", err)
	}
	r.sqeMem, err = unix.Mmap(fd, iouOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: mmap SQEs: %w", err)
	}
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.rings[off])) }
	r.sqHead, r.sqTail = u32(p.sqOff.head), u32(p.sqOff.tail)
	r.sqMask, r.sqSize = *u32(p.sqOff.ringMask), p.sqEntries
	r.tail = atomic.LoadUint32(r.sqTail)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	// The indirection array maps ring slot i to SQE i once and for all.
	arr := unsafe.Slice((*uint32)(unsafe.Pointer(&r.rings[p.sqOff.array])), p.sqEntries)
	for i := range arr {
		arr[i] = uint32(i)
	}
	r.cqHead, r.cqTail = u32(p.cqOff.head), u32(p.cqOff.tail)
	r.cqMask = *u32(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&r.rings[p.cqOff.cqes])), p.cqEntries)
	return r, nil
}

// sqe returns a zeroed SQE to fill; it is submitted by the next enter.
// While the submission ring is full (more requests in one turn than it
// has entries, or a kernel that refused a submission for a moment) the
// SQE is kept in the backlog, in order, and enter moves it into the ring
// as the kernel takes what is there: making a request never blocks, never
// fails, and never overwrites an SQE the kernel has not taken.
func (r *ring) sqe() *uringSQE {
	if len(r.backlog) == 0 && r.tail-atomic.LoadUint32(r.sqHead) < r.sqSize {
		s := &r.sqes[r.tail&r.sqMask]
		*s = uringSQE{}
		r.tail++
		r.unsubmitted++
		atomic.StoreUint32(r.sqTail, r.tail)
		return s
	}
	r.backlog = append(r.backlog, uringSQE{})
	return &r.backlog[len(r.backlog)-1]
}

// refill moves backlog SQEs into the ring's free slots.
func (r *ring) refill() {
	n := 0
	for ; n < len(r.backlog) && r.tail-atomic.LoadUint32(r.sqHead) < r.sqSize; n++ {
		r.sqes[r.tail&r.sqMask] = r.backlog[n]
		r.tail++
		r.unsubmitted++
	}
	if n > 0 {
		atomic.StoreUint32(r.sqTail, r.tail)
		r.backlog = r.backlog[:copy(r.backlog, r.backlog[n:])]
	}
}

// uringEnterFunc is io_uring_enter(2): it returns what the kernel
// returned, a count or an errno.
type uringEnterFunc func(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr) (int, unix.Errno)

// uringEnter is the system call every new ring uses; a variable so that
// tests can make it fail as a broken ring would.
var uringEnter uringEnterFunc = func(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr) (int, unix.Errno) {
	var n uintptr
	var e unix.Errno
	if minComplete > 0 {
		// A wait may block: let the scheduler hand the P over.
		n, _, e = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit),
			uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
	} else {
		n, _, e = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit),
			0, uintptr(flags), uintptr(arg), argSize)
	}
	return int(n), e
}

// uringRefuseLimit is how long the kernel may refuse every submission
// before the ring counts as failed; a variable for tests.
var uringRefuseLimit = time.Second

// enter submits what is queued and, with minComplete > 0, waits for that
// many completions, at most for timeout nanoseconds (< 0: no bound). A wait
// that ends by its timeout, a signal or a full completion ring is not an
// error: the caller reaps what is there. Nor is a submission the kernel
// refused for a moment (EAGAIN, ENOMEM, EBUSY: it could not allocate, or
// the completions must be reaped first): what it did not take stays
// queued, and the next enter offers it again, unless the refusals have
// lasted uringRefuseLimit. Any other error means the ring is unusable: it
// is returned, and again by every later enter.
func (r *ring) enter(minComplete uint32, flags uint32, timeout int64) error {
	if r.err != nil {
		return r.err
	}
	// GETEVENTS also without waiting: with DEFER_TASKRUN, completions are
	// only posted while the submitter is in a GETEVENTS enter.
	flags |= iouEnterGetEvents
	for {
		r.refill()
		wait, fl := minComplete, flags
		var arg unsafe.Pointer
		var argSize uintptr
		r.arg.minWait = 0
		switch {
		case len(r.backlog) > 0:
			wait = 0 // submit the rest before sleeping
		case wait > 0 && r.inline > 0 && r.minWait > 0:
			// A send to a socket with room completes while it is
			// submitted, and its completion alone would end the wait
			// at once: the loop would turn once for it and enter again
			// to sleep. So wait for one completion more than the
			// inline ones, but no longer than minWait once there is
			// any (IORING_FEAT_MIN_TIMEOUT, Linux 6.12): a send that
			// did not complete inline is seen at most minWait late.
			// The kernel needs a general timeout for that rule. Off by
			// default (MUSTAINE_URING_KNOBS=merge): it halves the
			// enters of a one-connection echo, but the wait's timer
			// costs more than the enter it saves where arming one is
			// dear (10 µs per wait in this VM, docs/io_uring.md).
			wait += r.inline
			r.arg.minWait = r.minWait
			if timeout < 0 {
				timeout = int64(time.Hour)
			}
			fallthrough
		case wait > 0 && timeout >= 0:
			r.ts = unix.NsecToTimespec(timeout)
			r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
			fl |= iouEnterExtArg
			arg, argSize = unsafe.Pointer(&r.arg), unsafe.Sizeof(r.arg)
		}
		r.enters++
		n, e := r.sys(r.fd, r.unsubmitted, wait, fl, arg, argSize)
		if e != 0 {
			switch e {
			case unix.ETIME, unix.EINTR:
				return nil
			case unix.EBUSY, unix.EAGAIN, unix.ENOMEM:
				if r.unsubmitted == 0 && len(r.backlog) == 0 {
					return nil
				}
				// A refusal is transient; one that lasts is not: the
				// loop would spin on it for ever.
				now := time.Now()
				if r.refusedSince.IsZero() {
					r.refusedSince = now
				} else if now.Sub(r.refusedSince) >= uringRefuseLimit {
					r.err = fmt.Errorf("%w: io_uring_enter refused every submission for %v: %w",
						ErrRingFailed, uringRefuseLimit, e)
					return r.err
				}
				return nil
			}
			r.err = fmt.Errorf("%w: io_uring_enter: %w", ErrRingFailed, e)
			return r.err
		}
		if n > 0 && !r.refusedSince.IsZero() {
			r.refusedSince = time.Time{}
		}
		r.unsubmitted -= min(uint32(n), r.unsubmitted)
		r.inline = 0
		if len(r.backlog) == 0 || n == 0 {
			return nil
		}
	}
}

// cqTailNow is the kernel's completion tail; completions up to it may be
// read.
func (r *ring) cqTailNow() uint32 { return atomic.LoadUint32(r.cqTail) }

// cqAdvance hands the completion slots before head back to the kernel.
func (r *ring) cqAdvance(head uint32) { atomic.StoreUint32(r.cqHead, head) }

// cqReady is the number of completions waiting to be reaped.
func (r *ring) cqReady() uint32 { return atomic.LoadUint32(r.cqTail) - *r.cqHead }

// register is io_uring_register(2).
func (r *ring) register(op uint32, arg unsafe.Pointer, nr uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uintptr(op), uintptr(arg), uintptr(nr), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func (r *ring) close() error {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.rings != nil {
		unix.Munmap(r.rings)
		r.rings = nil
	}
	return unix.Close(r.fd)
}

// uringOpNames names the operations the backend needs, for the probe's
// error message.
var uringOpNames = map[uint8]string{
	iouOpPollAdd: "POLL_ADD", iouOpPollRemove: "POLL_REMOVE", iouOpAccept: "ACCEPT",
	iouOpAsyncCancel: "ASYNC_CANCEL", iouOpRead: "READ", iouOpSend: "SEND", iouOpRecv: "RECV",
}

// probeOps asks the kernel (IORING_REGISTER_PROBE) whether it supports
// every operation the backend uses.
func (r *ring) probeOps() error {
	const nops = 64
	// struct io_uring_probe: 16-byte header, then 8 bytes per op.
	buf := make([]byte, 16+8*nops)
	if err := r.register(iouRegisterProbe, unsafe.Pointer(&buf[0]), nops); err != nil {
		return fmt.Errorf("IORING_REGISTER_PROBE: %w", err)
	}
	lastOp := buf[0]
	var missing []string
	for op, name := range uringOpNames {
		if op > lastOp || buf[16+8*int(op)+2]&iouProbeOpSupported == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("kernel lacks io_uring operations %s", strings.Join(missing, ", "))
	}
	return nil
}

// uringProbe reports why the io_uring backend cannot run here, or nil: it
// reads io_uring_disabled, sets a small ring up, and checks the features
// and operations the backend uses, a provided-buffer ring included.
func uringProbe() error {
	if b, err := os.ReadFile(uringDisabledPath); err == nil && strings.TrimSpace(string(b)) == "2" {
		return errors.New("io_uring is disabled (" + uringDisabledPath + " = 2)")
	}
	r, err := newRing(8, 0)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("%w: kernel without io_uring", err)
		}
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("%w: io_uring refused (io_uring_disabled, or a seccomp profile)", err)
		}
		return err
	}
	defer r.close()
	need := uint32(iouFeatNoDrop | iouFeatExtArg | iouFeatFastPoll)
	if r.features&need != need {
		return fmt.Errorf("io_uring: kernel lacks features %#x (NODROP, EXT_ARG, FAST_POLL: Linux 5.11)", need&^r.features)
	}
	if err := r.probeOps(); err != nil {
		return err
	}
	br, err := newBufRing(r, 0, 8, 4096)
	if err != nil {
		return err
	}
	br.close(r)
	return nil
}

// bufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): the ring
// of buffer descriptors and the buffers themselves live in one anonymous
// mmap'd region, so what the kernel writes into is never Go heap.
type bufRing struct {
	mem     []byte // descriptors (16 bytes each), then the buffers
	descs   []uringBuf
	tail    *uint16
	local   uint16
	mask    uint16
	size    int // bytes per buffer
	bufBase int // offset of buffer 0 in mem
	bgid    uint16
}

// uringBuf is struct io_uring_buf; the ring's tail overlays the first
// one's resv field.
type uringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

// newBufRing registers a ring of n buffers of size bytes as group bgid and
// hands every buffer to the kernel.
func newBufRing(r *ring, bgid uint16, n, size int) (*bufRing, error) {
	descBytes := n * int(unsafe.Sizeof(uringBuf{}))
	pg := os.Getpagesize()
	descBytes = (descBytes + pg - 1) / pg * pg
	mem, err := unix.Mmap(-1, 0, descBytes+n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("io_uring: mmap buffer ring: %w", err)
	}
	b := &bufRing{mem: mem, size: size, bufBase: descBytes, bgid: bgid, mask: uint16(n - 1)}
	b.descs = unsafe.Slice((*uringBuf)(unsafe.Pointer(&mem[0])), n)
	b.tail = &b.descs[0].resv
	// struct io_uring_buf_reg
	reg := struct {
		ringAddr uint64
		entries  uint32
		bgid     uint16
		flags    uint16
		resv     [3]uint64
	}{ringAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), entries: uint32(n), bgid: bgid}
	if err := r.register(iouRegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("io_uring: IORING_REGISTER_PBUF_RING (Linux 5.19): %w", err)
	}
	for i := 0; i < n; i++ {
		b.put(uint16(i))
	}
	b.commit()
	return b, nil
}

// buf is buffer bid's memory.
func (b *bufRing) buf(bid uint16) []byte {
	off := b.bufBase + int(bid)*b.size
	return b.mem[off : off+b.size : off+b.size]
}

// put hands buffer bid back to the kernel; commit publishes the puts.
func (b *bufRing) put(bid uint16) {
	d := &b.descs[b.local&b.mask]
	d.addr = uint64(uintptr(unsafe.Pointer(&b.mem[b.bufBase+int(bid)*b.size])))
	d.len = uint32(b.size)
	d.bid = bid
	b.local++
}

func (b *bufRing) commit() { atomicStoreUint16(b.tail, b.local) }

func (b *bufRing) close(r *ring) {
	reg := struct {
		ringAddr uint64
		entries  uint32
		bgid     uint16
		flags    uint16
		resv     [3]uint64
	}{bgid: b.bgid}
	r.register(iouUnregisterPbufRing, unsafe.Pointer(&reg), 1)
	unix.Munmap(b.mem)
}

// atomicStoreUint16 publishes a 16-bit ring tail: sync/atomic has no
// 16-bit store, so the aligned 32-bit word holding it (the tail overlays
// the first descriptor's resv, beside its bid, which only we write) is
// updated with a compare-and-swap, in the machine's own byte order.
func atomicStoreUint16(p *uint16, v uint16) {
	word := (*uint32)(unsafe.Add(unsafe.Pointer(p), -2))
	for {
		old := atomic.LoadUint32(word)
		halves := *(*[2]uint16)(unsafe.Pointer(&old))
		halves[1] = v
		if atomic.CompareAndSwapUint32(word, old, *(*uint32)(unsafe.Pointer(&halves))) {
			return
		}
	}
}
