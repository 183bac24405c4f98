package ustack

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/port/memif"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// DefaultMTU is the MTU of an endpoint whose memif buffers hold a
// 1514-byte frame (the default 2048-byte ones do).
const DefaultMTU = 1500

// DefaultBatch is how many frames the receive goroutine takes from the
// ring at once.
const DefaultBatch = 64

// DefaultTxWait is how long WritePackets waits for room in a full TX ring.
const DefaultTxWait = 2 * time.Millisecond

// rxPoll bounds each sleep of the receive goroutine, so that Close can
// take the client from it (Close waits at most this long).
const rxPoll = 100 * time.Millisecond

// EndpointOptions configures an Endpoint.
type EndpointOptions struct {
	// MAC is the endpoint's Ethernet address (required).
	MAC net.HardwareAddr
	// MTU is the largest IP packet; 0 means DefaultMTU, or less if the
	// memif buffers are shorter than DefaultMTU plus an Ethernet header.
	MTU uint32
	// Batch is the receive batch (default DefaultBatch).
	Batch int
	// TxWait bounds how long WritePackets waits for a full TX ring to
	// drain (default DefaultTxWait; negative: never wait).
	TxWait time.Duration
	// GSO lets TCP build segments of up to 64 KB that the stack cuts to
	// the MSS just before the link (gVisor's software GSO): one pass of
	// TCP's sender per 64 KB instead of per segment. Frames on the wire
	// are the same.
	GSO bool
}

// Drop reasons, the keys of Stats.Drops.
const (
	DropRunt      = "runt"       // received: shorter than an Ethernet header
	DropTooLong   = "too-long"   // received or sent: longer than the MTU allows
	DropOtherHost = "other-host" // received: unicast to another MAC
	DropTxFull    = "tx-full"    // sent: the TX ring stayed full for TxWait
	DropDown      = "down"       // sent: the memif connection is gone
)

var dropReasons = []string{DropRunt, DropTooLong, DropOtherHost, DropTxFull, DropDown}

// Stats are an endpoint's counters.
type Stats struct {
	RxPackets, RxBytes uint64 // delivered to the stack
	TxPackets, TxBytes uint64 // handed to the switch
	RxBatches          uint64 // Receive calls that returned frames
	TxBatches          uint64 // Send calls that sent frames
	Drops              map[string]uint64
}

// Endpoint is a stack.LinkEndpoint on a memif client. See the package
// documentation for its contract.
type Endpoint struct {
	c        *memif.Client
	gso      bool
	batch    int
	txWait   time.Duration
	maxFrame int // Ethernet header + MTU

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	mac        tcpip.LinkAddress
	mtu        uint32
	started    bool

	rxDone chan struct{} // closed when the receive goroutine returns

	// cmu guards the client's data calls (read) against closing it
	// (write): no call may start once Client.Close has begun.
	cmu    sync.RWMutex
	closed bool // guarded by cmu

	// tx is guarded by txMu: the one TX ring, its scratch frames.
	txMu     sync.Mutex
	txFrames [][]byte // scratch, one maxFrame buffer each
	txOut    [][]byte // the frames of the current Send

	rxPackets, rxBytes, rxBatches atomic.Uint64
	txPackets, txBytes, txBatches atomic.Uint64
	drops                         [5]atomic.Uint64 // by dropReasons index
}

var (
	_ stack.LinkEndpoint = (*Endpoint)(nil)
	_ stack.GSOEndpoint  = (*Endpoint)(nil)
)

// NewEndpoint makes an endpoint of a connected client, which it takes
// over (see Close). It does not start receiving before Attach.
func NewEndpoint(c *memif.Client, opts EndpointOptions) (*Endpoint, error) {
	if len(opts.MAC) != 6 {
		return nil, fmt.Errorf("create endpoint: MAC %q is not a 6-byte Ethernet address", opts.MAC)
	}
	mtu := opts.MTU
	if mtu == 0 {
		mtu = min(DefaultMTU, uint32(c.BufSize()-header.EthernetMinimumSize))
	}
	if mtu < 576 || mtu > 65535-header.EthernetMinimumSize {
		return nil, fmt.Errorf("create endpoint: MTU %d outside [576, %d]", mtu, 65535-header.EthernetMinimumSize)
	}
	if opts.Batch == 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Batch < 1 || opts.Batch > 1<<c.Log2RingSize() {
		return nil, fmt.Errorf("create endpoint: batch %d outside [1, %d]", opts.Batch, 1<<c.Log2RingSize())
	}
	if opts.TxWait == 0 {
		opts.TxWait = DefaultTxWait
	}
	e := &Endpoint{
		c:        c,
		gso:      opts.GSO,
		batch:    opts.Batch,
		txWait:   opts.TxWait,
		maxFrame: int(mtu) + header.EthernetMinimumSize,
		mac:      tcpip.LinkAddress(opts.MAC),
		mtu:      mtu,
		rxDone:   make(chan struct{}),
	}
	return e, nil
}

// Done is closed when the memif connection ends.
func (e *Endpoint) Done() <-chan struct{} { return e.c.Done() }

// Err says why the connection ended; nil while it lasts.
func (e *Endpoint) Err() error { return e.c.Err() }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	s := Stats{
		RxPackets: e.rxPackets.Load(), RxBytes: e.rxBytes.Load(), RxBatches: e.rxBatches.Load(),
		TxPackets: e.txPackets.Load(), TxBytes: e.txBytes.Load(), TxBatches: e.txBatches.Load(),
		Drops: make(map[string]uint64),
	}
	for i, r := range dropReasons {
		if n := e.drops[i].Load(); n != 0 {
			s.Drops[r] = n
		}
	}
	return s
}

func (e *Endpoint) drop(reason int, n int) { e.drops[reason].Add(uint64(n)) }

// Indices of dropReasons.
const (
	iRunt = iota
	iTooLong
	iOtherHost
	iTxFull
	iDown
)

// Close implements stack.LinkEndpoint: it disconnects the memif client
// and waits for the receive goroutine.
func (e *Endpoint) Close() {
	e.disconnect()
	e.Wait()
}

// disconnect closes the client once no data call is in progress; none
// starts after.
func (e *Endpoint) disconnect() {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if !e.closed {
		e.closed = true
		e.c.Close()
	}
}

// Attach implements stack.LinkEndpoint. The first non-nil dispatcher
// starts the receive goroutine; nil (the NIC going away) disconnects the
// client, which ends the goroutine, without waiting for it: the stack
// calls Attach(nil) holding a lock that the goroutine may need to finish
// delivering a packet.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.mu.Lock()
		e.dispatcher = nil
		e.mu.Unlock()
		e.disconnect()
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dispatcher = d
	if !e.started {
		e.started = true
		go e.receive()
	}
}

// IsAttached implements stack.LinkEndpoint.
func (e *Endpoint) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

// Wait implements stack.LinkEndpoint: it waits for the receive goroutine,
// if it was started, to return (after Close, Attach(nil) or the end of the
// connection). gVisor's Stack.Wait (and Destroy) call it holding the
// stack's lock, which the goroutine may be waiting for while it delivers a
// packet: close the endpoint before destroying its stack, as Stack.Close
// does.
func (e *Endpoint) Wait() {
	e.mu.RLock()
	started := e.started
	e.mu.RUnlock()
	if started {
		<-e.rxDone
	}
}

// MTU implements stack.LinkEndpoint.
func (e *Endpoint) MTU() uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mtu
}

// SetMTU implements stack.LinkEndpoint. The MTU can only shrink: the
// buffers are sized at creation.
func (e *Endpoint) SetMTU(mtu uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(mtu)+header.EthernetMinimumSize <= e.maxFrame {
		e.mtu = mtu
	}
}

// MaxHeaderLength implements stack.LinkEndpoint.
func (*Endpoint) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }

// LinkAddress implements stack.LinkEndpoint.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mac
}

// SetLinkAddress implements stack.LinkEndpoint.
func (e *Endpoint) SetLinkAddress(addr tcpip.LinkAddress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mac = addr
}

// Capabilities implements stack.LinkEndpoint: the stack resolves
// addresses (ARP, NDP); checksums are computed and checked in software,
// since frames come from and go to real wires.
func (*Endpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}

// GSOMaxSize implements stack.GSOEndpoint.
func (e *Endpoint) GSOMaxSize() uint32 {
	if e.gso {
		return stack.GVisorGSOMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint: gVisor's software GSO with
// EndpointOptions.GSO, none otherwise.
func (e *Endpoint) SupportedGSO() stack.SupportedGSO {
	if e.gso {
		return stack.GVisorGSOSupported
	}
	return stack.GSONotSupported
}

// ARPHardwareType implements stack.LinkEndpoint.
func (*Endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint: an Ethernet header.
func (*Endpoint) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: pkt.EgressRoute.LocalLinkAddress,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint.
func (*Endpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// SetOnCloseAction implements stack.LinkEndpoint; there is no device to
// destroy.
func (*Endpoint) SetOnCloseAction(func()) {}

// receive is the receive goroutine: it runs until the connection ends.
func (e *Endpoint) receive() {
	defer close(e.rxDone)
	views := make([]*buffer.View, e.batch)
	bufs := make([][]byte, e.batch)
	sizes := make([]int, e.batch)
	refill := func(i int) {
		views[i] = buffer.NewViewSize(e.maxFrame)
		bufs[i] = views[i].AsSlice()
	}
	for i := range views {
		refill(i)
	}
	defer func() {
		for _, v := range views {
			v.Release()
		}
	}()
	for {
		e.cmu.RLock()
		if e.closed {
			e.cmu.RUnlock()
			return
		}
		_, err := e.c.Wait(0, rxPoll)
		e.cmu.RUnlock()
		if err != nil {
			return
		}
		for {
			e.cmu.RLock()
			if e.closed {
				e.cmu.RUnlock()
				return
			}
			n, err := e.c.Receive(0, bufs, sizes)
			e.cmu.RUnlock()
			if err != nil {
				return
			}
			if n == 0 {
				break
			}
			e.rxBatches.Add(1)
			e.mu.RLock()
			d, mac := e.dispatcher, e.mac
			e.mu.RUnlock()
			for i := 0; i < n; i++ {
				if e.accept(bufs[i], sizes[i], mac) {
					v := views[i]
					v.CapLength(sizes[i])
					refill(i)
					e.deliver(d, v)
				}
			}
		}
	}
}

// accept checks a received frame of size bytes held in buf: it must fit
// the buffer, carry an Ethernet header and be for this endpoint.
func (e *Endpoint) accept(buf []byte, size int, mac tcpip.LinkAddress) bool {
	switch {
	case size > len(buf):
		e.drop(iTooLong, 1)
		return false
	case size < header.EthernetMinimumSize:
		e.drop(iRunt, 1)
		return false
	}
	dst := header.Ethernet(buf).DestinationAddress()
	if dst != mac && dst[0]&1 == 0 {
		e.drop(iOtherHost, 1)
		return false
	}
	return true
}

// deliver hands an accepted frame to the stack, which takes v.
func (e *Endpoint) deliver(d stack.NetworkDispatcher, v *buffer.View) {
	size := v.Size()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithView(v)})
	defer pkt.DecRef()
	hdr, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	if !ok || d == nil {
		return
	}
	eth := header.Ethernet(hdr)
	dst := eth.DestinationAddress()
	switch {
	case dst == header.EthernetBroadcastAddress:
		pkt.PktType = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		pkt.PktType = tcpip.PacketMulticast
	default:
		pkt.PktType = tcpip.PacketHost
	}
	e.rxPackets.Add(1)
	e.rxBytes.Add(uint64(size))
	d.DeliverNetworkPacket(eth.Type(), pkt)
}

// WritePackets implements stack.LinkEndpoint: every packet in one Send,
// waiting up to TxWait for room.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	list := pkts.AsSlice()
	if len(list) == 0 {
		return 0, nil
	}
	e.txMu.Lock()
	defer e.txMu.Unlock()
	for len(e.txFrames) < len(list) {
		e.txFrames = append(e.txFrames, make([]byte, e.maxFrame))
	}
	out := e.txOut[:0]
	var bytes uint64
	for i, pkt := range list {
		f, ok := flatten(e.txFrames[i], pkt)
		if !ok {
			e.drop(iTooLong, 1)
			continue
		}
		out = append(out, f)
		bytes += uint64(len(f))
	}
	e.txOut = out[:0]
	sent := 0
	var deadline time.Time
	for sent < len(out) {
		e.cmu.RLock()
		n, err := 0, net.ErrClosed
		if !e.closed {
			n, err = e.c.Send(0, out[sent:])
		}
		e.cmu.RUnlock()
		if err != nil {
			e.drop(iDown, len(out)-sent)
			if sent == 0 {
				return 0, &tcpip.ErrClosedForSend{}
			}
			break
		}
		if n > 0 {
			e.txBatches.Add(1)
		}
		sent += n
		if sent == len(out) || e.txWait < 0 {
			break
		}
		// The ring is full: the switch drains it on its own schedule.
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(e.txWait)
		} else if now.After(deadline) {
			break
		}
		time.Sleep(20 * time.Microsecond)
	}
	if sent < len(out) {
		e.drop(iTxFull, len(out)-sent)
		for _, f := range out[sent:] {
			bytes -= uint64(len(f))
		}
	}
	e.txPackets.Add(uint64(sent))
	e.txBytes.Add(bytes)
	// Packets that were too long or did not fit are dropped, as a NIC
	// would: report the whole list written so the stack does not count
	// them twice.
	return len(list), nil
}

// flatten copies the whole packet, from its link header on, into buf and
// returns the frame, or false if it does not fit.
func flatten(buf []byte, pkt *stack.PacketBuffer) ([]byte, bool) {
	views, off := pkt.AsViewList()
	n := 0
	for v := views.Front(); v != nil; v = v.Next() {
		b := v.AsSlice()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		b = b[off:]
		off = 0
		if n+len(b) > len(buf) {
			return nil, false
		}
		n += copy(buf[n:], b)
	}
	return buf[:n], true
}
