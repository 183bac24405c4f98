// Package afpacket connects a kernel interface to the switch through
// AF_PACKET sockets with TPACKET_V2 mmap receive and transmit rings.
//
// It is the port for any kernel interface when AF_XDP is not available. Each
// queue pair receives on one AF_PACKET socket bound to the interface (and
// sends on two of its own); with several queues the receiving sockets form
// a PACKET_FANOUT group in hash mode, so the packets of one flow always
// reach the same input queue.
//
//	interface --tpacket_rcv--> RX ring (TPACKET_V2 frames) --> inQueue --> fabric
//	                   \-------> socket queue --recvmsg--> copy buffers -/
//	interface <--tpacket_snd-- TX ring <-- slot ring <--------- outQueue <-- fabric
//	          <--packet_snd--- sendmsg <-/ (packets longer than a TX ring frame)
//	                                   <------------------------ SendDirect (longer than a slot)
//
// Receive: the kernel copies every packet into the next frame of the mmap'd
// ring, hands the frame over at once and wakes the socket. Receive lends the
// frames in place and Release gives them back: one copy per hop, the
// fabric's. The frames are sized for the interface's MTU (2 KB at 1500
// bytes), so the default 32 MiB ring holds 16,384 packets: 40 ms at
// 400,000 packets a second, enough to ride out the switch's core being
// taken away for a few scheduler time slices (a full ring drops what
// arrives, counted as the port's ring-full drops; with 8 MiB a shared core
// lost 3-20% of a maximum-rate flow that the switch kept up with on
// average, with 32 MiB 0-3.7%). A longer packet,
// a 64 KB GSO packet of a local TCP sender above all, does not fit: the
// kernel cuts it to the frame and, since the socket asks for it
// (PACKET_COPY_THRESH), also queues it whole on the socket, marking the
// frame TP_STATUS_COPY; Receive then fetches it with one recvmsg into a
// 68 KB copy buffer. That costs a system call per 64 KB, nothing per small
// packet.
//
// Why not TPACKET_V3, the usual choice for capture: its blocks are handed
// over only when full or when the retire timer (at least 1 ms) fires, and
// the socket is woken only then, so a lone packet, a ping or a TCP ACK,
// waits up to a millisecond or more in the ring (ping p99 was 1.5-2 ms
// through two ports; it is about 0.1 ms with V2). And not V2 frames big
// enough for a GSO packet (68 KB each): 256 of them (17 MiB) would hold only
// 256 small packets; nor would they make TCP faster where the sender's core
// is as busy as the switch's: the copy recvmsg saves the switch's core
// moves to the sender's softirq (iperf3 through two ports, hosts on one
// core and the switch on the other, both saturated: 14.1 Gb/s with 68 KB
// frames against 17.1 with recvmsg, 3 runs each, sending with SendDirect
// in both). And not recvmmsg for everything: every packet would
// then cost the switch's core a dequeue and a copy in a system call, which
// the ring leaves to the softirq of the sender's core.
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
// Transmit: Publish only moves an index; Notify copies what was published
// from the port's own slots into the frames of a PACKET_TX_RING and makes
// the kernel send them with one send(2) per batch: about half the CPU per
// small packet of one sendmmsg message each, which the port used before
// (msghdr and iovec copies, a socket call per message). A packet longer
// than a ring frame (2 KB), a 64 KB GSO packet chained over several slots
// above all, goes with one sendmsg of several iovecs on a second socket,
// in order: the ring's frames before it are sent first. A packet longer
// than a slot (4 KB) need not be copied into the slots at all: the output
// queues are fabric.DirectQueues, and the fabric hands such a packet to
// SendDirect, which sends it with sendmsg straight from the buffer it
// arrived in (a receive copy buffer, another port's ring frame), the
// kernel's copy into the skb being the only one on the way out. A 64 KB GSO
// packet thus costs the switch's core two copies (recvmsg and sendmsg), not
// three. Not the TX ring
// for everything: its frames cannot be chained, so each would have to hold
// a whole 64 KB packet. Concurrent Notify callers never wait for each
// other: whoever holds the queue's flush flag sends until nothing
// published is left; when the kernel has no room (EAGAIN) a helper
// goroutine waits for it and finishes. See tx.go.
//
// Waiting: in ModeInterrupt an empty input queue sleeps in the Go netpoller
// on its socket and costs no CPU; in ModePoll it spins, yielding the CPU
// (sched_yield) between polls. A ModeInterrupt queue also moderates itself,
// as NICs moderate their interrupts: in a stream, a poll that finds fewer
// than 32 packets (and less than 32 full frames' bytes: a GSO packet is
// taken at once) holds them back once while the goroutine pauses
// (Config.Coalesce, 20 µs plus the kernel's timer slack; package
// internal/coalesce), so that the next poll takes a batch. Without it a
// steady 100 kp/s woke the switch for every packet (74 % of a core, 7.4 µs
// a packet; 27 % and 2.7 µs with it), and at trafgen's maximum rate it
// cost 2.0 µs a packet against 1.4.
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
	"github.com/mswitch/mswitch/internal/busypoll"
	"github.com/mswitch/mswitch/internal/coalesce"
	"golang.org/x/sys/unix"
)

// Mode chooses how an empty input queue waits.
type Mode int

const (
	// ModeInterrupt sleeps in the netpoller until the kernel hands over a frame.
	ModeInterrupt Mode = iota
	// ModePoll busy-polls the ring, yielding the CPU after a few empty polls.
	ModePoll
	// ModeAdaptive sleeps as ModeInterrupt, but only once the queue's last
	// packet is Config.PollWindow old: until then it polls (package
	// internal/busypoll), so a reply or the rest of a burst finds it awake.
	ModeAdaptive
)

func (m Mode) String() string {
	switch m {
	case ModeInterrupt:
		return "interrupt"
	case ModePoll:
		return "poll"
	case ModeAdaptive:
		return "adaptive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults and limits.
const (
	DefaultRingBytes = 32 << 20 // RX ring memory per queue, by default
	MinFrames        = 256
	DefaultCopyBufs  = 64
	DefaultTxSlots   = 1024
	DefaultTxBufSize = 4096
	MaxQueues        = 64
	MaxPollWindow    = time.Second
	DefaultCoalesce  = coalesce.DefaultPause
	MaxCoalesce      = coalesce.MaxPause
	maxFrameSize     = 128 << 10
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
	// PollWindow is how long a ModeAdaptive queue keeps polling after its
	// last packet: default busypoll.DefaultWindow, at most MaxPollWindow.
	PollWindow time.Duration
	// Coalesce is how long a ModeInterrupt or ModeAdaptive queue that is
	// receiving a stream pauses before it takes a batch of fewer than 32
	// packets, so that more come (package internal/coalesce): default
	// DefaultCoalesce, at most MaxCoalesce; the kernel adds the thread's
	// timer slack, 50 µs by default. Negative: never. A packet that wakes
	// a sleeping queue, or comes after an empty poll, is never held back.
	Coalesce time.Duration
	// NoVnetHdr turns virtio-net headers (PACKET_VNET_HDR) off: the port
	// then neither receives nor sends offloaded packets. Partial checksums
	// of received frames are still described in Slot.Offload (from the IP
	// header), but GSO packets are not: a local sender's 64 KB TCP packet is
	// forwarded as one frame, which the far side cannot take. Leave it off.
	NoVnetHdr bool
	// FrameSize is the size of an RX ring frame: a power of two from 2048
	// to the page size, or a multiple of the page size up to 128 KiB (a
	// frame of at least 64 KiB + 96 bytes takes GSO packets in the ring,
	// with no recvmsg, the copy done by the sender's core). Default: the smallest that holds a frame of the
	// interface's MTU (at Open) with a VLAN tag. Longer packets, GSO
	// packets above all, come whole through the socket (TP_STATUS_COPY).
	FrameSize int
	// Frames is the number of RX ring frames, a power of two: default
	// as many as DefaultRingBytes holds, at least MinFrames.
	Frames int
	// CopyBufs is the number of 68 KB buffers for packets longer than a
	// frame, a power of two: default DefaultCopyBufs.
	CopyBufs int
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
	// Copied counts the received packets longer than a ring frame, which
	// came whole through the socket (in RxPackets too).
	Copied uint64
	// KernelDrops counts frames the kernel could not put in a ring
	// (PACKET_STATISTICS tp_drops: the ring was full). The kernel counts
	// them nowhere else: not in the socket's sk_drops (ss -m), not in the
	// interface's counters. The fabric reports them as the port's
	// ring-full drops (RingDrops).
	KernelDrops uint64
	// Truncated counts packets longer than a frame that the socket could
	// not queue whole (its receive buffer was full), dropped.
	Truncated uint64
	// BadRecords counts ring frames that failed validation, skipped.
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
	kernelDrops uint64
	closed      bool
}

var (
	_ fabric.Backend     = (*Port)(nil)
	_ fabric.RingDropper = (*Port)(nil)
)

// sock is one queue pair: the socket, its RX ring and its output slots.
type sock struct {
	fd     int      // receives: the RX ring
	txfd   int      // sends from its TX ring, outside the netpoller (see tx.go)
	txring []byte   // txfd's TX ring
	bigfd  int      // sends packets longer than a TX ring frame, outside the netpoller
	ring   []byte   // the RX ring
	copies []byte   // the RX copy buffers
	file   *os.File // fd in the netpoller: Wait sleeps on it
	rc     syscall.RawConn
	rx     *inQueue
	tx     *outQueue
}

// Open opens an AF_PACKET port on cfg.Interface.
func Open(cfg Config) (*Port, error) {
	if cfg.Interface == "" {
		return nil, errors.New("open afpacket port: no interface")
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("open afpacket port %s: %w", cfg.Interface, err)
	}
	if err := cfg.setDefaults(ifi.MTU); err != nil {
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

func (c *Config) setDefaults(mtu int) error {
	if c.Interface == "" {
		return errors.New("no interface")
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	page := os.Getpagesize()
	if c.FrameSize == 0 {
		c.FrameSize = 2048
		for c.FrameSize < page && c.FrameSize < frameMacOff+mtu+18 {
			c.FrameSize <<= 1
		}
		if c.FrameSize < frameMacOff+mtu+18 {
			c.FrameSize = min((frameMacOff+mtu+18+page-1)/page*page, maxFrameSize)
		}
	}
	if c.Frames == 0 {
		c.Frames = MinFrames
		for c.Frames*2*c.FrameSize <= DefaultRingBytes {
			c.Frames *= 2
		}
	}
	if c.CopyBufs == 0 {
		c.CopyBufs = DefaultCopyBufs
	}
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
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
	switch {
	case c.Queues < 1 || c.Queues > MaxQueues:
		return fmt.Errorf("%d queues outside [1, %d]", c.Queues, MaxQueues)
	case c.Mode < ModeInterrupt || c.Mode > ModeAdaptive:
		return fmt.Errorf("unknown mode %d", int(c.Mode))
	case c.PollWindow < 0 || c.PollWindow > MaxPollWindow:
		return fmt.Errorf("poll window %v outside [0, %v]", c.PollWindow, MaxPollWindow)
	case c.Coalesce > MaxCoalesce:
		return fmt.Errorf("coalescing pause %v above %v", c.Coalesce, MaxCoalesce)
	case c.FrameSize < 2048 || c.FrameSize > maxFrameSize ||
		c.FrameSize%page != 0 && (c.FrameSize > page || page%c.FrameSize != 0):
		return fmt.Errorf("frame size %d is neither a power of two from 2048 to the page size nor a multiple of the page size up to %d", c.FrameSize, maxFrameSize)
	case c.Frames < 16 || c.Frames > 1<<20 || c.Frames&(c.Frames-1) != 0 || c.Frames*c.FrameSize > 1<<31:
		return fmt.Errorf("%d frames is not a power of two in [16, 2^20] with a ring up to 2 GiB", c.Frames)
	case c.CopyBufs < 1 || c.CopyBufs > 1<<12 || c.CopyBufs&(c.CopyBufs-1) != 0:
		return fmt.Errorf("%d copy buffers is not a power of two in [1, 4096]", c.CopyBufs)
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
	s = &sock{fd: fd, txfd: -1, bigfd: -1}
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
	if err := opt("PACKET_VERSION", unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, err
	}
	if !cfg.NoVnetHdr {
		if err := opt("PACKET_VNET_HDR", unix.PACKET_VNET_HDR, 1); err != nil {
			return nil, err
		}
		vnetLen = 10
	}
	if err := opt("PACKET_IGNORE_OUTGOING", unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return nil, err
	}
	if s.txfd, s.txring, err = p.openTxRing(vnetLen > 0, cfg.TxSlots); err != nil {
		return nil, err
	}
	if s.bigfd, err = p.openTxSock(vnetLen > 0); err != nil {
		return nil, err
	}
	// Packets longer than a frame wait whole in the socket's queue.
	if err := opt("PACKET_COPY_THRESH", unix.PACKET_COPY_THRESH, 1); err != nil {
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
		p.log.Debug("SO_RCVBUFFORCE refused", "err", err)
	}
	bsize := max(cfg.FrameSize, os.Getpagesize()) // frames follow each other without gaps
	req := unix.TpacketReq{
		Block_size: uint32(bsize),
		Block_nr:   uint32(cfg.Frames * cfg.FrameSize / bsize),
		Frame_size: uint32(cfg.FrameSize),
		Frame_nr:   uint32(cfg.Frames),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("setsockopt PACKET_RX_RING: %w", err)
	}
	ring, err := unix.Mmap(fd, 0, cfg.Frames*cfg.FrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap RX ring: %w", err)
	}
	s.ring = ring
	copies, err := unix.Mmap(-1, 0, cfg.CopyBufs*copySize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map RX copy buffers: %w", err)
	}
	s.copies = copies
	s.rx = newInQueue(p, s, i, ring, copies, vnetLen)
	if s.tx, err = newOutQueue(p, s, s.txring, vnetLen); err != nil {
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
	if cfg.Mode == ModeAdaptive {
		s.rx.bp = busypoll.Default.Join(s.rx.pendingAsleep, s.rx.wake, cfg.PollWindow)
	}
	return s, nil
}

// openTxSock opens the socket a queue sends its packets longer than a TX
// ring frame on: protocol 0, so it receives nothing.
func (p *Port) openTxSock(vnetHdr bool) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	err = func() error {
		if vnetHdr {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
				return fmt.Errorf("setsockopt PACKET_VNET_HDR: %w", err)
			}
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fmt.Errorf("setsockopt PACKET_QDISC_BYPASS: %w", err)
		}
		// Room for bursts of 64 KB packets in flight toward a slow peer.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
			p.log.Debug("SO_SNDBUFFORCE refused", "err", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: p.ifindex}); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		return nil
	}()
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("send socket: %w", err)
	}
	return fd, nil
}

// close releases the socket and its memory. Nothing may use them any more.
func (s *sock) close() {
	if s.tx != nil {
		s.tx.stop()
	}
	if s.rx != nil && s.rx.bp != nil {
		s.rx.bp.Leave() // before the ring goes
	}
	if s.file != nil {
		s.file.Close()
	} else {
		unix.Close(s.fd)
	}
	if s.txfd >= 0 {
		unix.Close(s.txfd)
	}
	if s.bigfd >= 0 {
		unix.Close(s.bigfd)
	}
	if s.txring != nil {
		unix.Munmap(s.txring)
	}
	if s.ring != nil {
		unix.Munmap(s.ring)
	}
	if s.copies != nil {
		unix.Munmap(s.copies)
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
		st.Copied += q.copied.Load()
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
	st.KernelDrops = p.kernelDrops
	return st
}

// RingDrops implements fabric.RingDropper: Stats().KernelDrops, the frames
// the kernel found no room for in a ring. It reads the kernel's
// PACKET_STATISTICS as Stats does.
func (p *Port) RingDrops() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		for _, s := range p.socks {
			p.readKernelStatsLocked(s)
		}
	}
	return p.kernelDrops
}

// Preconditions: p.mu is held and the sockets are open.
func (p *Port) readKernelStatsLocked(s *sock) {
	ks, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	p.kernelDrops += uint64(ks.Drops)
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
