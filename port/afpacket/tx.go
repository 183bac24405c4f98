package afpacket

// The transmit side: a fabric.OutQueue over a ring of the port's own
// buffers, handed to the kernel through a PACKET_TX_RING.
//
//	slots:  ... | free | published, not yet flushed | reserved by the fabric | free ...
//	                   ^ sent                       ^ tail
//
//	slot:   | headroom: ..., virtio-net header | buffer (bufSize bytes) |
//	        ^ slot*stride                       ^ slot*stride + slotHeadroom
//
// The fabric fills slots and publishes them (tail, an atomic store: Publish
// runs under the fabric's lock and makes no system call). SetOffload writes
// the packet's virtio-net header right in front of its first buffer. The
// headroom also keeps the buffers from sharing cache sets: at a stride of
// exactly 4 KB every buffer would begin in the same set, and a batch the
// fabric wrote would evict itself before it is read again.
//
// Notify flushes [sent, tail). A packet in one slot that fits a TX ring
// frame (the usual case: up to 2,006 bytes) is copied, header and all,
// into the next frame of the socket's TX ring, which is marked
// TP_STATUS_SEND_REQUEST; one send(2) per flush (or per ring-full) then
// makes the kernel send every requested frame (tpacket_snd). That costs the
// switch's core about half what sendmmsg did per 64-byte packet: no msghdr
// and iovec to copy in and out per packet, no per-message socket call. The
// header's hdr_len is set to the whole frame for packets without GSO, so
// the kernel copies the frame into the skb (as packet_snd does) instead of
// attaching the ring's page, which veth would copy into a fresh page
// anyway (tpacket skbs are zerocopy skbs). A longer packet (a GSO packet
// chained over several slots, a jumbo frame) cannot go through the ring,
// whose frames cannot be chained: it is sent with sendmsg on a second
// socket, after the ring's frames before it are sent, so packets leave in
// the order they were published. A slot is free again as soon as the
// flusher copied or sent it; Room counts from sent. SendDirect sends a
// packet longer than a slot from the fabric's input buffers, as the flag's
// holder: it flushes what was published before, then the packet (see
// fabric.DirectQueue); it declines, and the fabric copies the packet into
// slots, when the flag is taken or the kernel has no room.
//
//	TX ring:  ... | taken by the kernel | requested (SEND_REQUEST) | free ...
//	                                    ^ racked                   ^ rhead
//
// The kernel sends requested frames in ring order and hands each back
// (TP_STATUS_AVAILABLE) once the skb is gone, at once on veth. The ring
// socket has PACKET_LOSS, so a frame the kernel finds malformed is skipped
// rather than stopping the ring. When send fails for another reason than a
// full send buffer (the interface went down, the peer refused the packet),
// the frames still requested are dropped and counted, as sendmmsg dropped
// a refused message.
//
// One goroutine at a time flushes, the holder of the flushing flag; a
// Notify that finds it taken returns at once, and the holder looks at tail
// again after it dropped the flag, so nothing published is left behind.
// When the kernel cannot take more (a full send buffer: EAGAIN; every ring
// frame still in flight on a real NIC) the flusher leaves the rest to the
// queue's helper goroutine, which waits in poll(2) on the socket that had no
// room and flushes again. (A packet a socket sent stays charged to its send
// buffer until the skb is freed or orphaned: a 64 KB GSO packet in the
// receiving host's socket queue is charged to the second socket.)
//
// The queue sends on sockets of its own, not the receiving one, and keeps
// them out of the netpoller: every packet the kernel frees after sending
// wakes whoever waits on its socket for room, and with the socket in the
// netpoller's epoll set someone always did, at a lock and an epoll
// callback per packet on the switch's core.

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

const (
	// slotHeadroom is the room in front of each slot's buffer: the
	// virtio-net header, and one cache line of stagger.
	slotHeadroom = 64

	// TX ring geometry. A frame is its tpacket2_hdr, then (the kernel's
	// fixed offset without PACKET_TX_HAS_OFF) the virtio-net header and
	// the packet.
	txFrameSize = 2048
	txDataOff   = 32 // TPACKET2_HDRLEN − sizeof(struct sockaddr_ll)
	txBlockSize = 4096

	// maxIovs bounds the iovecs of a packet sent with sendmsg: the header
	// and fabric.MaxFrags slots.
	maxIovs = 1 + fabric.MaxFrags
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
	sent atomic.Uint32 // first slot not flushed

	flushing atomic.Bool
	// Owned by the holder of flushing.
	ring   []byte   // the TX ring, rmask+1 frames of txFrameSize
	rmask  uint32   // frames − 1
	rhead  uint32   // free-running: the next frame to fill
	racked uint32   // free-running: the first frame the kernel has not taken
	rlen   []uint32 // by frame: the packet's length, for the counters
	iovs   []unix.Iovec
	msg    unix.Msghdr
	dhdr   [vnet.Len]byte // the virtio-net header of a SendDirect packet

	kick     chan struct{} // the helper should wait for room
	quit     chan struct{}
	done     chan struct{}
	started  bool
	pfd      [1]unix.PollFd // the helper's
	waitFd   atomic.Int32   // the socket that had no room: the helper polls it
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
	_ fabric.DirectQueue  = (*outQueue)(nil)
	_ fabric.OffloadQueue = (*offloadQueue)(nil)
	_ fabric.DirectQueue  = (*offloadQueue)(nil)
)

// newOutQueue creates the output queue of s, whose send sockets (s.txfd
// with its TX ring, s.bigfd) are open.
func newOutQueue(p *Port, s *sock, ring []byte, vnetLen int) (*outQueue, error) {
	n := p.cfg.TxSlots
	stride := slotHeadroom + p.cfg.TxBufSize
	bufs, err := unix.Mmap(-1, 0, n*stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map TX buffers: %w", err)
	}
	frames := len(ring) / txFrameSize
	q := &outQueue{
		p: p, s: s, bufSize: p.cfg.TxBufSize, stride: stride, nslots: uint32(n), mask: uint32(n - 1), vnetLen: vnetLen,
		bufs: bufs, meta: make([]slotMeta, n),
		ring: ring, rmask: uint32(frames - 1), rlen: make([]uint32, frames), iovs: make([]unix.Iovec, maxIovs),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	q.msg.Iov = &q.iovs[0]
	return q, nil
}

// openTxRing opens the socket whose TX ring a queue sends from, with frames
// frames (a power of two).
func (p *Port) openTxRing(vnetHdr bool, frames int) (fd int, ring []byte, err error) {
	fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("TX ring socket: %w", err)
	}
	err = func() error {
		opt := func(name string, o, v int) error {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, o, v); err != nil {
				return fmt.Errorf("setsockopt %s: %w", name, err)
			}
			return nil
		}
		if err := opt("PACKET_VERSION", unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
			return err
		}
		if vnetHdr {
			if err := opt("PACKET_VNET_HDR", unix.PACKET_VNET_HDR, 1); err != nil {
				return err
			}
		}
		if err := opt("PACKET_QDISC_BYPASS", unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return err
		}
		// A malformed frame is skipped, not left to stop the ring.
		if err := opt("PACKET_LOSS", unix.PACKET_LOSS, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
			p.log.Debug("SO_SNDBUFFORCE refused", "err", err)
		}
		req := unix.TpacketReq{
			Block_size: txBlockSize,
			Block_nr:   uint32(frames * txFrameSize / txBlockSize),
			Frame_size: txFrameSize,
			Frame_nr:   uint32(frames),
		}
		if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
			return fmt.Errorf("setsockopt PACKET_TX_RING: %w", err)
		}
		if ring, err = unix.Mmap(fd, 0, frames*txFrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			return fmt.Errorf("mmap TX ring: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: p.ifindex}); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		return nil
	}()
	if err != nil {
		if ring != nil {
			unix.Munmap(ring)
		}
		unix.Close(fd)
		return -1, nil, fmt.Errorf("TX ring socket: %w", err)
	}
	return fd, ring, nil
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

// frameStatus returns the status word of TX ring frame i.
func (q *outQueue) frameStatus(i uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&q.ring[int(i&q.rmask)*txFrameSize]))
}

// flush sends [sent, tail) and reports whether it stopped because the
// kernel could take no more. Preconditions: the caller holds q.flushing.
func (q *outQueue) flush() (blocked bool) {
	for {
		s, t := q.sent.Load(), q.tail.Load()
		if s == t {
			break
		}
		e := s
		for q.meta[e&q.mask].more && e+1 != t {
			e++
		}
		e++
		n := min(max(int(q.meta[s&q.mask].n), 0), q.bufSize)
		if e-s == 1 && txDataOff+q.vnetLen+n <= txFrameSize {
			if !q.toRing(s, n) {
				return true
			}
			q.sent.Store(e)
			continue
		}
		// Longer than a frame: after what the ring holds, on its own.
		if q.rhead != q.racked && q.kickRing() {
			return true
		}
		if !q.sendLong(s, e) {
			q.waitFd.Store(int32(q.s.bigfd))
			return true
		}
		q.sent.Store(e)
	}
	return q.rhead != q.racked && q.kickRing()
}

// toRing copies slot s's packet of n bytes, with its header, into the next
// TX ring frame and requests it; false if the kernel holds every frame.
func (q *outQueue) toRing(s uint32, n int) bool {
	st := q.frameStatus(q.rhead)
	if atomic.LoadUint32(st)&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_SENDING) != 0 {
		// The ring is full: let the kernel send what was requested.
		if q.kickRing() || atomic.LoadUint32(st)&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_SENDING) != 0 {
			return false
		}
	}
	fo := int(q.rhead&q.rmask) * txFrameSize
	f := q.ring[fo : fo+txFrameSize : fo+txFrameSize]
	bo := q.bufOff(s) - q.vnetLen
	copy(f[txDataOff:], q.bufs[bo:bo+q.vnetLen+n])
	if q.vnetLen > 0 && f[txDataOff+1] == vnet.GSONone {
		// The whole frame into the skb's head (see the file comment).
		f[txDataOff+2], f[txDataOff+3] = byte(n), byte(n>>8)
	}
	*(*uint32)(unsafe.Pointer(&f[frLenOff])) = uint32(q.vnetLen + n)
	q.rlen[q.rhead&q.rmask] = uint32(n)
	atomic.StoreUint32(st, unix.TP_STATUS_SEND_REQUEST)
	q.rhead++
	return true
}

// kickRing makes the kernel send the requested frames, and reports whether
// some are left for later (the socket's send buffer is full).
func (q *outQueue) kickRing() (blocked bool) {
	q.waitFd.Store(int32(q.s.txfd)) // if blocked: what the helper waits on
	for {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(q.s.txfd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		var pkts, bytes uint64
		for q.racked != q.rhead && atomic.LoadUint32(q.frameStatus(q.racked))&unix.TP_STATUS_SEND_REQUEST == 0 {
			pkts++
			bytes += uint64(q.rlen[q.racked&q.rmask])
			q.racked++
		}
		if pkts > 0 {
			q.packets.Add(pkts)
			q.bytes.Add(bytes)
		}
		switch {
		case q.racked == q.rhead:
			return false
		case errno == unix.EINTR:
		case errno == unix.EAGAIN:
			return true
		case errno == 0:
			if pkts == 0 {
				return true // nothing taken: the helper tries again
			}
			// The send buffer filled midway: again.
		default:
			// Refused: drop what is still requested. The kernel's
			// head is at racked, and nothing else walks the ring.
			for ; q.racked != q.rhead; q.racked++ {
				atomic.StoreUint32(q.frameStatus(q.racked), unix.TP_STATUS_AVAILABLE)
				q.drop(errno)
			}
			q.rhead = q.racked
			return false
		}
	}
}

// sendLong sends the packet of slots [s, e) with sendmsg, and reports false
// if the socket had no room for it.
func (q *outQueue) sendLong(s, e uint32) bool {
	need := int(e - s)
	if q.vnetLen > 0 {
		need++
	}
	if need > len(q.iovs) { // never from the fabric: MaxFrags slots at most
		q.drop(errLongChain)
		return true
	}
	k, size := 0, 0
	if q.vnetLen > 0 {
		o := q.bufOff(s) - q.vnetLen
		q.iovs[0].Base = &q.bufs[o]
		q.iovs[0].SetLen(q.vnetLen)
		k++
	}
	for j := s; j != e; j++ {
		n := min(max(int(q.meta[j&q.mask].n), 0), q.bufSize)
		q.iovs[k].Base = &q.bufs[q.bufOff(j)]
		q.iovs[k].SetLen(n)
		k++
		size += n
	}
	return q.sendIovs(k, size)
}

// sendIovs sends the packet of q.iovs[:k], size bytes, with sendmsg on the
// second socket, and reports false if the socket had no room for it.
func (q *outQueue) sendIovs(k, size int) bool {
	q.msg.SetIovlen(k)
	for {
		_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(q.s.bigfd), uintptr(unsafe.Pointer(&q.msg)), unix.MSG_DONTWAIT)
		switch errno {
		case 0:
			q.packets.Add(1)
			q.bytes.Add(uint64(size))
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		q.drop(errno)
		return true
	}
}

// SendDirect implements fabric.DirectQueue: a packet longer than a slot (a
// GSO packet above all) goes with one sendmsg from the buffers it arrived
// in, after what was published before, instead of being copied into the
// slots first: the kernel copies it into the skb anyway. It declines when
// another goroutine is flushing, when the kernel has no room for what was
// published before or for the packet, and for more buffers than a message
// takes.
func (q *outQueue) SendDirect(bufs [][]byte, h vnet.Hdr) bool {
	if len(bufs) > fabric.MaxFrags || !q.flushing.CompareAndSwap(false, true) {
		return false
	}
	sent := false
	blocked := q.flush()
	if !blocked {
		if sent = q.sendDirect(bufs, h); !sent {
			q.waitFd.Store(int32(q.s.bigfd))
			blocked = q.tail.Load() != q.sent.Load()
		}
	}
	q.flushing.Store(false)
	if blocked {
		select {
		case q.kick <- struct{}{}:
		default:
		}
		return sent
	}
	q.Notify() // what was published while we held the flag
	return sent
}

// SendDirect implements fabric.DirectQueue with the packet's virtio-net
// header.
func (q *offloadQueue) SendDirect(bufs [][]byte, h vnet.Hdr) bool {
	return (*outQueue)(q).SendDirect(bufs, h)
}

// sendDirect sends the packet of bufs with header h (if the queue sends
// virtio-net headers) and reports false if the socket had no room for it.
// Preconditions: the caller holds q.flushing.
func (q *outQueue) sendDirect(bufs [][]byte, h vnet.Hdr) bool {
	k, size := 0, 0
	if q.vnetLen > 0 {
		h.Encode(q.dhdr[:])
		q.iovs[0].Base = &q.dhdr[0]
		q.iovs[0].SetLen(q.vnetLen)
		k++
	}
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		q.iovs[k].Base = &b[0]
		q.iovs[k].SetLen(len(b))
		k++
		size += len(b)
	}
	return q.sendIovs(k, size)
}

// drop counts a packet the kernel refused, or a broken chain.
func (q *outQueue) drop(err error) {
	q.errors.Add(1)
	if e := q.lastErr.Load(); e == nil || *e != err {
		q.lastErr.Store(&err)
	}
}

// start runs the helper that finishes flushes the kernel had no room for.
func (q *outQueue) start() {
	q.started = true
	q.pfd[0] = unix.PollFd{Events: unix.POLLOUT}
	go func() {
		defer close(q.done)
		for {
			select {
			case <-q.kick:
			case <-q.quit:
				return
			}
			for !q.writable() {
				// Bounded, so that stop is seen. POLLOUT comes from a
				// send buffer with room too, while the ring's frames
				// may still be in flight: pause before trying again.
				q.pfd[0].Fd = q.waitFd.Load()
				unix.Poll(q.pfd[:], 50)
				time.Sleep(20 * time.Microsecond)
				select {
				case <-q.quit:
					return
				default:
				}
			}
		}
	}()
}

// writable flushes for the helper: false (wait for room) while the kernel
// takes nothing.
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

// free unmaps the buffers. (The TX ring is the socket's.)
func (q *outQueue) free() { unix.Munmap(q.bufs) }
