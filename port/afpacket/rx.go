package afpacket

// The receive side: a fabric.InQueue over the TPACKET_V2 ring.
//
//	frames:  ... kernel | lent or parsed, not released | handed over, unparsed | kernel ...
//	                      ^ frame of ents[rel]            ^ next
//	copies:  ... free | holding packets of ents[rel:end] | free ...
//	                    ^ cpHead                          ^ cpTail
//
// Receive parses handed-over frames in ring order into ents while fewer
// packets than the caller asked for are waiting, and lends ents[rel:]. A
// frame the kernel marked TP_STATUS_COPY holds only the head of a packet
// longer than a frame (a GSO packet): Receive fetches the whole packet from
// the socket with recvmsg into the next copy buffer, and lends that instead.
// Frames that hold nothing to lend (truncated, malformed) go back to the
// kernel at once; Release gives back the frames, and the copy buffers, of
// the released packets. Only the input goroutine touches this state; the
// kernel sees only the frames' status words.

import (
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"github.com/mswitch/mswitch/internal/busypoll"
	"github.com/mswitch/mswitch/internal/coalesce"
	"golang.org/x/sys/unix"
)

// pollSpins is how many empty polls ModePoll makes before it yields.
const pollSpins = 16

const (
	// copySize is the size of a copy buffer: a 64 KB GSO packet, its
	// Ethernet and VLAN headers and copyHeadroom.
	copySize = 68 << 10
	// copyHeadroom is kept in front of a copied packet for the VLAN tag
	// that insertVLAN puts back.
	copyHeadroom = 64
)

type inQueue struct {
	p       *Port
	s       *sock
	idx     int
	ring    []byte
	fsize   int
	mask    uint32 // frames − 1, also the mask of ents
	vnetLen int
	poll    bool

	next uint32 // free-running index of the next frame to parse

	ents     []fabric.Slot // circular, one per frame
	own      []entOwner    // by ent
	rel, end uint32        // free-running indices into ents

	copies         []byte // ncopy buffers of copySize, anonymous mapping
	ncopy          uint32 // a power of two
	cpHead, cpTail uint32 // free-running: buffers [cpHead, cpTail) hold lent packets
	cpHdr          [vnet.Len]byte
	cpIov          [2]unix.Iovec
	cpMsg          unix.Msghdr

	empty int // empty polls in a row (ModePoll)
	// mod is the coalescing of ModeInterrupt and ModeAdaptive (Receive
	// holds a small batch of a stream back, Wait pauses); it never holds
	// anything in ModePoll.
	mod         coalesce.Moderator
	interrupted atomic.Bool
	readyFn     func(fd uintptr) bool // q.ready, bound once: Wait allocates nothing

	// bp is the queue in the busy-polling group (ModeAdaptive), else nil.
	// sleepNext is next when the goroutine went to sleep: the frame other
	// members look at (next itself is not theirs to read).
	bp        *busypoll.Member
	sleepNext atomic.Uint32

	// Counters, written by the input goroutine only.
	packets, bytes, copied, truncated, bad atomic.Uint64
}

// entOwner is what a lent packet holds: its ring frame and maybe a copy
// buffer.
type entOwner struct {
	frame uint32
	copy  bool
}

var _ fabric.InQueue = (*inQueue)(nil)

func newInQueue(p *Port, s *sock, idx int, ring, copies []byte, vnetLen int) *inQueue {
	n := p.cfg.Frames
	q := &inQueue{
		p: p, s: s, idx: idx, ring: ring, fsize: p.cfg.FrameSize, mask: uint32(n - 1),
		vnetLen: vnetLen, poll: p.cfg.Mode == ModePoll,
		ents: make([]fabric.Slot, n), own: make([]entOwner, n),
		copies: copies, ncopy: uint32(p.cfg.CopyBufs),
	}
	// recvmsg writes the virtio-net header first, then the packet.
	q.cpIov[0].Base = &q.cpHdr[0]
	q.cpIov[0].SetLen(vnet.Len)
	if vnetLen > 0 {
		q.cpMsg.Iov = &q.cpIov[0]
		q.cpMsg.SetIovlen(2)
	} else {
		q.cpMsg.Iov = &q.cpIov[1]
		q.cpMsg.SetIovlen(1)
	}
	if p.cfg.Mode != ModePoll {
		q.mod = coalesce.New(p.cfg.Coalesce)
	}
	q.readyFn = q.ready
	return q
}

// status returns the status word of frame i.
func (q *inQueue) status(i uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&q.ring[int(i&q.mask)*q.fsize+frStatusOff]))
}

func (q *inQueue) frame(i uint32) []byte {
	o := int(i&q.mask) * q.fsize
	return q.ring[o : o+q.fsize : o+q.fsize]
}

func (q *inQueue) copyBuf(i uint32) []byte {
	o := int(i&(q.ncopy-1)) * copySize
	return q.copies[o : o+copySize : o+copySize]
}

// Receive implements fabric.InQueue.
func (q *inQueue) Receive(slots []fabric.Slot) int {
	for int(q.end-q.rel) < len(slots) && q.parseNext() {
	}
	n := min(len(slots), int(q.end-q.rel))
	bytes := 0
	if n < coalesce.Batch && q.mod.Enabled() {
		for k := 0; k < n; k++ {
			bytes += len(q.ents[(q.rel+uint32(k))&q.mask].Buf)
		}
	}
	if q.mod.Hold(n, bytes, len(slots)) {
		return 0 // parsed, lent after Wait's pause
	}
	if n > 0 {
		q.empty = 0
		if q.bp != nil {
			q.bp.Busy()
		}
	}
	for k := 0; k < n; k++ {
		slots[k] = q.ents[(q.rel+uint32(k))&q.mask]
	}
	return n
}

// parseNext parses the next frame if the kernel handed it over, and reports
// whether it did.
func (q *inQueue) parseNext() bool {
	i := q.next
	st := atomic.LoadUint32(q.status(i))
	if st&tpStatusUser == 0 {
		return false
	}
	copied := st&tpStatusCopy != 0
	if copied && q.cpTail-q.cpHead == q.ncopy {
		return false // the fabric holds every copy buffer: wait for a Release
	}
	q.next++
	f := q.frame(i)
	r, v := parseFrame(f, q.vnetLen)
	buf, floor := f, frHdrLen
	if copied {
		// The packet waits in the socket whatever the frame says: fetch
		// it, or the copies would fall out of step with the frames.
		buf, floor = q.copyBuf(q.cpTail), 0
		n, ok := q.fetch(buf[copyHeadroom:])
		switch {
		case !ok:
			v = frameTruncated
		case v == frameOK && n != r.wire:
			v = frameBad
		}
		r.off, r.end = copyHeadroom, copyHeadroom+n
	}
	if v == frameOK && r.partial {
		r.hdr = partialCsum(buf[r.off:r.end])
	}
	if v == frameOK && r.vlan {
		var ok bool
		if r.off, ok = insertVLAN(buf, r.off, r.end, floor, r.tpid, r.tci, &r.hdr); !ok {
			v = frameBad
		}
	}
	switch v {
	case frameTruncated:
		q.truncated.Add(1)
	case frameBad:
		q.bad.Add(1)
	}
	if v != frameOK {
		atomic.StoreUint32(q.status(i), unix.TP_STATUS_KERNEL)
		return true
	}
	if copied {
		q.cpTail++
		q.copied.Add(1)
	}
	e := q.end & q.mask
	q.ents[e] = fabric.Slot{Buf: buf[r.off:r.end:len(buf)], Offload: r.hdr}
	q.own[e] = entOwner{frame: i, copy: copied}
	q.end++
	q.packets.Add(1)
	q.bytes.Add(uint64(r.end - r.off))
	return true
}

// fetch receives the packet queued on the socket into buf and returns its
// length; false if there was none or it did not fit.
func (q *inQueue) fetch(buf []byte) (int, bool) {
	q.cpIov[1].Base = &buf[0]
	q.cpIov[1].SetLen(len(buf))
	for {
		q.cpMsg.Flags = 0
		n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(q.s.fd), uintptr(unsafe.Pointer(&q.cpMsg)), unix.MSG_DONTWAIT)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 || q.cpMsg.Flags&unix.MSG_TRUNC != 0 || int(n) < q.vnetLen {
			return 0, false
		}
		return int(n) - q.vnetLen, true
	}
}

// Release implements fabric.InQueue: the frames of the oldest n lent
// packets, and their copy buffers, go back.
func (q *inQueue) Release(n int) {
	for ; n > 0 && q.rel != q.end; n-- {
		o := q.own[q.rel&q.mask]
		atomic.StoreUint32(q.status(o.frame), unix.TP_STATUS_KERNEL)
		if o.copy {
			q.cpHead++
		}
		q.rel++
	}
}

// ready reports whether Receive would find something: packets parsed and
// not released, or a handed-over frame. It runs as the netpoller's
// readiness check.
func (q *inQueue) ready(uintptr) bool {
	return q.interrupted.Load() || q.end != q.rel ||
		atomic.LoadUint32(q.status(q.next))&tpStatusUser != 0
}

// pendingAsleep reports, to another goroutine, whether the kernel handed
// over a frame after the queue's goroutine went to sleep.
func (q *inQueue) pendingAsleep() bool {
	return atomic.LoadUint32(q.status(q.sleepNext.Load()))&tpStatusUser != 0
}

// wake makes a sleeping Wait return (a read deadline in the past; Wait
// clears it).
func (q *inQueue) wake() { q.s.file.SetReadDeadline(time.Unix(1, 0)) }

// Wait implements fabric.InQueue.
func (q *inQueue) Wait() error {
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	switch {
	case q.poll:
		if q.empty++; q.empty > pollSpins {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
	case q.mod.Holding():
		q.mod.Pause() // a small batch of a stream is held back
	case q.bp != nil && q.bp.Poll():
		// The last packet is recent: poll again (ModeAdaptive).
	default:
		if q.bp != nil {
			q.sleepNext.Store(q.next)
			q.bp.Sleeping(true)
		}
		// The netpoller resets the socket's readiness before the first
		// check, so a frame handed over after the check wakes the read.
		err := q.s.rc.Read(q.readyFn)
		if q.bp != nil {
			q.bp.Sleeping(false)
			if errors.Is(err, os.ErrDeadlineExceeded) && !q.interrupted.Load() {
				// Woken by another member of the group. An Interrupt
				// that set its deadline before this clears it stored
				// interrupted first, which the check below sees.
				q.s.file.SetReadDeadline(time.Time{})
			}
		}
	}
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	return nil
}

// Interrupt implements fabric.InQueue.
func (q *inQueue) Interrupt() {
	q.interrupted.Store(true)
	if q.s.file != nil {
		q.s.file.SetReadDeadline(time.Unix(1, 0))
	}
}
