package fabric

import (
	"fmt"

	"github.com/mswitch/mswitch/logic"
)

// DropReason says why the fabric discarded a packet.
type DropReason int

// Drop reasons. The first four are counted at the port the packet came
// from, the last two at the port it was going to.
const (
	DropLookup    DropReason = iota // the logic returned logic.Drop
	DropMalformed                   // the logic returned logic.DropMalformed, or a broken buffer chain
	DropNoPort                      // the destination port is not attached
	DropLoop                        // the destination is the input port
	DropQueueFull                   // no room in the destination's output queue
	DropOversize                    // the packet needs more than MaxFrags of the destination's buffers
	NumDropReasons
)

const numDropReasons = NumDropReasons

var dropNames = [NumDropReasons]string{"lookup", "malformed", "no-port", "loop", "queue-full", "oversize"}

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
	for _, r := range p.out {
		r.mu.Lock()
		s.TxPackets += r.stats.packets
		s.TxBytes += r.stats.bytes
		for i, d := range r.stats.drops {
			s.Drops[i] += d
		}
		r.mu.Unlock()
	}
	return s
}
