// Package afpacket connects a kernel interface to the switch through
// AF_PACKET sockets with TPACKET_V3 mmap rings.
//
// It is the port for any kernel interface when AF_XDP is not available. Each
// queue pair is one AF_PACKET socket bound to the interface; with several
// queues the sockets form a PACKET_FANOUT group in hash mode, so the packets
// of one flow always reach the same input queue.
//
//	interface --tpacket_rcv--> RX ring (TPACKET_V3 blocks) --> inQueue --> fabric
//	interface <--packet_snd--- sendmmsg <-- slot ring <-------- outQueue <-- fabric
//
// Receive: the kernel fills blocks of the mmap'd ring and retires one when it
// is full or after Config.RetireTimeout. Receive lends the frames of retired
// blocks in place, and Release hands a block back to the kernel once every
// frame in it was released: one copy per hop, the fabric's.
//
// Offload: with virtio-net headers (the default) the kernel hands over what a
// local sender left undone, a partial checksum or a GSO packet of up to 64 KB,
// and says so in a header in front of the frame. Receive decodes it into
// fabric.Slot.Offload, and the output queues are fabric.OffloadQueues that
// write the header given by SetOffload in front of every packet they send. So
// TCP between two hosts behind the switch keeps its segmentation offload end
// to end, and no packet leaves with an unfinished checksum: the kernel
// finishes it, or the fabric does for destinations without offload.
//
// Transmit: Publish only moves an index; Notify sends what was published
// with one sendmmsg(MSG_DONTWAIT) per batch, from a ring of the port's own
// buffers. A packet longer than one buffer is one message with several
// iovecs. Not the PACKET_TX_RING: its frames cannot be chained, so each one
// would have to hold a whole 64 KB packet and its header (the ring would be
// mostly empty bytes), and on veth, the common case, the kernel copies the
// ring's pages anyway (tpacket skbs are zerocopy skbs, and dev_forward_skb
// orphans their frags); packet_snd copies once from the iovecs. Concurrent
// Notify callers never wait for each other: whoever holds the queue's flush
// flag sends until nothing published is left; when the socket has no room
// (EAGAIN) a helper goroutine waits for it in the netpoller and finishes.
//
// Waiting: in ModeInterrupt an empty input queue sleeps in the Go netpoller
// on its socket and costs no CPU; in ModePoll it spins, yielding the CPU
// (sched_yield) between polls. Either way a frame becomes visible when its
// block retires: RetireTimeout bounds the latency of sparse traffic.
package afpacket

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"golang.org/x/sys/unix"
)

// Mode chooses how an empty input queue waits.
type Mode int

const (
	// ModeInterrupt sleeps in the netpoller until the kernel retires a block.
	ModeInterrupt Mode = iota
	// ModePoll busy-polls the ring, yielding the CPU after a few empty polls.
	ModePoll
)

func (m Mode) String() string {
	switch m {
	case ModeInterrupt:
		return "interrupt"
	case ModePoll:
		return "poll"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults and limits.
const (
	DefaultBlockSize     = 128 << 10 // holds a 64 KB GSO packet and its headers
	DefaultBlocks        = 64
	DefaultRetireTimeout = time.Millisecond
	DefaultTxSlots       = 1024
	DefaultTxBufSize     = 4096
	MaxQueues            = 64
)

// Config configures a port. Zero fields take their defaults.
type Config struct {
	// Interface is the kernel interface to attach to. It must exist; the
	// port neither creates it nor brings it up.
	Interface string
	// Queues is the number of queue pairs (sockets): default 1. With more
	// than one the sockets join a PACKET_FANOUT group in hash mode.
	Queues int
	// Mode is how an empty input queue waits.
	Mode Mode
	// NoVnetHdr turns virtio-net headers (PACKET_VNET_HDR) off: the port
	// then neither receives nor sends offloaded packets. Partial checksums
	// of received frames are still described in Slot.Offload (from the IP
	// header), but GSO packets are not: a local sender's 64 KB TCP packet is
	// forwarded as one frame, which the far side cannot take. Leave it off.
	NoVnetHdr bool
	// BlockSize is the size of an RX ring block: a multiple of the page
	// size, default DefaultBlockSize. Frames longer than a block less its
	// headers are counted as truncated and dropped.
	BlockSize int
	// Blocks is the number of RX ring blocks: default DefaultBlocks.
	Blocks int
	// RetireTimeout is how long the kernel keeps a block that is not full
	// before it hands it over (tp_retire_blk_tov, whole milliseconds, at
	// least 1): default DefaultRetireTimeout.
	RetireTimeout time.Duration
	// TxSlots is the number of slots of an output queue, a power of two:
	// default DefaultTxSlots.
	TxSlots int
	// TxBufSize is the size of each output slot's buffer (the fabric's
	// BufSize): default DefaultTxBufSize. Longer packets span several slots.
	TxBufSize int
	// Logger receives the port's rare events; nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the counters of a port, summed over its queues.
type Stats struct {
	RxPackets, RxBytes uint64 // frames lent to the fabric
	TxPackets, TxBytes uint64 // frames the kernel accepted
	// KernelDrops counts frames the kernel could not put in a ring
	// (PACKET_STATISTICS tp_drops: the ring was full), KernelFreezes the
	// times a full ring stopped it (tp_freeze_q_cnt).
	KernelDrops, KernelFreezes uint64
	// Truncated counts frames longer than a block, skipped.
	Truncated uint64
	// BadRecords counts ring records that failed validation, skipped.
	BadRecords uint64
	// TxErrors counts packets the kernel refused (a bad header, a frame
	// over the MTU, the interface down, no buffer): dropped. LastTxError
	// is the error of the last one.
	TxErrors    uint64
	LastTxError error
}

// Port is an AF_PACKET port: a fabric.Backend. Its output queues are
// fabric.OffloadQueues unless Config.NoVnetHdr is set.
type Port struct {
	cfg     Config
	ifindex int
	log     *slog.Logger
	socks   []*sock
	in      []fabric.InQueue
	out     []fabric.OutQueue

	mu sync.Mutex
	// Guarded by mu.
	kernelDrops, kernelFreezes uint64
	closed                     bool
}

var _ fabric.Backend = (*Port)(nil)

// sock is one queue pair: the socket, its RX ring and its output slots.
type sock struct {
	fd   int
	file *os.File // the fd in the netpoller: Wait and the TX helper sleep on it
	rc   syscall.RawConn
	rx   *inQueue
	tx   *outQueue
}

// Open opens an AF_PACKET port on cfg.Interface.
func Open(cfg Config) (*Port, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("open afpacket port %s: %w", cfg.Interface, err)
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("open afpacket port %s: %w", cfg.Interface, err)
	}
	p := &Port{cfg: cfg, ifindex: ifi.Index, log: cfg.Logger.With("port", "afpacket", "interface", cfg.Interface)}
	fanout := 0
	for i := 0; i < cfg.Queues; i++ {
		s, err := p.openSock(i, &fanout)
		if err != nil {
			p.closeSocks()
			return nil, fmt.Errorf("open afpacket port %s: queue %d: %w", cfg.Interface, i, err)
		}
		p.socks = append(p.socks, s)
		p.in = append(p.in, s.rx)
		if cfg.NoVnetHdr {
			p.out = append(p.out, s.tx)
		} else {
			p.out = append(p.out, (*offloadQueue)(s.tx))
		}
	}
	for _, s := range p.socks {
		s.tx.start()
	}
	p.log.Debug("port open", "queues", cfg.Queues, "mode", cfg.Mode, "vnet", !cfg.NoVnetHdr)
	return p, nil
}

func (c *Config) setDefaults() error {
	if c.Interface == "" {
		return errors.New("no interface")
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.Blocks == 0 {
		c.Blocks = DefaultBlocks
	}
	if c.RetireTimeout == 0 {
		c.RetireTimeout = DefaultRetireTimeout
	}
	if c.TxSlots == 0 {
		c.TxSlots = DefaultTxSlots
	}
	if c.TxBufSize == 0 {
		c.TxBufSize = DefaultTxBufSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	page := os.Getpagesize()
	switch {
	case c.Queues < 1 || c.Queues > MaxQueues:
		return fmt.Errorf("%d queues outside [1, %d]", c.Queues, MaxQueues)
	case c.Mode != ModeInterrupt && c.Mode != ModePoll:
		return fmt.Errorf("unknown mode %d", int(c.Mode))
	case c.BlockSize < page || c.BlockSize%page != 0 || c.BlockSize > 1<<22:
		return fmt.Errorf("block size %d is not a multiple of the page size up to 4 MiB", c.BlockSize)
	case c.Blocks < 2 || c.Blocks > 1<<16:
		return fmt.Errorf("%d blocks outside [2, 65536]", c.Blocks)
	case c.RetireTimeout < time.Millisecond || c.RetireTimeout > time.Second:
		return fmt.Errorf("retire timeout %v outside [1ms, 1s]", c.RetireTimeout)
	case c.TxSlots < 64 || c.TxSlots > 1<<16 || c.TxSlots&(c.TxSlots-1) != 0:
		return fmt.Errorf("%d TX slots is not a power of two in [64, 65536]", c.TxSlots)
	case c.TxBufSize < fabric.MinBufSize || c.TxBufSize > 1<<16:
		return fmt.Errorf("TX buffer size %d outside [%d, 65536]", c.TxBufSize, fabric.MinBufSize)
	}
	return nil
}

// openSock creates, configures and binds queue i's socket. *fanout is the
// group ID, 0 until the first socket created the group.
func (p *Port) openSock(i int, fanout *int) (s *sock, err error) {
	cfg := &p.cfg
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	s = &sock{fd: fd}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	opt := func(name string, o, v int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, o, v); err != nil {
			return fmt.Errorf("setsockopt %s: %w", name, err)
		}
		return nil
	}
	vnetLen := 0
	if err := opt("PACKET_VERSION", unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, err
	}
	if !cfg.NoVnetHdr {
		if err := opt("PACKET_VNET_HDR", unix.PACKET_VNET_HDR, 1); err != nil {
			return nil, err
		}
		vnetLen = 10
	}
	if err := opt("PACKET_QDISC_BYPASS", unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return nil, err
	}
	if err := opt("PACKET_IGNORE_OUTGOING", unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return nil, err
	}
	// Room for bursts of 64 KB packets in flight toward a slow peer.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
		p.log.Debug("SO_SNDBUFFORCE refused", "err", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.Blocks),
		Frame_size:     uint32(cfg.BlockSize), // only checked for consistency in V3
		Frame_nr:       uint32(cfg.Blocks),
		Retire_blk_tov: uint32(cfg.RetireTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("setsockopt PACKET_RX_RING: %w", err)
	}
	ring, err := unix.Mmap(fd, 0, cfg.BlockSize*cfg.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap RX ring: %w", err)
	}
	s.rx = newInQueue(p, s, i, ring, vnetLen)
	if s.tx, err = newOutQueue(p, s, vnetLen); err != nil {
		return nil, err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return nil, fmt.Errorf("setsockopt PACKET_ADD_MEMBERSHIP promiscuous: %w", err)
	}
	if cfg.Queues > 1 {
		if *fanout == 0 {
			if err := opt("PACKET_FANOUT", unix.PACKET_FANOUT, (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
				return nil, err
			}
			v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
			if err != nil {
				return nil, fmt.Errorf("getsockopt PACKET_FANOUT: %w", err)
			}
			*fanout = v&0xffff | 1<<16 // bit 16 marks "set": the kernel's ID may be 0
		} else if err := opt("PACKET_FANOUT", unix.PACKET_FANOUT, *fanout&0xffff|unix.PACKET_FANOUT_HASH<<16); err != nil {
			return nil, err
		}
	}
	s.file = os.NewFile(uintptr(fd), fmt.Sprintf("afpacket:%s:%d", cfg.Interface, i))
	if s.rc, err = s.file.SyscallConn(); err != nil {
		return nil, fmt.Errorf("netpoller: %w", err)
	}
	return s, nil
}

// close releases the socket and its memory. Nothing may use them any more.
func (s *sock) close() {
	if s.tx != nil {
		s.tx.stop()
	}
	if s.file != nil {
		s.file.Close()
	} else {
		unix.Close(s.fd)
	}
	if s.rx != nil {
		unix.Munmap(s.rx.ring)
	}
	if s.tx != nil {
		s.tx.free()
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// InQueues implements fabric.Backend.
func (p *Port) InQueues() []fabric.InQueue { return p.in }

// OutQueues implements fabric.Backend.
func (p *Port) OutQueues() []fabric.OutQueue { return p.out }

// Config returns the port's configuration, defaults filled in.
func (p *Port) Config() Config { return p.cfg }

// Stats returns the port's counters. It reads (and so resets) the kernel's
// PACKET_STATISTICS of each socket, adding them to the port's totals.
func (p *Port) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st Stats
	for _, s := range p.socks {
		if !p.closed {
			p.readKernelStatsLocked(s)
		}
		q := s.rx
		st.RxPackets += q.packets.Load()
		st.RxBytes += q.bytes.Load()
		st.Truncated += q.truncated.Load()
		st.BadRecords += q.bad.Load()
		t := s.tx
		st.TxPackets += t.packets.Load()
		st.TxBytes += t.bytes.Load()
		st.TxErrors += t.errors.Load()
		if e := t.lastErr.Load(); e != nil {
			st.LastTxError = *e
		}
	}
	st.KernelDrops, st.KernelFreezes = p.kernelDrops, p.kernelFreezes
	return st
}

// Preconditions: p.mu is held and the sockets are open.
func (p *Port) readKernelStatsLocked(s *sock) {
	ks, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	p.kernelDrops += uint64(ks.Drops)
	p.kernelFreezes += uint64(ks.Freeze_q_cnt)
}

// Close implements fabric.Backend: it closes the sockets and frees the
// rings. The fabric calls it after its last use of the queues; a port that
// was never attached may be closed directly.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	for _, s := range p.socks {
		p.readKernelStatsLocked(s)
	}
	p.closed = true
	p.mu.Unlock()
	p.closeSocks()
	return nil
}

func (p *Port) closeSocks() {
	for _, s := range p.socks {
		s.close()
	}
}
