package tap

// The receive side: a fabric.InQueue that reads frames into a ring of bytes.
//
//	ring:  ... free | lent or read, not released | free ...
//	                ^ tail                       ^ head   (free-running byte positions)
//	ents[rel .. end): frames read and not released, oldest first
//
// A read needs maxRead contiguous bytes at head (if the end of the ring is
// closer, head skips to its start); it consumes only the frame's length,
// rounded up, plus growRoom. Release moves rel, and tail to the end of the
// last released frame. Only the input goroutine touches this state.

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"github.com/mswitch/mswitch/internal/coalesce"
	"golang.org/x/sys/unix"
)

const (
	pollSpins = 16
	growRoom  = 64   // bytes a logic may grow a frame by
	maxEnts   = 4096 // frames read and not released
)

type inQueue struct {
	q    *queue
	ring []byte
	size uint64
	poll bool

	head, tail uint64 // free-running byte positions

	ents     []rxEnt
	rel, end uint32

	empty int
	// mod is ModeInterrupt's coalescing (Receive holds a small batch of a
	// stream back, Wait pauses); it never holds anything in ModePoll.
	mod         coalesce.Moderator
	interrupted atomic.Bool
	readyFn     func(fd uintptr) bool

	packets, bytes, errors atomic.Uint64
}

// rxEnt is a frame in the ring: the slot lent for it, and the ring position
// after it.
type rxEnt struct {
	slot fabric.Slot
	next uint64
}

var _ fabric.InQueue = (*inQueue)(nil)

func newInQueue(q *queue, cfg Config) *inQueue {
	ring, err := unix.Mmap(-1, 0, cfg.RxRing, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		ring = make([]byte, cfg.RxRing) // no mapping: Go memory does as well
	}
	r := &inQueue{q: q, ring: ring, size: uint64(len(ring)), poll: cfg.Mode == ModePoll, ents: make([]rxEnt, maxEnts)}
	if cfg.Mode == ModeInterrupt {
		r.mod = coalesce.New(cfg.Coalesce)
	}
	r.readyFn = r.ready
	return r
}

func (r *inQueue) free() {
	unix.Munmap(r.ring) // fails harmlessly for Go memory
}

// Receive implements fabric.InQueue.
func (r *inQueue) Receive(slots []fabric.Slot) int {
	for int(r.end-r.rel) < len(slots) && r.readOne() {
	}
	n := min(len(slots), int(r.end-r.rel))
	bytes := 0
	if n < coalesce.Batch && r.mod.Enabled() {
		for k := 0; k < n; k++ {
			bytes += len(r.ents[(r.rel+uint32(k))%maxEnts].slot.Buf)
		}
	}
	if r.mod.Hold(n, bytes, len(slots)) {
		return 0 // read, lent after Wait's pause
	}
	if n > 0 {
		r.empty = 0
	}
	for k := 0; k < n; k++ {
		slots[k] = r.ents[(r.rel+uint32(k))%maxEnts].slot
	}
	return n
}

// readOne reads one frame into the ring, if there is one and room for it.
func (r *inQueue) readOne() bool {
	if r.end-r.rel == maxEnts {
		return false
	}
	pos := r.head
	if off := pos % r.size; r.size-off < maxRead {
		pos += r.size - off // skip the tail end of the ring
	}
	if pos+maxRead-r.tail > r.size {
		return false // the fabric holds the rest: wait for a Release
	}
	off := pos % r.size
	buf := r.ring[off : off+maxRead]
	n, _, errno := unix.Syscall(unix.SYS_READ, uintptr(r.q.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return false
	case errno != 0:
		r.errors.Add(1)
		return false
	case n < vnet.Len+14:
		r.errors.Add(1) // not even a header and an Ethernet header: skip it
		return true
	}
	h, _ := vnet.Decode(buf[:vnet.Len])
	c := min(int(n)+growRoom, maxRead)
	r.ents[r.end%maxEnts] = rxEnt{
		slot: fabric.Slot{Buf: buf[vnet.Len:n:c], Offload: h},
		next: pos + uint64((c+63)&^63),
	}
	r.head = r.ents[r.end%maxEnts].next
	r.end++
	r.packets.Add(1)
	r.bytes.Add(uint64(n) - vnet.Len)
	return true
}

// Release implements fabric.InQueue.
func (r *inQueue) Release(n int) {
	if n == 0 {
		return
	}
	r.rel += uint32(n)
	r.tail = r.ents[(r.rel-1)%maxEnts].next
}

// ready is the netpoller's readiness check: frames waiting, or one read now.
func (r *inQueue) ready(uintptr) bool {
	return r.interrupted.Load() || r.end != r.rel || r.readOne()
}

// Wait implements fabric.InQueue.
func (r *inQueue) Wait() error {
	if r.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	switch {
	case r.poll:
		if r.empty++; r.empty > pollSpins {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
	case r.mod.Holding():
		r.mod.Pause() // a small batch of a stream is held back
	default:
		r.q.rc.Read(r.readyFn)
	}
	if r.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	return nil
}

// Interrupt implements fabric.InQueue.
func (r *inQueue) Interrupt() {
	r.interrupted.Store(true)
	if r.q.file != nil {
		r.q.file.SetReadDeadline(time.Unix(1, 0))
	}
}
