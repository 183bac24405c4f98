package tap

// The transmit side: a fabric.OutQueue over a ring of the port's own
// buffers, written to the device with one writev per packet.
//
//	slots:  ... | written (free) | published, unwritten | reserved by the fabric | free ...
//	                             ^ sent                 ^ tail
//
// Publish stores tail (atomic; it runs under the fabric's lock and makes no
// system call). Notify writes [sent, tail): the packet's virtio-net header
// and its slots as one writev, which the device takes as one frame. The
// kernel copies during the call, so a slot is free again as soon as sent
// passes it. One goroutine at a time writes, the holder of the flushing
// flag; a Notify that finds it taken returns at once, and the holder looks
// at tail again after it let go. On EAGAIN the queue's helper goroutine
// waits for the descriptor in the netpoller and finishes.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"golang.org/x/sys/unix"
)

type outQueue struct {
	q       *queue
	bufSize int
	nslots  uint32
	mask    uint32

	bufs []byte     // nslots*bufSize, anonymous mapping
	hdrs []byte     // nslots*vnet.Len: each packet's header, on its first slot
	meta []slotMeta // by slot
	tail atomic.Uint32
	sent atomic.Uint32

	flushing atomic.Bool
	iovs     []unix.Iovec // owned by the holder of flushing

	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	started  bool
	writeFn  func(fd uintptr) bool
	stopOnce sync.Once

	packets, bytes, errors atomic.Uint64
	lastErr                atomic.Pointer[error]
}

type slotMeta struct {
	n    int32
	more bool
}

var errLongChain = errors.New("packet chained over more slots than a write takes")

var _ fabric.OffloadQueue = (*outQueue)(nil)

func newOutQueue(q *queue, cfg Config) (*outQueue, error) {
	n := cfg.TxSlots
	bufs, err := unix.Mmap(-1, 0, n*cfg.TxBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map TX buffers: %w", err)
	}
	o := &outQueue{
		q: q, bufSize: cfg.TxBufSize, nslots: uint32(n), mask: uint32(n - 1),
		bufs: bufs, hdrs: make([]byte, n*vnet.Len), meta: make([]slotMeta, n),
		iovs: make([]unix.Iovec, 1+fabric.MaxFrags),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	o.writeFn = o.writable
	return o, nil
}

// BufSize implements fabric.OutQueue.
func (o *outQueue) BufSize() int { return o.bufSize }

// Room implements fabric.OutQueue.
func (o *outQueue) Room(from uint32) uint32 {
	used := from - o.sent.Load()
	if used >= o.nslots {
		return 0
	}
	return o.nslots - used
}

// Buffer implements fabric.OutQueue.
func (o *outQueue) Buffer(i uint32) []byte {
	off := int(i&o.mask) * o.bufSize
	return o.bufs[off : off+o.bufSize : off+o.bufSize]
}

// SetSlot implements fabric.OutQueue.
func (o *outQueue) SetSlot(i uint32, n int, more bool) {
	o.meta[i&o.mask] = slotMeta{n: int32(n), more: more}
}

// SetOffload implements fabric.OffloadQueue.
func (o *outQueue) SetOffload(i uint32, h vnet.Hdr) {
	off := int(i&o.mask) * vnet.Len
	h.Encode(o.hdrs[off : off+vnet.Len])
}

// Publish implements fabric.OutQueue.
func (o *outQueue) Publish(tail uint32) { o.tail.Store(tail) }

// Notify implements fabric.OutQueue: it writes what was published, unless
// another goroutine is doing so.
func (o *outQueue) Notify() {
	for o.tail.Load() != o.sent.Load() {
		if !o.flushing.CompareAndSwap(false, true) {
			return
		}
		blocked := o.flush()
		o.flushing.Store(false)
		if blocked {
			select {
			case o.kick <- struct{}{}:
			default:
			}
			return
		}
	}
}

// flush writes [sent, tail) and reports whether it stopped on EAGAIN.
// Preconditions: the caller holds o.flushing.
func (o *outQueue) flush() (blocked bool) {
	for {
		s, t := o.sent.Load(), o.tail.Load()
		if s == t {
			return false
		}
		first := s
		for o.meta[s&o.mask].more && s+1 != t {
			s++
		}
		s++
		if int(s-first)+1 > len(o.iovs) {
			o.drop(errLongChain)
			o.sent.Store(s)
			continue
		}
		iov := o.iovs[:1+s-first]
		iov[0].Base = &o.hdrs[int(first&o.mask)*vnet.Len]
		iov[0].SetLen(vnet.Len)
		size := 0
		for j := first; j != s; j++ {
			n := min(max(int(o.meta[j&o.mask].n), 0), o.bufSize)
			x := &iov[1+j-first]
			x.Base = &o.bufs[int(j&o.mask)*o.bufSize]
			x.SetLen(n)
			size += n
		}
		_, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(o.q.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch errno {
		case 0:
			o.packets.Add(1)
			o.bytes.Add(uint64(size))
		case unix.EAGAIN:
			return true
		case unix.EINTR:
			continue
		default:
			o.drop(errno)
		}
		o.sent.Store(s)
	}
}

// drop counts a packet the device refused, or a broken chain.
func (o *outQueue) drop(err error) {
	o.errors.Add(1)
	if e := o.lastErr.Load(); e == nil || *e != err {
		o.lastErr.Store(&err)
	}
}

// start runs the helper that finishes writes the device had no room for.
func (o *outQueue) start() {
	o.started = true
	go func() {
		defer close(o.done)
		for {
			select {
			case <-o.kick:
			case <-o.quit:
				return
			}
			if err := o.q.rc.Write(o.writeFn); err != nil {
				return
			}
		}
	}()
}

// writable flushes as the netpoller's write check: false (wait) while the
// device has no room.
func (o *outQueue) writable(uintptr) bool {
	select {
	case <-o.quit:
		return true
	default:
	}
	if !o.flushing.CompareAndSwap(false, true) {
		return true
	}
	blocked := o.flush()
	o.flushing.Store(false)
	if blocked {
		return false
	}
	o.Notify()
	return true
}

// stop ends the helper. The fabric no longer calls the queue.
func (o *outQueue) stop() {
	o.stopOnce.Do(func() {
		close(o.quit)
		if o.started {
			if o.q.file != nil {
				o.q.file.SetWriteDeadline(time.Unix(1, 0))
			}
			<-o.done
		}
	})
}

func (o *outQueue) free() { unix.Munmap(o.bufs) }
