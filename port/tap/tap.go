// Package tap makes the host's own network stack a switch port: the mSwitch
// paper's host port. The port is a TAP device; what the switch sends to it
// the host receives on that interface, and what the host routes out of that
// interface enters the switch. tcpdump works on it like on any interface.
//
//	host stack --tun_do_read--> read(2), one frame each --> byte ring --> inQueue --> fabric
//	host stack <--tun_get_user-- writev(2), one per frame <-- slot ring <-- outQueue <-- fabric
//
// The device is opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (and
// IFF_MULTI_QUEUE for several queues, one file descriptor each) and
// TUNSETOFFLOAD checksum and TSO (and USO when the kernel has it): the host
// hands over partial checksums and GSO packets of up to 64 KB with a
// virtio-net header in front, which Receive decodes into Slot.Offload; the
// output queues are fabric.OffloadQueues and write the header given by
// SetOffload in front of every packet. Addresses, MTU and link state are the
// caller's business (ip, netlink).
//
// Receive: each read(2) returns one frame and its header. The queue reads
// straight into a ring of bytes, at least 64 KB + header of contiguous room
// per read, and lends the frame where it landed: one big buffer per frame,
// no chains, and only the frame's own length (rounded up, plus a little
// room to grow) is consumed. Release frees the ring in order. A read that
// finds nothing (EAGAIN) ends the batch: Receive never blocks.
//
// Transmit: Publish only moves an index; Notify writes each published packet
// with one writev (header, then the packet's slots). Concurrent Notify
// callers never wait for each other: whoever holds the queue's flush flag
// writes until nothing published is left; on EAGAIN a helper goroutine
// waits for the descriptor in the netpoller and finishes.
//
// Waiting: the descriptors are non-blocking and in the Go netpoller, so an
// idle port costs no CPU (ModeInterrupt); ModePoll spins instead, yielding
// the CPU between polls. A ModeInterrupt queue moderates itself as NICs
// moderate their interrupts: in a stream, a poll that finds fewer than 32
// frames (and less than 32 full frames' bytes) holds them back once while
// the goroutine pauses (Config.Coalesce; package internal/coalesce), so
// that the next poll takes a batch rather than the netpoller waking the
// switch for every frame.
package tap

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/internal/coalesce"
	"golang.org/x/sys/unix"
)

// Mode chooses how an empty input queue waits.
type Mode int

const (
	// ModeInterrupt sleeps in the netpoller until the device has a frame.
	ModeInterrupt Mode = iota
	// ModePoll reads in a loop, yielding the CPU after a few empty reads.
	ModePoll
)

// TUNSETOFFLOAD flags (<linux/if_tun.h>); x/sys/unix does not have them.
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
	tunFUSO4 = 0x20
	tunFUSO6 = 0x40
)

// Defaults and limits.
const (
	DefaultRxRing    = 2 << 20
	DefaultTxSlots   = 1024
	DefaultTxBufSize = 4096
	MaxQueues        = 64
	DefaultCoalesce  = coalesce.DefaultPause
	MaxCoalesce      = coalesce.MaxPause
	// maxRead is the most one read can return: a 64 KB GSO frame (IP's
	// limit plus Ethernet and two VLAN tags) and its virtio-net header.
	maxRead = 10 + 65535 + 14 + 8
)

// Config configures a port. Zero fields take their defaults.
type Config struct {
	// Name is the TAP device: created if it does not exist (and removed by
	// Close), or attached to if it does (and left by Close).
	Name string
	// Queues is the number of queue pairs: default 1. More than one opens
	// the device with IFF_MULTI_QUEUE; an existing device must have been
	// created multi-queue too.
	Queues int
	// Mode is how an empty input queue waits.
	Mode Mode
	// Coalesce is how long a ModeInterrupt queue that is receiving a
	// stream pauses before it takes a batch of fewer than 32 frames, so
	// that more come: default DefaultCoalesce, at most MaxCoalesce; the
	// kernel adds the thread's timer slack, 50 µs by default. Negative:
	// never. A frame that wakes a sleeping queue, or comes after an empty
	// poll, is never held back.
	Coalesce time.Duration
	// RxRing is the size of each input queue's ring of bytes: default
	// DefaultRxRing, at least 256 KiB.
	RxRing int
	// TxSlots is the number of slots of an output queue, a power of two:
	// default DefaultTxSlots.
	TxSlots int
	// TxBufSize is the size of each output slot's buffer (the fabric's
	// BufSize): default DefaultTxBufSize. Longer packets span slots.
	TxBufSize int
	// Logger receives the port's rare events; nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the counters of a port, summed over its queues.
type Stats struct {
	RxPackets, RxBytes uint64 // frames lent to the fabric
	TxPackets, TxBytes uint64 // frames the device took
	// RxErrors counts reads that failed with something other than EAGAIN,
	// or returned less than a header: the frame is lost.
	RxErrors uint64
	// TxErrors counts packets the device refused (a bad header, too long):
	// dropped. LastTxError is the error of the last one.
	TxErrors    uint64
	LastTxError error
}

// Port is a TAP port: a fabric.Backend whose output queues are
// fabric.OffloadQueues.
type Port struct {
	cfg     Config
	log     *slog.Logger
	created bool // Close removes the device
	queues  []*queue
	in      []fabric.InQueue
	out     []fabric.OutQueue

	mu     sync.Mutex
	closed bool
}

var _ fabric.Backend = (*Port)(nil)

// queue is one file descriptor of the device and its two directions.
type queue struct {
	fd   int
	file *os.File
	rc   syscall.RawConn
	rx   *inQueue
	tx   *outQueue
}

// Open opens (creating it if needed) the TAP device cfg.Name.
func Open(cfg Config) (*Port, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("open tap port %s: %w", cfg.Name, err)
	}
	_, err := os.Stat("/sys/class/net/" + cfg.Name)
	p := &Port{cfg: cfg, created: err != nil, log: cfg.Logger.With("port", "tap", "interface", cfg.Name)}
	for i := 0; i < cfg.Queues; i++ {
		q, err := p.openQueue(i)
		if err != nil {
			p.closeQueues()
			return nil, fmt.Errorf("open tap port %s: queue %d: %w", cfg.Name, i, err)
		}
		p.queues = append(p.queues, q)
		p.in = append(p.in, q.rx)
		p.out = append(p.out, q.tx)
	}
	for _, q := range p.queues {
		q.tx.start()
	}
	p.log.Debug("port open", "queues", cfg.Queues, "created", p.created)
	return p, nil
}

func (c *Config) setDefaults() error {
	if c.Name == "" || len(c.Name) >= unix.IFNAMSIZ {
		return fmt.Errorf("bad device name %q", c.Name)
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.RxRing == 0 {
		c.RxRing = DefaultRxRing
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
	case c.Mode != ModeInterrupt && c.Mode != ModePoll:
		return fmt.Errorf("unknown mode %d", int(c.Mode))
	case c.Coalesce > MaxCoalesce:
		return fmt.Errorf("coalescing pause %v above %v", c.Coalesce, MaxCoalesce)
	case c.RxRing < 256<<10 || c.RxRing > 1<<30:
		return fmt.Errorf("RX ring of %d bytes outside [256 KiB, 1 GiB]", c.RxRing)
	case c.TxSlots < 64 || c.TxSlots > 1<<16 || c.TxSlots&(c.TxSlots-1) != 0:
		return fmt.Errorf("%d TX slots is not a power of two in [64, 65536]", c.TxSlots)
	case c.TxBufSize < fabric.MinBufSize || c.TxBufSize > 1<<16:
		return fmt.Errorf("TX buffer size %d outside [%d, 65536]", c.TxBufSize, fabric.MinBufSize)
	}
	return nil
}

func (p *Port) openQueue(i int) (q *queue, err error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	q = &queue{fd: fd}
	defer func() {
		if err != nil {
			q.close()
		}
	}()
	ifr, err := unix.NewIfreq(p.cfg.Name)
	if err != nil {
		return nil, err
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if p.cfg.Queues > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, 10); err != nil {
		return nil, fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
	}
	off := tunFCsum | tunFTSO4 | tunFTSO6
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, off|tunFUSO4|tunFUSO6); err != nil {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, off); err != nil {
			return nil, fmt.Errorf("TUNSETOFFLOAD: %w", err)
		}
	}
	q.rx = newInQueue(q, p.cfg)
	if q.tx, err = newOutQueue(q, p.cfg); err != nil {
		return nil, err
	}
	q.file = os.NewFile(uintptr(fd), fmt.Sprintf("tap:%s:%d", p.cfg.Name, i))
	if q.rc, err = q.file.SyscallConn(); err != nil {
		return nil, fmt.Errorf("netpoller: %w", err)
	}
	return q, nil
}

func (q *queue) close() {
	if q.tx != nil {
		q.tx.stop()
	}
	if q.file != nil {
		q.file.Close()
	} else {
		unix.Close(q.fd)
	}
	if q.rx != nil {
		q.rx.free()
	}
	if q.tx != nil {
		q.tx.free()
	}
}

// InQueues implements fabric.Backend.
func (p *Port) InQueues() []fabric.InQueue { return p.in }

// OutQueues implements fabric.Backend.
func (p *Port) OutQueues() []fabric.OutQueue { return p.out }

// Config returns the port's configuration, defaults filled in.
func (p *Port) Config() Config { return p.cfg }

// Created reports whether Open created the device (and Close removes it).
func (p *Port) Created() bool { return p.created }

// Stats returns the port's counters.
func (p *Port) Stats() Stats {
	var st Stats
	for _, q := range p.queues {
		st.RxPackets += q.rx.packets.Load()
		st.RxBytes += q.rx.bytes.Load()
		st.RxErrors += q.rx.errors.Load()
		st.TxPackets += q.tx.packets.Load()
		st.TxBytes += q.tx.bytes.Load()
		st.TxErrors += q.tx.errors.Load()
		if e := q.tx.lastErr.Load(); e != nil {
			st.LastTxError = *e
		}
	}
	return st
}

// Close implements fabric.Backend: it closes the device's descriptors, which
// removes a device Open created (it is not persistent); a device that
// existed before stays. The fabric calls Close after its last use of the
// queues; a port never attached may be closed directly.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.closeQueues()
	return nil
}

func (p *Port) closeQueues() {
	for _, q := range p.queues {
		q.close()
	}
}
