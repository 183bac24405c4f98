// Package coalesce moderates an interrupt-driven input queue of a kernel
// port (AF_XDP, AF_PACKET) the way NICs moderate their interrupts: in a
// stream of packets, a poll that finds only a few holds them back once
// while the queue's goroutine pauses, so that the next poll takes a batch.
//
// Every batch costs the switch about as much as a few packets (a system
// call to each destination, the rings' cache lines, the fabric's
// bookkeeping), and every sleep in the netpoller a wake-up of the thread
// (two context switches, an epoll_pwait). A switch that keeps up with its
// input takes one or two packets per poll, and under a steady load that
// never fills a batch it wakes once per packet: 100,000 wake-ups a second
// at 100 kp/s. A packet that arrives after an empty poll is never held
// back, so sparse traffic (a ping, a lone request) is not delayed.
//
//	var m coalesce.Moderator = coalesce.New(pause) // one per input queue
//	// Receive, with n packets of b bytes ready for len(slots):
//	//	if m.Hold(n, b, len(slots)) { return 0 }
//	// Wait, before it sleeps:
//	//	if m.Holding() { m.Pause(); return nil }
//
// A Moderator belongs to the queue's input goroutine: none of its methods
// may be called concurrently.
package coalesce

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// Batch is the batch a queue takes without a pause: Open vSwitch's
	// and DPDK's burst.
	Batch = 32
	// BatchBytes is as much work as Batch full-sized frames: a queue that
	// holds that many bytes takes them without a pause, however few the
	// packets (a 64 KB GSO packet of a local TCP sender, which waits
	// meanwhile with its socket's send budget spent: TCP through
	// AF_PACKET ports lost a fifth of its goodput when they were held).
	BatchBytes = Batch * 1514
	// DefaultPause is the pause backends use unless configured; the
	// kernel adds the thread's timer slack (50 µs by default).
	DefaultPause = 20 * time.Microsecond
	// MaxPause bounds the pauses backends accept.
	MaxPause = time.Millisecond
)

// A Moderator is the coalescing state of one input queue. Its zero value
// never holds anything back.
type Moderator struct {
	pause  time.Duration
	streak bool // the last poll found packets
	held   bool // a small batch is held back for Pause
}

// New returns a Moderator that pauses for pause; 0 or less: never.
func New(pause time.Duration) Moderator { return Moderator{pause: max(pause, 0)} }

// Enabled reports whether the Moderator ever holds anything back, so that
// a caller can skip adding up a batch's bytes for Hold when it does not.
func (m *Moderator) Enabled() bool { return m.pause > 0 }

// Hold reports whether the queue's Receive should report no packets this
// time although n are ready, of bytes bytes in all, for a caller that
// asked for up to want: when the last poll found packets too (a stream)
// and n is less than Batch and than want, and bytes less than BatchBytes.
// It holds back once; the next call takes what there is. Hold
// never reads bytes when n is Batch or more, so a caller may leave it 0
// then rather than add up a big batch.
func (m *Moderator) Hold(n, bytes, want int) bool {
	if m.pause <= 0 {
		return false
	}
	switch {
	case n == 0:
		m.streak, m.held = false, false
	case m.held:
		m.held = false // paused once: take what there is
	case m.streak && n < Batch && n < want && bytes < BatchBytes:
		m.held = true
		return true
	default:
		m.streak = true
	}
	return false
}

// Holding reports whether Hold held packets back, so that Wait should
// Pause rather than sleep until the socket is readable.
func (m *Moderator) Holding() bool { return m.held }

// Pause sleeps for the pause with a nanosleep that keeps the processor,
// not a Go timer: with one processor the scheduler would sleep in the
// netpoller, a millisecond at least; and a system call that lasts more
// than 20 µs lets sysmon hand the processor to another thread, which finds
// nothing to do (two more context switches per pause). The socket is in
// no epoll set meanwhile, so the receiving CPU wakes nobody. The runtime's
// preemption signal (SIGURG) interrupts the sleep: it sleeps on for what
// is left.
func (m *Moderator) Pause() {
	ts := unix.NsecToTimespec(int64(m.pause))
	for {
		_, _, e := unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&ts)), 0)
		if e != unix.EINTR {
			return
		}
	}
}
