package afxdp

// One AF_XDP socket, with a UMEM of its own and its four rings:
//
//	          fill ring (frame addresses)          RX ring (descriptors)
//	switch ------------------------------> kernel --------------------> switch
//	          TX ring (descriptors)                completion ring (addresses)
//	switch ------------------------------> kernel --------------------> switch
//
// Each ring is a power-of-two array with free-running u32 producer and
// consumer indices, mapped from the socket. The UMEM's frames are split
// once, at creation: frames [0, rxFrames) circulate between the fill and
// RX rings (and the fabric, which borrows them between Receive and
// Release); frames [rxFrames, frames) between the output queue's free list,
// the TX ring and the completion ring. So the input goroutine and the
// output queue's senders never share a frame, or a ring.

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is the part of a mapped ring common to all four.
type ring struct {
	prod, cons, flags *uint32
	mask              uint32
	mem               []byte
}

func (r *ring) producer() uint32     { return atomic.LoadUint32(r.prod) }
func (r *ring) consumer() uint32     { return atomic.LoadUint32(r.cons) }
func (r *ring) setProducer(v uint32) { atomic.StoreUint32(r.prod, v) }
func (r *ring) setConsumer(v uint32) { atomic.StoreUint32(r.cons, v) }

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP.
func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0 }

type descRing struct {
	ring
	desc []unix.XDPDesc
}

type addrRing struct {
	ring
	addr []uint64
}

// socket is one AF_XDP socket bound to one queue of an interface.
type socket struct {
	fd        int
	queue     int
	umem      []byte
	frameSize uint64
	rxFrames  int // frames [0, rxFrames) are RX frames

	rx, tx     descRing
	fill, comp addrRing

	zeroCopy   bool
	sg         bool // XDP_USE_SG: packets may span several frames
	needWakeup bool // XDP_USE_NEED_WAKEUP
}

// bindFlags returns the sockaddr_xdp flags for cfg.
func bindFlags(cfg *Config, sg bool) uint16 {
	var f uint16
	if !cfg.NoNeedWakeup {
		f |= unix.XDP_USE_NEED_WAKEUP
	}
	if sg {
		f |= unix.XDP_USE_SG
	}
	switch cfg.CopyMode {
	case Copy:
		f |= unix.XDP_COPY
	case ZeroCopy:
		f |= unix.XDP_ZEROCOPY
	}
	return f
}

// newSocket creates a socket with its UMEM and rings and binds it to
// queue of ifindex. With sg it asks for multi-buffer (XDP_USE_SG).
func newSocket(cfg *Config, ifindex, queue int, sg bool) (*socket, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create AF_XDP socket: %w", err)
	}
	s := &socket{fd: fd, queue: queue, frameSize: uint64(cfg.FrameSize), rxFrames: cfg.rxFrames()}
	if err := s.setup(cfg, ifindex, sg); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// skbOverhead is roughly what an skb costs beyond its data.
const skbOverhead = 1024

// setup maps the UMEM and the rings, and binds the socket.
func (s *socket) setup(cfg *Config, ifindex int, sg bool) error {
	fd, queue := s.fd, s.queue
	var err error
	s.umem, err = unix.Mmap(-1, 0, cfg.Frames*cfg.FrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("map UMEM of %d bytes: %w", cfg.Frames*cfg.FrameSize, err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))),
		Len:  uint64(len(s.umem)),
		Size: uint32(cfg.FrameSize),
	}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fmt.Errorf("register UMEM: %w", err)
	}
	sizes := []struct {
		opt, n int
	}{
		{unix.XDP_UMEM_FILL_RING, cfg.fillRingSize()},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.TxRingSize},
		{unix.XDP_RX_RING, cfg.RxRingSize},
		{unix.XDP_TX_RING, cfg.TxRingSize},
	}
	for _, r := range sizes {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, r.opt, r.n); err != nil {
			return fmt.Errorf("set ring size %d (option %d): %w", r.n, r.opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	offLen := uint32(unsafe.Sizeof(off))
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), &offLen); err != nil {
		return fmt.Errorf("read ring offsets: %w", err)
	}
	if err := s.fill.mapAddrs(fd, unix.XDP_UMEM_PGOFF_FILL_RING, &off.Fr, cfg.fillRingSize()); err != nil {
		return fmt.Errorf("map fill ring: %w", err)
	}
	if err := s.comp.mapAddrs(fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, &off.Cr, cfg.TxRingSize); err != nil {
		return fmt.Errorf("map completion ring: %w", err)
	}
	if err := s.rx.mapDescs(fd, unix.XDP_PGOFF_RX_RING, &off.Rx, cfg.RxRingSize); err != nil {
		return fmt.Errorf("map RX ring: %w", err)
	}
	if err := s.tx.mapDescs(fd, unix.XDP_PGOFF_TX_RING, &off.Tx, cfg.TxRingSize); err != nil {
		return fmt.Errorf("map TX ring: %w", err)
	}
	// The kernel has every RX frame from the start.
	for i := 0; i < s.rxFrames; i++ {
		s.fill.addr[i] = uint64(i) * s.frameSize
	}
	s.fill.setProducer(uint32(s.rxFrames))

	sa := &unix.SockaddrXDP{Flags: bindFlags(cfg, sg), Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	// A socket closed a moment ago (a port closed and opened again) frees
	// its queue in a kernel work item: give it a second.
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		err := unix.Bind(fd, sa)
		if err == nil {
			break
		}
		if err != unix.EBUSY || time.Since(start) > time.Second {
			if err == unix.EBUSY {
				return fmt.Errorf("bind to queue %d (flags %#x): %w (another AF_XDP socket has the queue)", queue, sa.Flags, err)
			}
			return fmt.Errorf("bind to queue %d (flags %#x): %w", queue, sa.Flags, err)
		}
	}
	s.sg = sg
	s.needWakeup = !cfg.NoNeedWakeup
	var opts uint32
	optLen := uint32(unsafe.Sizeof(opts))
	if err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), &optLen); err == nil {
		s.zeroCopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	// In copy mode one sendto transmits at most 32 packets unless the
	// budget is raised (Linux 6.17+); older kernels refuse the option and
	// Notify kicks again instead.
	unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, cfg.TxRingSize)
	// In copy mode every packet in flight is an skb charged to the
	// socket's send buffer: make room for a full TX ring of them, or
	// sendto stops early with EAGAIN.
	if !s.zeroCopy {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, min(cfg.TxRingSize*(cfg.FrameSize+skbOverhead), 1<<30))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("set socket nonblocking: %w", err)
	}
	return nil
}

func (r *ring) mapRing(fd int, pgoff int64, off *unix.XDPRingOffset, n, entry int) error {
	m, err := unix.Mmap(fd, pgoff, int(off.Desc)+n*entry, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	r.mem = m
	r.prod = (*uint32)(unsafe.Pointer(&m[off.Producer]))
	r.cons = (*uint32)(unsafe.Pointer(&m[off.Consumer]))
	r.flags = (*uint32)(unsafe.Pointer(&m[off.Flags]))
	r.mask = uint32(n - 1)
	return nil
}

func (r *addrRing) mapAddrs(fd int, pgoff int64, off *unix.XDPRingOffset, n int) error {
	if err := r.mapRing(fd, pgoff, off, n, 8); err != nil {
		return err
	}
	r.addr = unsafe.Slice((*uint64)(unsafe.Pointer(&r.mem[off.Desc])), n)
	return nil
}

func (r *descRing) mapDescs(fd int, pgoff int64, off *unix.XDPRingOffset, n int) error {
	if err := r.mapRing(fd, pgoff, off, n, int(unsafe.Sizeof(unix.XDPDesc{}))); err != nil {
		return err
	}
	r.desc = unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&r.mem[off.Desc])), n)
	return nil
}

// rxBytes returns the bytes of a received descriptor, with the capacity up
// to the end of its frame, or false if it does not lie inside one RX frame
// (the kernel never writes such a descriptor; the check keeps a kernel bug
// from becoming a wild write).
func (s *socket) rxBytes(addr uint64, n uint32) ([]byte, bool) {
	if addr >= uint64(s.rxFrames)*s.frameSize {
		return nil, false
	}
	end := addr&^(s.frameSize-1) + s.frameSize
	if addr+uint64(n) > end {
		return nil, false
	}
	return s.umem[addr : addr+uint64(n) : end], true
}

// frame returns the whole frame at addr (a frame's start).
func (s *socket) frame(addr uint64) []byte {
	return s.umem[addr : addr+s.frameSize : addr+s.frameSize]
}

// kickTx asks the kernel to transmit (sendto with MSG_DONTWAIT). It
// returns the errno, 0 on success.
func (s *socket) kickTx() unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// kickRx tells the kernel that the fill ring has frames again (recvfrom
// with MSG_DONTWAIT), when it asked for it.
func (s *socket) kickRx() {
	unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

// statistics reads the kernel's XDP_STATISTICS.
func (s *socket) statistics() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	err := getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), &n)
	return st, err
}

// close closes the socket and unmaps its memory. The caller closed or
// gave away the fd already if s.fd < 0.
func (s *socket) close() error {
	var errs []error
	if s.fd >= 0 {
		errs = append(errs, unix.Close(s.fd))
		s.fd = -1
	}
	for _, m := range [][]byte{s.fill.mem, s.comp.mem, s.rx.mem, s.tx.mem, s.umem} {
		if m != nil {
			errs = append(errs, unix.Munmap(m))
		}
	}
	s.fill.mem, s.comp.mem, s.rx.mem, s.tx.mem, s.umem = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n *uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(n)), 0)
	if e != 0 {
		return e
	}
	return nil
}
