package fabric

import (
	"fmt"
	"time"

	"github.com/mswitch/mswitch/logic"
)

// DropReason says why the fabric discarded a packet.
type DropReason int

// Drop reasons. Lookup, malformed, no-port, loop and offload are counted at
// the port the packet came from, queue-full and oversize at the port it was
// going to. Ring-full is counted by the backend (a RingDropper), at the port
// the packet was coming from: the fabric never saw the packet.
const (
	DropLookup    DropReason = iota // the logic returned logic.Drop
	DropMalformed                   // the logic returned logic.DropMalformed, or a broken buffer chain
	DropNoPort                      // the destination port is not attached
	DropLoop                        // the destination is the input port
	DropQueueFull                   // no room in the destination's output queue
	DropOversize                    // the packet needs more than MaxFrags of the destination's buffers
	DropOffload                     // the packet's offload state (Slot.Offload) does not fit the packet
	DropRingFull                    // the backend's receive ring was full: dropped before the switch saw it
	NumDropReasons
)

const numDropReasons = NumDropReasons

var dropNames = [NumDropReasons]string{"lookup", "malformed", "no-port", "loop", "queue-full", "oversize", "offload", "ring-full"}

func (r DropReason) String() string {
	if r >= 0 && r < NumDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", int(r))
}

// PortStats are the counters of one port. Rx counts packets the switch took
// from the port's input queues (malformed ones included), Tx the packets it
// delivered into the port's output queues; a flooded packet counts once at
// each port it reached.
type PortStats struct {
	ID                 logic.PortID
	Name               string
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Drops              [NumDropReasons]uint64
}

// TotalDrops sums the drops of every reason.
func (s *PortStats) TotalDrops() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}

// Stats returns the counters of every attached port, in ID order.
func (sw *Switch) Stats() []PortStats {
	t := sw.table.Load()
	st := make([]PortStats, 0, len(t.active))
	for _, p := range t.active {
		st = append(st, p.stats())
	}
	return st
}

// PortStats returns the counters of port id.
func (sw *Switch) PortStats(id logic.PortID) (PortStats, error) {
	p := sw.table.Load().lookup(id)
	if p == nil {
		return PortStats{}, fmt.Errorf("read stats of port %d: %w", id, ErrNoPort)
	}
	return p.stats(), nil
}

func (p *port) stats() PortStats {
	s := PortStats{ID: p.id, Name: p.name}
	for _, q := range p.in {
		s.RxPackets += q.packets.Load()
		s.RxBytes += q.bytes.Load()
		for i := range q.drops {
			s.Drops[i] += q.drops[i].Load()
		}
	}
	p.requeueMu.Lock() // so a requeue never counts a ring twice or not at all
	defer p.requeueMu.Unlock()
	out := p.retired
	for _, r := range p.outRings() {
		r.mu.Lock()
		out.add(&r.stats)
		r.mu.Unlock()
	}
	s.TxPackets, s.TxBytes = out.packets, out.bytes
	for i, d := range out.drops {
		s.Drops[i] += d
	}
	if rd, ok := p.backend.(RingDropper); ok {
		s.Drops[DropRingFull] += rd.RingDrops()
	}
	return s
}

// WorkerStats describe the load of the goroutine that drains one input
// queue (or of the application's Forward calls, for an inline port).
type WorkerStats struct {
	Port    logic.PortID
	Name    string
	Queue   int
	Batches uint64        // batches forwarded
	Packets uint64        // packets taken from the queue
	Busy    time.Duration // time spent forwarding, waiting excluded
}

// Workers returns the load of every input queue's worker, in port order.
func (sw *Switch) Workers() []WorkerStats {
	var ws []WorkerStats
	for _, p := range sw.table.Load().active {
		for _, q := range p.in {
			ws = append(ws, WorkerStats{Port: p.id, Name: p.name, Queue: q.idx,
				Batches: q.batches.Load(), Packets: q.packets.Load(), Busy: time.Duration(q.busy.Load())})
		}
	}
	return ws
}

// Direction tells a Tap which way a packet crossed the port.
type Direction uint8

const (
	In  Direction = iota // received from the port, as it arrived (before the logic ran)
	Out                  // delivered to the port, as it left (after the logic ran)
)

func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// A Tap sees a copy of every packet that enters or leaves a port: packet
// capture. Packet is called from forwarding goroutines, concurrently, with
// the packet's first buffer and the buffers after it (rest, usually empty);
// both are valid only during the call, and must not be modified. Packet must
// not block: a capture that cannot keep up drops and counts.
type Tap interface {
	Packet(dir Direction, port logic.PortID, first []byte, rest []Slot)
}

type tapBox struct{ t Tap }

// SetTap starts (t != nil) or stops (t == nil) the tap of port id. When
// SetTap returns, a stopped tap is no longer called. With the VALE algorithm
// only incoming packets are tapped.
func (sw *Switch) SetTap(id logic.PortID, t Tap) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	tbl := sw.table.Load()
	p := tbl.lookup(id)
	if p == nil {
		return fmt.Errorf("tap port %d: %w", id, ErrNoPort)
	}
	if t == nil {
		p.tap.Store(nil)
		synchronize(tbl.inqs)
		return nil
	}
	p.tap.Store(&tapBox{t})
	return nil
}
