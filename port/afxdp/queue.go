package afxdp

// The switch side of the data path, per socket:
//
//	kernel --RX ring--> inQueue (fabric.InQueue)   --Release--> fill ring --> kernel
//	kernel <--TX ring-- outQueue (fabric.OutQueue) <--Room------ completion ring <-- kernel
//
// inQueue lends the RX ring's frames to the fabric in place and hands them
// back to the kernel through the fill ring on Release. outQueue gives the
// fabric free TX frames to copy into, and turns them into TX descriptors on
// Publish.

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"github.com/mswitch/mswitch/internal/busypoll"
	"github.com/mswitch/mswitch/internal/coalesce"
	"golang.org/x/sys/unix"
)

// inQueue is a socket's RX side: a fabric.InQueue.
type inQueue struct {
	s    *socket
	out  *outQueue // the same socket's TX side
	poll bool

	// Written only by the input goroutine.
	cons     uint32 // RX ring: first descriptor not released
	fillProd uint32 // fill ring: next entry to produce
	idle     int    // empty polls in a row (Poll mode)

	// mod is the coalescing of Interrupt and Adaptive modes (Receive
	// holds a small batch of a stream back, Wait pauses); it never holds
	// anything in Poll mode.
	mod coalesce.Moderator

	// infer, when set, finds each packet's unfinished checksum or GSO
	// (vnet.InferOffload) for interfaces of this MTU; bufs is its scratch.
	infer bool
	mtu   int
	bufs  [][]byte

	interrupted atomic.Bool
	// file is an epoll instance of the queue's own, in the Go netpoller:
	// Wait puts the socket in it (readable only) for as long as it
	// sleeps, and sleeps until the epoll instance is readable. The socket
	// itself is never in the netpoller: a socket in any epoll set is woken
	// (sock_def_write_space) for every packet it transmits and at every
	// RX flush, which cost the busy switch a tenth of its time and the
	// receiving CPU a wake-up per flush.
	file  *os.File
	epfd  int
	rc    syscall.RawConn
	ready func(uintptr) bool // Wait's condition, made once (no allocation per Wait)
	// armMu guards armed (the socket is in the epoll instance) and asleep
	// (the goroutine is in sleep), which the TX side's Notify reads and
	// changes too (suspend, resume).
	armMu  sync.Mutex
	armed  bool
	asleep bool

	// bp is the queue in the busy-polling group (Adaptive mode), else nil.
	// sleepCons is cons when the goroutine went to sleep: what other
	// members compare the RX producer with (cons itself is not theirs to
	// read).
	bp        *busypoll.Member
	sleepCons atomic.Uint32

	packets, bytes atomic.Uint64
	badDescs       atomic.Uint64
}

var _ fabric.InQueue = (*inQueue)(nil)

func newInQueue(s *socket, out *outQueue, mode Mode, window, pause time.Duration, mtu int, infer bool) (*inQueue, error) {
	q := &inQueue{s: s, out: out, poll: mode == Poll, fillProd: uint32(s.rxFrames),
		infer: infer, mtu: mtu, bufs: make([][]byte, 0, fabric.MaxFrags)}
	if mode != Poll {
		q.mod = coalesce.New(pause)
	}
	q.ready = func(uintptr) bool { return q.interrupted.Load() || q.pending() }
	if q.poll {
		return q, nil
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create epoll instance: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil { // or os.NewFile leaves it out of the netpoller
		unix.Close(fd)
		return nil, fmt.Errorf("set epoll instance nonblocking: %w", err)
	}
	q.epfd = fd
	q.file = os.NewFile(uintptr(fd), "afxdp-epoll")
	if q.rc, err = q.file.SyscallConn(); err != nil {
		q.file.Close()
		return nil, err
	}
	if mode == Adaptive {
		q.bp = busypoll.Default.Join(q.pendingAsleep, q.wake, window)
	}
	return q, nil
}

// pendingAsleep reports, to another goroutine, whether the RX ring holds
// descriptors that arrived after the queue's goroutine went to sleep.
func (q *inQueue) pendingAsleep() bool { return q.s.rx.producer() != q.sleepCons.Load() }

// wake makes a sleeping Wait return (a read deadline in the past; Wait
// clears it).
func (q *inQueue) wake() { q.file.SetReadDeadline(time.Unix(1, 0)) }

// pending reports whether the RX ring holds descriptors not yet released.
func (q *inQueue) pending() bool { return q.s.rx.producer() != q.cons }

// Receive implements fabric.InQueue: it lends the RX ring's descriptors in
// place. Buf ends at the end of its frame (cap), so a logic that grows a
// packet never writes into the next frame. A descriptor outside the RX
// frames is lent as an empty slot (the logic drops it as malformed) and
// counted in BadDescs.
//
// In Interrupt mode, a poll that finds fewer than coalesce.Batch packets
// (and fewer bytes than coalesce.BatchBytes) right after one that found some (a stream, not a packet that woke the
// queue) reports none, once: Wait then pauses for Config.Coalesce and the
// next poll takes what has come by then (package internal/coalesce). A
// stream of one or two packets per poll, which is what a switch that keeps
// up sees, cost it twice as much per packet as batches of 32.
func (q *inQueue) Receive(slots []fabric.Slot) int {
	r := &q.s.rx
	n := min(int(r.producer()-q.cons), len(slots), len(r.desc))
	bytes := 0
	if n < coalesce.Batch && q.mod.Enabled() {
		for k := 0; k < n; k++ {
			bytes += int(r.desc[(q.cons+uint32(k))&r.mask].Len)
		}
	}
	if q.mod.Hold(n, bytes, len(slots)) {
		return 0
	}
	first := 0
	for k := 0; k < n; k++ {
		d := r.desc[(q.cons+uint32(k))&r.mask]
		b, _ := q.s.rxBytes(d.Addr, d.Len)
		more := d.Options&unix.XDP_PKT_CONTD != 0
		slots[k] = fabric.Slot{Buf: b, More: more}
		if q.infer && !more {
			q.inferOffload(slots[first : k+1])
			first = k + 1
		}
	}
	if n > 0 {
		q.idle = 0
		if q.bp != nil {
			q.bp.Busy()
		}
	}
	return n
}

// inferOffload sets the Offload of the packet in slots, if it has an
// unfinished checksum or is a GSO packet: AF_XDP carries no metadata, so
// the packet itself is read (vnet.InferOffload).
func (q *inQueue) inferOffload(slots []fabric.Slot) {
	bufs := q.bufs[:0]
	for i := range slots {
		bufs = append(bufs, slots[i].Buf)
	}
	q.bufs = bufs
	if h, ok := vnet.InferOffload(bufs, q.mtu); ok {
		slots[0].Offload = h
	}
}

// Release implements fabric.InQueue: the frames go back to the fill ring,
// and the kernel is woken if it asked to be (need_wakeup).
func (q *inQueue) Release(n int) {
	if n <= 0 {
		return
	}
	s := q.s
	r, f := &s.rx, &s.fill
	var pkts, bytes, bad uint64
	for k := 0; k < n; k++ {
		d := r.desc[(q.cons+uint32(k))&r.mask]
		if d.Options&unix.XDP_PKT_CONTD == 0 {
			pkts++
		}
		bytes += uint64(d.Len)
		if _, ok := s.rxBytes(d.Addr, d.Len); !ok {
			bad++ // not one of our frames: do not hand it to the kernel
			continue
		}
		f.addr[q.fillProd&f.mask] = d.Addr &^ (s.frameSize - 1)
		q.fillProd++
	}
	q.cons += uint32(n)
	f.setProducer(q.fillProd)
	r.setConsumer(q.cons)
	q.packets.Add(pkts)
	q.bytes.Add(bytes)
	if bad != 0 {
		q.badDescs.Add(bad)
	}
	if s.needWakeup && f.needWakeup() {
		s.kickRx()
	}
}

// Wait implements fabric.InQueue. In Interrupt mode it sleeps in the
// netpoller until the socket is readable: RawConn.Read resets the
// readiness before it evaluates ready, so a packet that arrives between
// the check and the sleep wakes it. In Poll mode it returns at once,
// yielding the CPU once the queue has been empty for a while. In Adaptive
// mode it returns at once while the last packet is recent (busypoll), and
// sleeps as in Interrupt mode after that; another member of the group may
// wake it.
func (q *inQueue) Wait() error {
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	if q.poll {
		if q.out.stalled.Load() {
			q.out.Notify()
		}
		q.idle++
		if q.idle > pollSpins {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
		return nil
	}
	if q.mod.Holding() {
		q.mod.Pause() // a small batch of a stream is held back
		return nil
	}
	if q.bp != nil && q.bp.Poll() {
		return nil
	}
	if q.s.needWakeup && q.s.fill.needWakeup() {
		q.s.kickRx()
	}
	if q.bp != nil {
		q.sleepCons.Store(q.cons)
		q.bp.Sleeping(true)
	}
	err := q.sleep()
	if q.bp != nil {
		q.bp.Sleeping(false)
	}
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Woken by another member of the group, or by resume. An
		// Interrupt that set its deadline before this clears it
		// stored interrupted first, which the check below sees.
		q.file.SetReadDeadline(time.Time{})
		if q.interrupted.Load() {
			return fabric.ErrInterrupted
		}
		return nil
	}
	return err
}

// sleep waits in the netpoller until the socket is readable or the read
// deadline of file passes. The socket is in the queue's epoll instance only
// meanwhile. RawConn.Read resets the readiness before it evaluates ready,
// and a socket that is readable when it is added makes the instance
// readable, so a packet that arrives at any point wakes it.
//
// A Notify on the socket's TX side takes the socket out of the instance
// for the time of a large kick (suspend, resume): see armed.
func (q *inQueue) sleep() error {
	q.armMu.Lock()
	q.asleep = true
	err := q.arm()
	q.armMu.Unlock()
	if err != nil {
		// Out of kernel memory: poll every millisecond rather than stop
		// the queue.
		time.Sleep(time.Millisecond)
		err = nil
	} else {
		err = q.rc.Read(q.ready)
	}
	q.armMu.Lock()
	q.asleep = false
	q.disarm()
	q.armMu.Unlock()
	return err
}

// arm puts the socket in the queue's epoll instance, readable only. A
// socket that is readable then makes the instance readable at once.
//
// Preconditions: armMu is held.
func (q *inQueue) arm() error {
	if q.armed {
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(q.s.fd)}
	if err := unix.EpollCtl(q.epfd, unix.EPOLL_CTL_ADD, q.s.fd, &ev); err != nil && err != unix.EEXIST {
		return err
	}
	q.armed = true
	return nil
}

// disarm takes the socket out of the queue's epoll instance.
//
// Preconditions: armMu is held.
func (q *inQueue) disarm() {
	if q.armed {
		unix.EpollCtl(q.epfd, unix.EPOLL_CTL_DEL, q.s.fd, nil)
		q.armed = false
	}
}

// suspend takes the socket out of the epoll instance of a sleeping queue,
// for a kick of the same socket's TX side: the kernel wakes a socket's
// waiters for every packet it frees after transmitting it, which a waiter
// that only wants to read costs 150 ns a packet (BenchmarkTxKick, asleep).
// It reports whether it did; then the caller must resume.
func (q *inQueue) suspend() bool {
	q.armMu.Lock()
	defer q.armMu.Unlock()
	if !q.armed || !q.asleep {
		return false
	}
	q.disarm()
	return true
}

// resume puts the socket back in the epoll instance if the queue still
// sleeps. A packet that came meanwhile makes the instance readable when
// the socket is added, so the sleeper misses nothing.
func (q *inQueue) resume() {
	q.armMu.Lock()
	defer q.armMu.Unlock()
	if q.asleep {
		if err := q.arm(); err != nil {
			// Cannot happen but for a lack of kernel memory: wake the
			// sleeper (a read deadline in the past), whose next Wait
			// sleeps again or polls.
			q.file.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// pollSpins is how many empty polls in a row Poll mode makes before it
// starts yielding.
const pollSpins = 16

// Interrupt implements fabric.InQueue.
func (q *inQueue) Interrupt() {
	q.interrupted.Store(true)
	if q.file != nil {
		q.file.SetReadDeadline(time.Unix(1, 0))
	}
}

// close leaves the busy-polling group and releases Wait's epoll
// instance.
func (q *inQueue) close() error {
	if q.bp != nil {
		q.bp.Leave()
	}
	if q.file != nil {
		return q.file.Close()
	}
	return nil
}

// outQueue is a socket's TX side: a fabric.OutQueue.
//
// Slot i of the fabric is slots[i&mask], which gets a free TX frame when
// Room offers it. Publish turns the slots into TX descriptors: one each,
// except empty ones (whose frames go straight back to the free list) and
// chains the kernel would refuse (dropped, frames freed). So the TX
// producer may lag the fabric's indices, never lead them; Room keeps the
// slots with frames within the TX ring's free space.
type outQueue struct {
	s    *socket
	mask uint32

	// slots is indexed by fabric slot. Room sets addr (under the fabric's
	// lock); SetSlot sets n and more for reserved slots (no lock).
	slots []txSlot

	// Guarded by the fabric's queue lock (Room and Publish).
	free     []uint64 // free TX frames
	assigned uint32   // slots [pubTail, assigned) have a frame
	pubTail  uint32   // first slot not yet published
	prod     uint32   // TX ring producer

	packets, bytes atomic.Uint64
	oversize       atomic.Uint64 // packets dropped: more frames than the kernel takes
	kickErrors     atomic.Uint64 // sendto failures other than "try again"
	lastKickErr    atomic.Int32  // its errno
	stalls         atomic.Uint64 // kicks that left the TX ring not empty and sent nothing
	stalled        atomic.Bool   // the last kick did
	kicks          atomic.Uint64 // sendto calls

	// in is the same socket's input queue when it sleeps in an epoll
	// instance (Interrupt and Adaptive modes), else nil.
	in *inQueue
}

type txSlot struct {
	addr uint64
	n    uint32
	more bool
}

var _ fabric.OutQueue = (*outQueue)(nil)

func newOutQueue(s *socket, txFrames int) *outQueue {
	q := &outQueue{s: s, mask: s.tx.mask, slots: make([]txSlot, len(s.tx.desc)), free: make([]uint64, 0, txFrames)}
	for i := 0; i < txFrames; i++ {
		q.free = append(q.free, uint64(s.rxFrames+i)*s.frameSize)
	}
	return q
}

// BufSize implements fabric.OutQueue: a whole UMEM frame.
func (q *outQueue) BufSize() int { return int(q.s.frameSize) }

// Room implements fabric.OutQueue. It takes back the frames the kernel has
// sent (completion ring), and offers slots while there are free frames and
// TX descriptors for them.
func (q *outQueue) Room(from uint32) uint32 {
	q.reclaim()
	tx := &q.s.tx
	limit := q.pubTail + uint32(len(tx.desc)) - (q.prod - tx.consumer())
	for int32(limit-q.assigned) > 0 && len(q.free) > 0 {
		q.slots[q.assigned&q.mask].addr = q.free[len(q.free)-1]
		q.free = q.free[:len(q.free)-1]
		q.assigned++
	}
	if from-q.pubTail < q.assigned-q.pubTail {
		return q.assigned - from
	}
	if q.prod != tx.consumer() {
		// Full of packets the kernel has not taken (a kick that found the
		// device busy): kick again, or nobody would.
		q.kick()
	}
	return 0
}

// reclaim moves the frames of the completion ring to the free list.
//
// Preconditions: the fabric's queue lock is held.
func (q *outQueue) reclaim() {
	c := &q.s.comp
	cons, prod := c.consumer(), c.producer()
	if cons == prod {
		return
	}
	lo, hi := uint64(q.s.rxFrames)*q.s.frameSize, uint64(len(q.s.umem))
	for ; cons != prod && len(q.free) < cap(q.free); cons++ {
		if a := c.addr[cons&c.mask] &^ (q.s.frameSize - 1); a >= lo && a < hi {
			q.free = append(q.free, a) // else not a TX frame: the kernel never says so
		}
	}
	c.setConsumer(cons)
}

// Buffer implements fabric.OutQueue.
func (q *outQueue) Buffer(i uint32) []byte { return q.s.frame(q.slots[i&q.mask].addr) }

// SetSlot implements fabric.OutQueue.
func (q *outQueue) SetSlot(i uint32, n int, more bool) {
	s := &q.slots[i&q.mask]
	s.n, s.more = uint32(n), more
}

// Publish implements fabric.OutQueue: it writes a TX descriptor per slot,
// XDP_PKT_CONTD on all but the last of a chain, and moves the producer.
// No system call.
func (q *outQueue) Publish(tail uint32) {
	tx := &q.s.tx
	maxFrags := uint32(1)
	if q.s.sg {
		maxFrags = txMaxFrags
	}
	var pkts, bytes, oversize uint64
	for i := q.pubTail; i != tail; {
		// Find the chain [i, end).
		end := i + 1
		for q.slots[(end-1)&q.mask].more && end != tail {
			end++
		}
		if end-i > maxFrags {
			for ; i != end; i++ {
				q.free = append(q.free, q.slots[i&q.mask].addr)
			}
			oversize++
			continue
		}
		first := q.prod
		var size uint64
		for ; i != end; i++ {
			s := &q.slots[i&q.mask]
			if s.n == 0 {
				q.free = append(q.free, s.addr) // nothing to send
				continue
			}
			d := &tx.desc[q.prod&q.mask]
			d.Addr, d.Len, d.Options = s.addr, s.n, 0
			if s.more {
				d.Options = unix.XDP_PKT_CONTD
			}
			q.prod++
			size += uint64(s.n)
		}
		if q.prod != first {
			tx.desc[(q.prod-1)&q.mask].Options = 0 // a chain ends here, even if its last slot was empty
			pkts++
			bytes += size
		}
	}
	q.pubTail = tail
	if q.assigned-tail > uint32(len(q.slots)) { // cannot happen: the fabric publishes only what Room offered
		q.assigned = tail
	}
	tx.setProducer(q.prod)
	q.packets.Add(pkts)
	q.bytes.Add(bytes)
	if oversize != 0 {
		q.oversize.Add(oversize)
	}
}

// Notify implements fabric.OutQueue: it kicks the kernel with sendto when
// the TX ring says it needs a wakeup (always, in copy mode) or when
// need_wakeup is off. A kick may send only part of the ring (32 packets on
// kernels before 6.17, or when the device is busy): it kicks again while
// that makes progress.
func (q *outQueue) Notify() {
	tx := &q.s.tx
	if q.s.needWakeup && !tx.needWakeup() {
		return
	}
	if in := q.in; in != nil && tx.producer()-tx.consumer() >= suspendKick && in.suspend() {
		defer in.resume()
	}
	q.stalled.Store(false)
	for try := 0; try < maxKicks; try++ {
		before := tx.consumer()
		e := q.kick()
		switch e {
		case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		default:
			q.kickErrors.Add(1)
			q.lastKickErr.Store(int32(e))
			return
		}
		after := tx.consumer()
		if after == tx.producer() {
			return
		}
		if after == before {
			// The device is busy or the socket's send buffer is full of
			// packets in flight. In Interrupt mode the netpoller's
			// epoll drives the TX ring when they complete (xsk_poll);
			// in Poll mode the input goroutine kicks again.
			q.stalls.Add(1)
			q.stalled.Store(true)
			return
		}
	}
}

// kick asks the kernel to transmit what the TX ring holds.
func (q *outQueue) kick() unix.Errno {
	q.kicks.Add(1)
	return q.s.kickTx()
}

// suspendKick is the least number of packets that a kick sends with the
// socket's sleeping input queue taken off its waiters (inQueue.suspend):
// two epoll_ctl calls, 1-2 µs, against 150 ns a packet.
// (A variable, so that BenchmarkTxKick can compare.)
var suspendKick uint32 = coalesce.Batch

// maxKicks bounds the sendto calls of one Notify.
const maxKicks = 64
