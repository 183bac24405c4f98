package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/cilium/ebpf/link"
	"github.com/mswitch/mswitch/fabric"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Port is a kernel network interface attached over AF_XDP: a
// fabric.Backend with one input and one output queue per socket.
//
// The fabric calls Close when the port is detached. A port that was never
// attached may be closed directly.
type Port struct {
	cfg      Config
	log      *slog.Logger
	ifindex  int
	xdpMode  XDPMode // as attached
	sg       bool
	zeroCopy bool
	promisc  bool // Open turned promiscuous mode on

	prog  *xdpProgram
	link  link.Link
	socks []*socket
	in    []*inQueue
	out   []*outQueue

	mu     sync.Mutex // guards the sockets against Close while Stats reads them
	closed bool
	last   []QueueStats // the counters at Close
}

var _ fabric.Backend = (*Port)(nil)

// ErrMTU is wrapped by the error of Open when the interface's MTU does not
// fit in a UMEM frame and multi-buffer AF_XDP is not available.
var ErrMTU = errors.New("MTU too large for AF_XDP without multi-buffer")

// Open binds AF_XDP sockets to the first cfg.Queues queues of an interface
// and attaches the XDP program that redirects its packets to them.
func Open(cfg Config) (*Port, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("afxdp: open %s: %w", cfg.Interface, err)
	}
	p, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("afxdp: open %s: %w", cfg.Interface, err)
	}
	return p, nil
}

func open(cfg Config) (*Port, error) {
	nl, err := netlink.LinkByName(cfg.Interface)
	if err != nil {
		return nil, err
	}
	a := nl.Attrs()
	if a.NumRxQueues > 0 && cfg.Queues > a.NumRxQueues {
		return nil, fmt.Errorf("%d queues asked, the interface has %d RX queues", cfg.Queues, a.NumRxQueues)
	}
	p := &Port{cfg: cfg, log: cfg.Logger, ifindex: a.Index}
	if err := p.setup(nl); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

// setup loads and attaches the program and creates the sockets.
func (p *Port) setup(nl netlink.Link) error {
	cfg, a := &p.cfg, nl.Attrs()
	var err error

	// Multi-buffer when the kernel has it; without it, the largest frame
	// must fit in one UMEM frame after the kernel's headroom.
	maxFrame := a.MTU + ethHeader
	fits := maxFrame <= cfg.FrameSize-rxHeadroom
	mtuErr := func(why error) error {
		return fmt.Errorf("%w: MTU %d (frames up to %d bytes) needs multi-buffer AF_XDP, since a %d-byte UMEM frame holds %d bytes: %v (lower the MTU to %d or use AF_PACKET)",
			ErrMTU, a.MTU, maxFrame, cfg.FrameSize, cfg.FrameSize-rxHeadroom, why, cfg.FrameSize-rxHeadroom-ethHeader)
	}
	p.prog, err = loadProgram(cfg.Queues, true)
	if err != nil {
		if !fits {
			return mtuErr(err)
		}
		if p.prog, err = loadProgram(cfg.Queues, false); err != nil {
			return err
		}
	}
	sg := p.prog.frags
	for q := 0; q < cfg.Queues; q++ {
		s, err := newSocket(cfg, a.Index, q, sg)
		if err != nil && sg && q == 0 {
			if !fits {
				return mtuErr(err)
			}
			p.log.Info("afxdp: multi-buffer AF_XDP refused, frames limited to one UMEM frame",
				"interface", cfg.Interface, "error", err)
			sg = false
			s, err = newSocket(cfg, a.Index, q, sg)
		}
		if err != nil {
			return err
		}
		p.socks = append(p.socks, s)
		out := newOutQueue(s, cfg.TxRingSize)
		in, err := newInQueue(s, out, cfg.Mode, cfg.PollWindow, max(cfg.Coalesce, 0), a.MTU, !cfg.NoOffloadInference)
		if err != nil {
			return fmt.Errorf("queue %d: poll the socket: %w", q, err)
		}
		if in.file != nil {
			out.in = in
		}
		p.in = append(p.in, in)
		p.out = append(p.out, out)
		if err := p.prog.xsks.Put(uint32(q), uint32(s.fd)); err != nil {
			return fmt.Errorf("queue %d: insert socket into XSKMAP: %w", q, err)
		}
	}
	p.sg, p.zeroCopy = sg, p.socks[0].zeroCopy
	if p.link, p.xdpMode, err = attach(p.log, cfg.Interface, a.Index, p.prog.prog, cfg.XDPMode); err != nil {
		return err
	}
	if a.Flags&net.FlagUp == 0 {
		p.log.Warn("afxdp: interface is down", "interface", cfg.Interface)
	}
	if a.Promisc == 0 {
		if err := netlink.SetPromiscOn(nl); err != nil {
			return fmt.Errorf("set promiscuous mode: %w", err)
		}
		p.promisc = true
	}
	p.log.Info("afxdp: port open", "interface", cfg.Interface, "queues", cfg.Queues, "mode", cfg.Mode.String(),
		"xdp_mode", p.xdpMode.String(), "zero_copy", p.zeroCopy, "multi_buffer", sg, "mtu", a.MTU,
		"frame_size", cfg.FrameSize, "frames", cfg.Frames)
	return nil
}

// ethHeader is the link header room allowed beyond the MTU: Ethernet and
// two VLAN tags.
const ethHeader = 14 + 2*4

// Config returns the port's configuration, defaults filled in.
func (p *Port) Config() Config { return p.cfg }

// InQueues implements fabric.Backend: one per socket.
func (p *Port) InQueues() []fabric.InQueue {
	qs := make([]fabric.InQueue, len(p.in))
	for i, q := range p.in {
		qs[i] = q
	}
	return qs
}

// OutQueues implements fabric.Backend: one per socket.
func (p *Port) OutQueues() []fabric.OutQueue {
	qs := make([]fabric.OutQueue, len(p.out))
	for i, q := range p.out {
		qs[i] = q
	}
	return qs
}

// Close implements fabric.Backend: it detaches the XDP program, closes the
// sockets and frees the UMEMs.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.last = p.queueStatsLocked()
	p.closed = true
	err := p.release()
	p.log.Info("afxdp: port closed", "interface", p.cfg.Interface)
	return err
}

// release undoes what open did.
func (p *Port) release() error {
	var errs []error
	if p.link != nil {
		if err := p.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach XDP program: %w", err))
		}
		p.link = nil
	}
	if p.promisc {
		if nl, err := netlink.LinkByIndex(p.ifindex); err == nil {
			netlink.SetPromiscOff(nl)
		}
		p.promisc = false
	}
	if p.prog != nil {
		// The map's references to the sockets go now, not when the
		// kernel gets around to freeing the map.
		for q := range p.socks {
			p.prog.xsks.Delete(uint32(q))
		}
		errs = append(errs, p.prog.close())
		p.prog = nil
	}
	for _, q := range p.in {
		errs = append(errs, q.close())
	}
	for _, s := range p.socks {
		errs = append(errs, s.close())
	}
	p.socks = nil
	return errors.Join(errs...)
}

// Stats is a snapshot of a port's state and counters.
type Stats struct {
	Interface   string
	XDPMode     XDPMode // as attached: native or generic
	ZeroCopy    bool
	Multibuffer bool // packets may span several UMEM frames (XDP_USE_SG)
	Queues      []QueueStats
}

// QueueStats are the counters of one queue pair (one socket).
type QueueStats struct {
	// Packets and bytes the switch took from the RX ring (released) and
	// put on the TX ring.
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64

	// Drops by the port, per reason.
	RxBadDescs   uint64 // RX descriptors outside the RX frames, lent empty
	TxOversize   uint64 // packets in more frames than the kernel takes
	TxKickErrors uint64 // failed sendto kicks (not counting "try again")
	LastKickErr  error  // the errno of the last one
	TxStalls     uint64 // kicks that sent nothing, the TX ring not empty (device busy, send buffer full)
	TxKicks      uint64 // sendto calls that asked the kernel to transmit

	// The kernel's counters (XDP_STATISTICS).
	RxDropped            uint64 // dropped for other reasons (e.g. too long without multi-buffer)
	RxInvalidDescs       uint64
	TxInvalidDescs       uint64 // TX descriptors the kernel refused
	RxRingFull           uint64 // dropped: the RX ring was full (the switch is behind)
	RxFillRingEmptyDescs uint64 // times the fill ring was empty
	TxRingEmptyDescs     uint64 // times the kernel found the TX ring empty
}

// Drops sums the packets dropped on the way in or out of the queue, by
// the port or by the kernel.
func (s *QueueStats) Drops() uint64 {
	return s.RxBadDescs + s.TxOversize + s.RxDropped + s.RxInvalidDescs + s.TxInvalidDescs + s.RxRingFull
}

// Stats returns the port's state and counters. It may be called from any
// goroutine, also after Close (the counters as they were then).
func (p *Port) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{Interface: p.cfg.Interface, XDPMode: p.xdpMode, ZeroCopy: p.zeroCopy, Multibuffer: p.sg}
	if p.closed {
		st.Queues = append([]QueueStats(nil), p.last...)
		return st
	}
	st.Queues = p.queueStatsLocked()
	return st
}

// Preconditions: p.mu is held and the sockets are open.
func (p *Port) queueStatsLocked() []QueueStats {
	qs := make([]QueueStats, len(p.socks))
	for i, s := range p.socks {
		in, out := p.in[i], p.out[i]
		q := &qs[i]
		q.RxPackets, q.RxBytes = in.packets.Load(), in.bytes.Load()
		q.RxBadDescs = in.badDescs.Load()
		q.TxPackets, q.TxBytes = out.packets.Load(), out.bytes.Load()
		q.TxOversize = out.oversize.Load()
		q.TxKickErrors = out.kickErrors.Load()
		q.TxStalls = out.stalls.Load()
		q.TxKicks = out.kicks.Load()
		if e := out.lastKickErr.Load(); e != 0 {
			q.LastKickErr = unix.Errno(e)
		}
		if k, err := s.statistics(); err == nil {
			q.RxDropped, q.RxInvalidDescs, q.TxInvalidDescs = k.Rx_dropped, k.Rx_invalid_descs, k.Tx_invalid_descs
			q.RxRingFull, q.RxFillRingEmptyDescs, q.TxRingEmptyDescs = k.Rx_ring_full, k.Rx_fill_ring_empty_descs, k.Tx_ring_empty_descs
		}
	}
	return qs
}
