package afxdp

import (
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"strings"
	"time"

	"github.com/mswitch/mswitch/internal/coalesce"
)

// Mode says how an input queue's goroutine waits for packets.
type Mode int

const (
	// Interrupt: the goroutine sleeps in the Go netpoller until the
	// socket is readable. An idle port costs no CPU.
	Interrupt Mode = iota
	// Poll: Wait returns at once (busy polling); after a few empty polls
	// each Wait yields the CPU with sched_yield. The queue's goroutine
	// keeps a core busy, idle or not.
	Poll
	// Adaptive: as Interrupt, but after a packet the goroutine keeps
	// polling for Config.PollWindow before it sleeps (package
	// internal/busypoll), so a reply or the rest of a burst finds it
	// awake. An idle port costs no CPU.
	Adaptive
)

func (m Mode) String() string {
	switch m {
	case Interrupt:
		return "interrupt"
	case Poll:
		return "poll"
	case Adaptive:
		return "adaptive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "interrupt", "poll" or "adaptive" (case-insensitive).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "interrupt":
		return Interrupt, nil
	case "poll":
		return Poll, nil
	case "adaptive":
		return Adaptive, nil
	}
	return 0, fmt.Errorf("parse afxdp mode %q: want interrupt, poll or adaptive", s)
}

// XDPMode says where in the kernel the XDP program runs.
type XDPMode int

const (
	// XDPAuto attaches in native mode if the driver takes it, as veth
	// does, and in generic mode otherwise.
	XDPAuto XDPMode = iota
	// XDPNative runs the program in the driver, before an skb exists.
	XDPNative
	// XDPGeneric runs the program on skbs, for any driver (slower).
	XDPGeneric
)

func (m XDPMode) String() string {
	switch m {
	case XDPAuto:
		return "auto"
	case XDPNative:
		return "native"
	case XDPGeneric:
		return "generic"
	}
	return fmt.Sprintf("XDPMode(%d)", int(m))
}

// ParseXDPMode parses "auto", "native" (or "drv") or "generic" (or "skb").
func ParseXDPMode(s string) (XDPMode, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return XDPAuto, nil
	case "native", "drv":
		return XDPNative, nil
	case "generic", "skb":
		return XDPGeneric, nil
	}
	return 0, fmt.Errorf("parse XDP mode %q: want auto, native or generic", s)
}

// CopyMode says whether the kernel copies packets between the NIC's
// buffers and the UMEM, or lets the NIC use the UMEM directly.
type CopyMode int

const (
	// CopyAuto uses zero-copy where the driver supports it with AF_XDP
	// (mlx5, i40e, ice, ixgbe...), copy mode otherwise (veth).
	CopyAuto CopyMode = iota
	// Copy forces copy mode (XDP_COPY).
	Copy
	// ZeroCopy requires zero-copy (XDP_ZEROCOPY): Open fails without it.
	ZeroCopy
)

func (m CopyMode) String() string {
	switch m {
	case CopyAuto:
		return "auto"
	case Copy:
		return "copy"
	case ZeroCopy:
		return "zero-copy"
	}
	return fmt.Sprintf("CopyMode(%d)", int(m))
}

// ParseCopyMode parses "auto", "copy" or "zero-copy" (or "zerocopy").
func ParseCopyMode(s string) (CopyMode, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return CopyAuto, nil
	case "copy":
		return Copy, nil
	case "zero-copy", "zerocopy", "zc":
		return ZeroCopy, nil
	}
	return 0, fmt.Errorf("parse AF_XDP copy mode %q: want auto, copy or zero-copy", s)
}

// Limits and defaults.
const (
	// MaxPollWindow bounds Config.PollWindow.
	MaxPollWindow = time.Second
	// DefaultCoalesce is the default Config.Coalesce, and MaxCoalesce its
	// bound.
	DefaultCoalesce = coalesce.DefaultPause
	MaxCoalesce     = coalesce.MaxPause
	// MaxQueues is the most queues a port binds.
	MaxQueues = 64
	// DefaultFrameSize is the default UMEM frame size: one page, as in
	// libxdp and Open vSwitch.
	DefaultFrameSize = 4096
	// MinFrameSize is the smallest UMEM frame the kernel takes in aligned
	// mode.
	MinFrameSize = 2048
	// DefaultRingSize is the default size of the TX ring (and completion
	// ring).
	DefaultRingSize = 2048
	// DefaultRxRingSize is the default size of the RX ring, and so of the
	// fill ring and the number of RX frames (64 MiB of 4 KB frames): eight
	// times the TX ring, because a full RX ring drops what the interface
	// receives (veth counts it in rx_dropped) while a full TX ring only
	// makes the fabric wait. An Interrupt-mode queue's thread sleeps
	// between batches, and on a core that other processes also use the
	// kernel's scheduler can keep it waiting, runnable, for 20 ms and
	// more at a time (perf sched timehist during bench/kernel's
	// TestAFXDPCompare: 18 and 23 ms in a row behind another process's
	// test binary): 16,384 frames hold 20 ms of 64-byte frames at 800
	// kp/s, and 160 ms at 100 kp/s. With 4,096, TestAFXDPCompare lost
	// 0.1-4.8 % at trafgen's maximum rate and 3.6-23 % at 100 kp/s with a
	// busy loop on the switch's core; 16,384 lost nothing in either but
	// one run of the latter (2,048 frames: the kernel set lost 0.1-1.4 %
	// at the maximum rate).
	DefaultRxRingSize = 16384
	// MinRingSize and MaxRingSize bound each ring's size.
	MinRingSize = 64
	MaxRingSize = 1 << 16

	// rxHeadroom is what the kernel keeps free at the start of every RX
	// frame (XDP_PACKET_HEADROOM): a received packet starts this far into
	// its frame.
	rxHeadroom = 256
	// txMaxFrags is the most descriptors one transmitted packet may span
	// in copy mode (the kernel's MAX_SKB_FRAGS + 1).
	txMaxFrags = 18
)

// Config configures a port.
type Config struct {
	// Interface is the name of the kernel network interface.
	Interface string
	// Queues is the number of queue pairs, default 1: queue i is the
	// interface's RX and TX queue i, with one AF_XDP socket each. Packets
	// the NIC steers to queues beyond these pass to the kernel's stack.
	Queues int
	// Mode is how the input goroutines wait (default Interrupt).
	Mode Mode
	// PollWindow is how long an Adaptive queue keeps polling after its
	// last packet: default busypoll.DefaultWindow.
	PollWindow time.Duration
	// Coalesce is how long an Interrupt- or Adaptive-mode queue that is
	// receiving a stream pauses before it takes a batch of fewer than 32
	// packets, so that more come (the package doc says why), default
	// DefaultCoalesce; the kernel adds the thread's timer slack, 50 µs by
	// default. Negative: never. A packet that wakes a sleeping queue is
	// never held back.
	Coalesce time.Duration
	// XDPMode is how the XDP program is attached (default XDPAuto).
	XDPMode XDPMode
	// CopyMode chooses copy or zero-copy (default CopyAuto).
	CopyMode CopyMode
	// FrameSize is the size of a UMEM frame: a power of two from 2048 to
	// the page size, default DefaultFrameSize. A received packet longer
	// than FrameSize-256 spans several frames (multi-buffer).
	FrameSize int
	// RxRingSize and TxRingSize are the sizes (powers of two) of each
	// socket's RX and TX rings, default DefaultRxRingSize and
	// DefaultRingSize. The completion
	// ring has TxRingSize entries; the fill ring holds every RX frame.
	RxRingSize, TxRingSize int
	// Frames is the number of UMEM frames of each socket, default
	// RxRingSize+TxRingSize: TxRingSize of them carry transmitted
	// packets, the others received ones.
	Frames int
	// NoNeedWakeup turns off XDP_USE_NEED_WAKEUP: the port then kicks the
	// kernel on every transmit, and the kernel never tells it when to.
	NoNeedWakeup bool
	// NoOffloadInference turns off the inspection of received TCP and UDP
	// packets for an unfinished checksum (vnet.InferOffload): packets a
	// veth peer sent with checksum offload then leave the switch with that
	// checksum unfinished, unless the peer has transmit checksum offload
	// off (ethtool -K <peer> tx off).
	NoOffloadInference bool
	// Logger receives the port's notices (default: slog.Default()).
	Logger *slog.Logger
}

// withDefaults fills in the defaults and checks the values.
func (c Config) withDefaults() (Config, error) {
	if c.Interface == "" {
		return c, fmt.Errorf("no interface name")
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.Queues < 1 || c.Queues > MaxQueues {
		return c, fmt.Errorf("%d queues outside [1, %d]", c.Queues, MaxQueues)
	}
	if c.Mode < Interrupt || c.Mode > Adaptive {
		return c, fmt.Errorf("bad mode %v", c.Mode)
	}
	if c.PollWindow < 0 || c.PollWindow > MaxPollWindow {
		return c, fmt.Errorf("poll window %v outside [0, %v]", c.PollWindow, MaxPollWindow)
	}
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.Coalesce > MaxCoalesce {
		return c, fmt.Errorf("coalescing pause %v above %v", c.Coalesce, MaxCoalesce)
	}
	if c.XDPMode < XDPAuto || c.XDPMode > XDPGeneric {
		return c, fmt.Errorf("bad XDP mode %v", c.XDPMode)
	}
	if c.CopyMode < CopyAuto || c.CopyMode > ZeroCopy {
		return c, fmt.Errorf("bad copy mode %v", c.CopyMode)
	}
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if page := os.Getpagesize(); c.FrameSize < MinFrameSize || c.FrameSize > page || !pow2(c.FrameSize) {
		return c, fmt.Errorf("frame size %d: want a power of two from %d to %d", c.FrameSize, MinFrameSize, page)
	}
	if c.RxRingSize == 0 {
		c.RxRingSize = DefaultRxRingSize
	}
	for _, r := range []*int{&c.RxRingSize, &c.TxRingSize} {
		if *r == 0 {
			*r = DefaultRingSize
		}
		if *r < MinRingSize || *r > MaxRingSize || !pow2(*r) {
			return c, fmt.Errorf("ring size %d: want a power of two from %d to %d", *r, MinRingSize, MaxRingSize)
		}
	}
	if c.Frames == 0 {
		c.Frames = c.RxRingSize + c.TxRingSize
	}
	if rx := c.Frames - c.TxRingSize; rx < MinRingSize || rx > MaxRingSize {
		return c, fmt.Errorf("%d frames leave %d for receiving, want %d to %d", c.Frames, rx, MinRingSize, MaxRingSize)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// rxFrames is the number of frames of a socket that carry received packets.
func (c *Config) rxFrames() int { return c.Frames - c.TxRingSize }

// fillRingSize is the size of the fill ring: room for every RX frame.
func (c *Config) fillRingSize() int { return 1 << bits.Len(uint(c.rxFrames()-1)) }

func pow2(n int) bool { return n > 0 && n&(n-1) == 0 }
