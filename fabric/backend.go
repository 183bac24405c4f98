package fabric

import (
	"errors"

	"github.com/mswitch/mswitch/frame/vnet"
)

// MaxFrags is the most buffers one packet may span (netmap's NETMAP_MAX_FRAGS):
// with 2 KB buffers, 64 fragments carry a 64 KB frame.
const MaxFrags = 64

// MinBufSize is the smallest output buffer a backend may offer.
const MinBufSize = 1024

// ErrInterrupted is returned by InQueue.Wait once InQueue.Interrupt has been
// called.
var ErrInterrupted = errors.New("interrupted")

// A Backend connects a port to the outside world: a memif peer, a kernel
// interface, an in-process pipe. The fabric sees it as queues.
//
// Direction is named from the switch's side: an InQueue carries packets from
// the outside into the switch, an OutQueue from the switch to the outside.
type Backend interface {
	// InQueues returns the port's input queues. The fabric drains each with
	// its own goroutine (unless the port is attached Inline). The slice must
	// not change after the port is attached.
	InQueues() []InQueue

	// OutQueues returns the port's output queues (at least one). A packet
	// read from input queue i of any port goes to output queue
	// i % len(OutQueues()) of its destination.
	OutQueues() []OutQueue

	// Close releases the backend. The fabric calls it exactly once, when the
	// port is detached, after every input goroutine has stopped and after
	// the last OutQueue call from any goroutine has returned: Close may free
	// the memory those calls used.
	Close() error
}

// A RingDropper is a Backend whose input rings can overflow: a kernel that
// finds the ring full drops the packet before the fabric sees it. The
// fabric adds RingDrops to the port's DropRingFull count.
type RingDropper interface {
	// RingDrops returns how many packets the port's input rings dropped
	// because they were full, since the port was opened: it never
	// decreases. It is called from any goroutine, while the port is
	// attached (never after Close), and must not block for long.
	RingDrops() uint64
}

// Slot is one buffer an InQueue lends to the fabric.
type Slot struct {
	// Buf holds the received bytes: len(Buf) is their number and cap(Buf)
	// the room in the buffer (a switching logic may grow the packet into it).
	Buf []byte
	// More is set when the packet continues in the next slot.
	More bool
	// Offload, on the first slot of a packet only, is what the sender left
	// undone: a partial checksum, a GSO packet to segment. Backends that
	// cannot receive offloaded packets leave it zero. The fabric hands it
	// on to destinations that implement OffloadQueue and finishes the work
	// in software for the others.
	Offload vnet.Hdr
}

// An InQueue is a queue of packets arriving from the outside.
//
// Exactly one goroutine at a time calls Receive, Release and Wait; Interrupt
// may be called from any goroutine.
type InQueue interface {
	// Receive lends the fabric the queue's pending slots, oldest first,
	// filling slots[:n] and returning n (0 if the queue is empty). It never
	// blocks. A packet spanning several slots has More set on all but its
	// last slot; a backend publishes only whole packets, but Receive may cut
	// the last one short when slots is full. The slots stay valid, and
	// unchanged by the backend, until Release; a later Receive returns the
	// unreleased slots again, followed by newer ones.
	Receive(slots []Slot) int

	// Release gives the oldest n lent slots back to the backend.
	Release(n int)

	// Wait blocks until the queue may hold packets (spurious wake-ups are
	// allowed) and returns nil, or returns ErrInterrupted once Interrupt has
	// been called. A busy-polling backend may return at once.
	//
	// Wait runs between batches, outside the grace periods that Detach and
	// requeue wait for: a backend that frees memory while attached (see
	// Requeuer) must keep Wait away from that memory by its own means.
	Wait() error

	// Interrupt makes the pending Wait, and every later one, return
	// ErrInterrupted.
	Interrupt()
}

// An OutQueue is a ring of slots toward the outside, which the fabric
// reserves, fills in place and publishes, so that a packet is copied exactly
// once, from its input buffer into the destination's buffer.
//
// Slots are named by free-running uint32 indices; the backend maps them onto
// its ring. The fabric serialises Room and Publish under its own per-queue
// lock, and calls Buffer and SetSlot without any lock, concurrently from
// several goroutines, but never for the same slot at once and only for slots
// it reserved and has not yet published.
type OutQueue interface {
	// BufSize is the capacity of every slot's buffer. It never changes.
	BufSize() int

	// Room returns how many slots, starting at index from, the fabric may
	// fill now. from is the index after the last slot the fabric reserved.
	Room(from uint32) uint32

	// Buffer returns the buffer of slot i, len(Buffer(i)) >= BufSize().
	Buffer(i uint32) []byte

	// SetSlot records that slot i holds n bytes and whether the packet
	// continues in slot i+1.
	SetSlot(i uint32, n int, more bool)

	// Publish makes every slot before index tail visible to the consumer, in
	// order. tail never moves backwards. Publish must be cheap: it runs
	// under the fabric's queue lock.
	Publish(tail uint32)

	// Notify wakes the consumer after a Publish, if it sleeps. It is called
	// without the lock and may make a system call.
	Notify()
}

// An OffloadQueue is an OutQueue whose consumer takes offloaded packets (a
// TAP device or an AF_PACKET socket with virtio-net headers): packets with a
// partial checksum, and GSO packets up to MaxFrags buffers long.
//
// The fabric calls SetOffload once for the first slot of every packet it
// puts in the queue, zero Hdr included, between reserving the slot and
// publishing it, under the same rules as SetSlot. Queues that are not
// OffloadQueues get only complete packets: the fabric finishes checksums and
// segments GSO packets in software for them.
type OffloadQueue interface {
	OutQueue
	SetOffload(i uint32, h vnet.Hdr)
}

// A DirectQueue is an OutQueue that can send a packet straight from the
// buffers it arrived in, without the fabric's copy into the queue's slots:
// a queue whose consumer copies every packet anyway when it takes it (an
// AF_PACKET socket's sendmsg copies into a fresh skb), for which a 64 KB GSO
// packet would otherwise be copied twice by the switch's core.
//
// The fabric offers a packet longer than BufSize, and only when every slot
// it reserved in the queue has been published, so that the packets that
// went before it are in the queue; it copies the packet into slots as usual
// when SendDirect declines. SendDirect may be called from several goroutines
// at once, and at the same time as Publish and Notify.
type DirectQueue interface {
	OutQueue
	// SendDirect sends the packet whose bytes are bufs, in order, after
	// every packet published before the call, and reports true; or reports
	// false, having sent nothing of it, when it cannot do so at once (the
	// consumer has no room, another goroutine is sending). h is the
	// packet's offload state; it is the zero Hdr unless the queue is an
	// OffloadQueue. The buffers are the input queue's, valid only until
	// SendDirect returns: it must not keep them, nor write to them.
	SendDirect(bufs [][]byte, h vnet.Hdr) bool
}
