package afpacket

// The transmit side: a fabric.OutQueue over a ring of the port's own
// buffers, sent with sendmmsg.
//
//	slots:  ... | sent (free) | published, unsent | reserved by the fabric | free ...
//	                          ^ sent              ^ tail
//
// The fabric fills slots and publishes them (tail, an atomic store: Publish
// runs under the fabric's lock and makes no system call). Notify sends
// [sent, tail): one message per packet, an iovec per slot, up to maxMsgs
// messages per sendmmsg.
//
//	slot:  | headroom: ..., virtio-net header | buffer (bufSize bytes) |
//	       ^ slot*stride                       ^ slot*stride + slotHeadroom
//
// SetOffload writes the packet's virtio-net header right in front of its
// first buffer, so header and frame are one iovec (the kernel reads both in
// one pass). The headroom also keeps the buffers from sharing cache sets:
// with a stride of exactly 4 KB every buffer would start in the same set,
// and a batch of packets written by the fabric would evict itself before
// the kernel copies it. The kernel copies
// the bytes during the call, so a slot is free again as soon as sent passes
// it; Room counts from sent.
//
// One goroutine at a time flushes, the holder of the flushing flag; a
// Notify that finds it taken returns at once, and the holder looks at tail
// again after it dropped the flag, so nothing published is left behind.
// When the socket's send buffer is full (EAGAIN) the flusher leaves the rest
// to the queue's helper goroutine, which waits for the socket to become
// writable in poll(2) and flushes again.
//
// The queue sends on a socket of its own, not the receiving one, and keeps
// it out of the netpoller: every packet the kernel frees after sending
// wakes whoever waits on its socket for room, and with the socket in the
// netpoller's epoll set someone always did, at a lock and an epoll
// callback per packet on the switch's core.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"golang.org/x/sys/unix"
)

const (
	maxMsgs = 256  // messages per sendmmsg
	maxIovs = 1024 // iovecs per sendmmsg, all messages together

	// slotHeadroom is the room in front of each slot's buffer: the
	// virtio-net header, and one cache line of stagger.
	slotHeadroom = 64
)

type outQueue struct {
	p       *Port
	s       *sock
	bufSize int
	stride  int // bytes from a slot to the next: slotHeadroom + bufSize
	nslots  uint32
	mask    uint32
	vnetLen int

	bufs []byte        // nslots*stride, anonymous mapping
	meta []slotMeta    // by slot
	tail atomic.Uint32 // first slot not published
	sent atomic.Uint32 // first slot not handed to the kernel

	flushing atomic.Bool
	// Owned by the holder of flushing.
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	ends  []uint32 // by message: the slot after its packet
	sizes []int    // by message: frame bytes

	kick     chan struct{} // EAGAIN: the helper should wait for room
	quit     chan struct{}
	done     chan struct{}
	started  bool
	pfd      [1]unix.PollFd // the helper's
	stopOnce sync.Once

	packets, bytes, errors atomic.Uint64
	lastErr                atomic.Pointer[error]
}

var errLongChain = errors.New("packet chained over more slots than a message takes")

type slotMeta struct {
	n    int32
	more bool
}

// offloadQueue is an outQueue that takes offloaded packets: the output queue
// of a port with virtio-net headers.
type offloadQueue outQueue

var (
	_ fabric.OutQueue     = (*outQueue)(nil)
	_ fabric.OffloadQueue = (*offloadQueue)(nil)
)

func newOutQueue(p *Port, s *sock, vnetLen int) (*outQueue, error) {
	n := p.cfg.TxSlots
	stride := slotHeadroom + p.cfg.TxBufSize
	bufs, err := unix.Mmap(-1, 0, n*stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map TX buffers: %w", err)
	}
	q := &outQueue{
		p: p, s: s, bufSize: p.cfg.TxBufSize, stride: stride, nslots: uint32(n), mask: uint32(n - 1), vnetLen: vnetLen,
		bufs: bufs, meta: make([]slotMeta, n),
		msgs: make([]unix.Mmsghdr, maxMsgs), iovs: make([]unix.Iovec, maxIovs),
		ends: make([]uint32, maxMsgs), sizes: make([]int, maxMsgs),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	return q, nil
}

// BufSize implements fabric.OutQueue.
func (q *outQueue) BufSize() int { return q.bufSize }

// Room implements fabric.OutQueue.
func (q *outQueue) Room(from uint32) uint32 {
	used := from - q.sent.Load()
	if used >= q.nslots {
		return 0
	}
	return q.nslots - used
}

// Buffer implements fabric.OutQueue.
func (q *outQueue) Buffer(i uint32) []byte {
	o := q.bufOff(i)
	return q.bufs[o : o+q.bufSize : o+q.bufSize]
}

// bufOff is where slot i's buffer starts in bufs.
func (q *outQueue) bufOff(i uint32) int { return int(i&q.mask)*q.stride + slotHeadroom }

// SetSlot implements fabric.OutQueue.
func (q *outQueue) SetSlot(i uint32, n int, more bool) {
	q.meta[i&q.mask] = slotMeta{n: int32(n), more: more}
}

// Publish implements fabric.OutQueue.
func (q *outQueue) Publish(tail uint32) { q.tail.Store(tail) }

// Notify implements fabric.OutQueue: it sends what was published, unless
// another goroutine is doing so.
func (q *outQueue) Notify() {
	for q.tail.Load() != q.sent.Load() {
		if !q.flushing.CompareAndSwap(false, true) {
			return // the holder looks at tail again after it lets go
		}
		blocked := q.flush()
		q.flushing.Store(false)
		if blocked {
			select {
			case q.kick <- struct{}{}:
			default:
			}
			return
		}
	}
}

func (q *offloadQueue) BufSize() int                       { return (*outQueue)(q).BufSize() }
func (q *offloadQueue) Room(from uint32) uint32            { return (*outQueue)(q).Room(from) }
func (q *offloadQueue) Buffer(i uint32) []byte             { return (*outQueue)(q).Buffer(i) }
func (q *offloadQueue) SetSlot(i uint32, n int, more bool) { (*outQueue)(q).SetSlot(i, n, more) }
func (q *offloadQueue) Publish(tail uint32)                { (*outQueue)(q).Publish(tail) }
func (q *offloadQueue) Notify()                            { (*outQueue)(q).Notify() }

// SetOffload implements fabric.OffloadQueue.
func (q *offloadQueue) SetOffload(i uint32, h vnet.Hdr) {
	o := (*outQueue)(q).bufOff(i)
	h.Encode(q.bufs[o-vnet.Len : o])
}

// flush sends [sent, tail) and reports whether it stopped because the
// socket had no room. Preconditions: the caller holds q.flushing.
func (q *outQueue) flush() (blocked bool) {
	for {
		s, t := q.sent.Load(), q.tail.Load()
		if s == t {
			return false
		}
		k, iov := 0, 0
		for s != t && k < maxMsgs {
			first, size := s, 0
			need := 1
			for q.meta[s&q.mask].more && s+1 != t {
				s++
				need++
			}
			s++
			if need > len(q.iovs) { // never from the fabric: MaxFrags slots at most
				if k > 0 {
					s = first
					break
				}
				q.drop(errLongChain)
				q.sent.Store(s)
				continue
			}
			if iov+need > len(q.iovs) {
				s = first
				break
			}
			h := &q.msgs[k].Hdr
			h.Iov = &q.iovs[iov]
			h.SetIovlen(need)
			for j := first; j != s; j++ {
				n := min(max(int(q.meta[j&q.mask].n), 0), q.bufSize)
				o := q.bufOff(j)
				if j == first { // the header, in front of the first buffer
					o -= q.vnetLen
					q.iovs[iov].SetLen(n + q.vnetLen)
				} else {
					q.iovs[iov].SetLen(n)
				}
				q.iovs[iov].Base = &q.bufs[o]
				iov++
				size += n
			}
			q.ends[k], q.sizes[k] = s, size
			k++
		}
		if k == 0 {
			continue // only dropped chains
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(q.s.txfd), uintptr(unsafe.Pointer(&q.msgs[0])),
			uintptr(k), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == 0:
			var bytes uint64
			for _, sz := range q.sizes[:r] {
				bytes += uint64(sz)
			}
			q.packets.Add(uint64(r))
			q.bytes.Add(bytes)
			q.sent.Store(q.ends[r-1])
		case errno == unix.EAGAIN:
			return true
		case errno == unix.EINTR:
		default:
			// The first message failed: drop it, send the rest.
			q.drop(errno)
			q.sent.Store(q.ends[0])
		}
	}
}

// drop counts a packet the kernel refused, or a broken chain.
func (q *outQueue) drop(err error) {
	q.errors.Add(1)
	if e := q.lastErr.Load(); e == nil || *e != err {
		q.lastErr.Store(&err)
	}
}

// start runs the helper that finishes flushes the socket had no room for.
func (q *outQueue) start() {
	q.started = true
	q.pfd[0] = unix.PollFd{Fd: int32(q.s.txfd), Events: unix.POLLOUT}
	go func() {
		defer close(q.done)
		for {
			select {
			case <-q.kick:
			case <-q.quit:
				return
			}
			for !q.writable() {
				// Bounded, so that stop is seen.
				unix.Poll(q.pfd[:], 50)
				select {
				case <-q.quit:
					return
				default:
				}
			}
		}
	}()
}

// writable flushes for the helper: false (wait for room) while the socket
// has none.
func (q *outQueue) writable() bool {
	if !q.flushing.CompareAndSwap(false, true) {
		return true // the holder will kick again if it runs out of room
	}
	blocked := q.flush()
	q.flushing.Store(false)
	if blocked {
		return false
	}
	q.Notify() // what was published while we held the flag
	return true
}

// stop ends the helper. The fabric no longer calls the queue.
func (q *outQueue) stop() {
	q.stopOnce.Do(func() {
		close(q.quit)
		if q.started {
			<-q.done
		}
	})
}

// free unmaps the buffers.
func (q *outQueue) free() { unix.Munmap(q.bufs) }
