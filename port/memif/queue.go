package memif

// The switch side of the data path.
//
//	client --S2M ring--> inQueue (fabric.InQueue)   --> fabric
//	client <--M2S ring-- m2sQueue (fabric.OutQueue) <-- fabric
//
// Every descriptor the client wrote is read once into a local copy, checked
// against the client's regions, and only then turned into a slice: the
// switch never touches memory outside the regions, whatever the client
// writes and whenever it writes it. A bad descriptor or an index that jumps
// makes the link fail (link.fail): the connection goroutine then
// disconnects the client, while the data path just stops lending (Receive
// returns 0) and accepting (Room returns 0).

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/internal/spin"
)

// s2mQueue is one connected S2M ring, consumed by the fabric.
type s2mQueue struct {
	l    *link
	idx  int
	r    ring
	evfd int
	poll bool
	// last is the first slot not yet released. Written only by the input
	// goroutine (after the link went up, which happens-before it).
	last uint16
}

// pending reports whether the client published slots not yet received.
// Wait calls it outside the fabric's batches, so outside the grace period
// that protects the ring's memory: it checks under fdMu that the link was
// not freed.
func (s *s2mQueue) pending() bool {
	l := s.l
	l.fdMu.RLock()
	defer l.fdMu.RUnlock()
	return !l.freed && s.r.head() != s.last
}

// inQueue is one of the port's fixed input queues: a fabric.InQueue that
// lends the slots of S2M ring idx while a client with that ring is
// connected, and nothing otherwise.
type inQueue struct {
	p   *Port
	idx int

	// cur is the connected ring, nil while down. Swapped by link changes.
	cur atomic.Pointer[s2mQueue]
	// lent is the ring the last Receive used: Release hands slots back to
	// it even if the link changed since (its memory outlives the batch).
	lent *s2mQueue

	interrupted atomic.Bool
	kick        chan struct{} // wakes a Wait that sleeps while down

	// idle paces Wait in poll mode: it yields the core, and after about a
	// millisecond without packets sleeps in short steps (as VPP's adaptive
	// mode does); Receive restarts it when packets come.
	idle spin.Backoff

	// Wait's view of the ring's eventfd: a dup of it, in the netpoller.
	// file is replaced only by the Wait goroutine; fileMu lets wake set a
	// deadline on it from other goroutines.
	fileMu sync.Mutex
	file   *os.File
	fileOf *s2mQueue
	buf    [8]byte
}

var _ fabric.InQueue = (*inQueue)(nil)

// Receive implements fabric.InQueue.
func (q *inQueue) Receive(slots []fabric.Slot) int {
	s := q.cur.Load()
	q.lent = s
	if s == nil || s.l.down.Load() {
		return 0
	}
	r := &s.r
	avail := r.head() - s.last
	if uint32(avail) > r.size {
		s.l.fail(RejectRing, fmt.Sprintf("Bad ring: S2M %d head is %d slots past tail, ring has %d", s.idx, avail, r.size))
		return 0
	}
	n := min(int(avail), len(slots))
	if n > 0 {
		q.idle.Reset()
	}
	for k := 0; k < n; k++ {
		d := r.desc[(s.last+uint16(k))&r.mask] // one read; only the copy is used
		b, ok := s.l.bytes(d.region, d.offset, d.length)
		if !ok {
			s.l.fail(RejectDescriptor, fmt.Sprintf("Bad descriptor: S2M %d slot %d region %d offset %d length %d",
				s.idx, (s.last+uint16(k))&r.mask, d.region, d.offset, d.length))
			return 0
		}
		slots[k] = fabric.Slot{Buf: b, More: d.flags&descFlagNext != 0}
	}
	return n
}

// Release implements fabric.InQueue.
func (q *inQueue) Release(n int) {
	s := q.lent
	if s == nil || n == 0 {
		return
	}
	s.last += uint16(n)
	s.r.setTail(s.last)
}

// Wait implements fabric.InQueue. While the link is down, or the queue is
// beyond the client's rings, it sleeps until the link changes. Up in
// interrupt mode it sleeps on the ring's eventfd in the netpoller; in poll
// mode it yields and returns.
func (q *inQueue) Wait() error {
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	s := q.cur.Load()
	if s != q.fileOf {
		q.rebind(s)
	}
	switch {
	case s == nil || q.file == nil && !s.poll:
		<-q.kick
	case s.poll:
		q.idle.Wait()
	case !s.pending():
		q.file.SetReadDeadline(time.Time{})
		// Whoever changes the state below changes it before calling wake:
		// re-checking after clearing the deadline cannot miss a wake-up.
		if !q.interrupted.Load() && q.cur.Load() == s && !s.pending() {
			q.file.Read(q.buf[:])
		}
	}
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	return nil
}

// rebind makes Wait's eventfd view follow the current ring. Only Wait calls
// it.
func (q *inQueue) rebind(s *s2mQueue) {
	var f *os.File
	if s != nil && !s.poll {
		if fd, ok := s.l.dupFd(s.evfd); ok {
			f = os.NewFile(uintptr(fd), "memif-s2m-eventfd")
		}
	}
	q.fileMu.Lock()
	old := q.file
	q.file, q.fileOf = f, s
	q.fileMu.Unlock()
	if old != nil {
		old.Close()
	}
}

// Interrupt implements fabric.InQueue.
func (q *inQueue) Interrupt() {
	q.interrupted.Store(true)
	q.wake()
}

// wake makes a sleeping Wait return. The caller changed the queue's state
// first.
func (q *inQueue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
	q.fileMu.Lock()
	if q.file != nil {
		q.file.SetReadDeadline(time.Unix(1, 0))
	}
	q.fileMu.Unlock()
}

// close releases Wait's resources once no goroutine uses the queue.
func (q *inQueue) close() {
	q.fileMu.Lock()
	if q.file != nil {
		q.file.Close()
		q.file, q.fileOf = nil, nil
	}
	q.fileMu.Unlock()
}

// m2sQueue is one connected M2S ring: a fabric.OutQueue that fills the
// buffers the client posted.
type m2sQueue struct {
	l       *link
	idx     int
	r       ring
	evfd    int
	bufSize int
	// pubTail is the last published index, guarded by the fabric's queue
	// lock (Room and Publish run under it).
	pubTail uint32
	// checked remembers, per ring slot, the buffer Buffer validated for the
	// slot's current index: the fabric may ask again after SetSlot shortened
	// the descriptor (to finish a checksum in place), when the length no
	// longer proves the buffer whole. Each slot is touched only by the
	// goroutine filling it, as Buffer and SetSlot are.
	checked []checkedBuf
}

// checkedBuf is a buffer validated for slot index idx.
type checkedBuf struct {
	idx uint32
	ok  bool
	b   []byte
}

var _ fabric.OutQueue = (*m2sQueue)(nil)

// BufSize implements fabric.OutQueue. It is the smallest buffer the client
// posted when it connected (DPDK and libmemif post 2048 bytes): every
// posted descriptor must be at least that long.
func (q *m2sQueue) BufSize() int { return q.bufSize }

// Room implements fabric.OutQueue: the buffers the client posted beyond
// from.
func (q *m2sQueue) Room(from uint32) uint32 {
	if q.l.down.Load() {
		return 0
	}
	posted := uint32(q.r.head() - uint16(q.pubTail))
	if posted > q.r.size {
		q.l.fail(RejectRing, fmt.Sprintf("Bad ring: M2S %d head is %d slots past tail, ring has %d", q.idx, posted, q.r.size))
		return 0
	}
	used := from - q.pubTail
	if used >= posted {
		return 0
	}
	return posted - used
}

// Buffer implements fabric.OutQueue. The posted descriptor's region and
// offset are checked; a bad one fails the link and the packet goes to a
// scratch buffer instead.
func (q *m2sQueue) Buffer(i uint32) []byte {
	slot := uint16(i) & q.r.mask
	c := &q.checked[slot]
	if c.ok && c.idx == i {
		return c.b
	}
	d := &q.r.desc[slot]
	region, off, length := d.region, d.offset, d.length // each read once
	if length >= uint32(q.bufSize) {
		if b, ok := q.l.bytes(region, off, uint32(q.bufSize)); ok {
			*c = checkedBuf{idx: i, ok: true, b: b}
			return b
		}
	}
	q.l.fail(RejectDescriptor, fmt.Sprintf("Bad descriptor: M2S %d slot %d region %d offset %d length %d, buffers %d",
		q.idx, uint16(i)&q.r.mask, region, off, length, q.bufSize))
	return q.l.port.junk[:q.bufSize]
}

// SetSlot implements fabric.OutQueue.
func (q *m2sQueue) SetSlot(i uint32, n int, more bool) {
	d := &q.r.desc[uint16(i)&q.r.mask]
	d.length = uint32(n)
	if more {
		d.flags = descFlagNext
	} else {
		d.flags = 0
	}
}

// Publish implements fabric.OutQueue.
func (q *m2sQueue) Publish(tail uint32) {
	q.pubTail = tail
	q.r.setTail(uint16(tail))
}

// Notify implements fabric.OutQueue: it signals the ring's eventfd unless
// the client masked it (it polls).
func (q *m2sQueue) Notify() {
	if q.r.flags()&ringFlagMaskInt == 0 && !q.l.down.Load() {
		signalFd(q.evfd)
	}
}

// downQueue is the output queue of a port without a client: never any room.
type downQueue struct{}

var downBuf [DefaultBufSize]byte

func (downQueue) BufSize() int              { return DefaultBufSize }
func (downQueue) Room(uint32) uint32        { return 0 }
func (downQueue) Buffer(uint32) []byte      { return downBuf[:] } // never called: no room
func (downQueue) SetSlot(uint32, int, bool) {}
func (downQueue) Publish(uint32)            {}
func (downQueue) Notify()                   {}
