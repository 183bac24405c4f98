package pktgen

// checkWindow is how far back, in sequence numbers, a Checker tells a late
// packet from a duplicate.
const checkWindow = 64

// FlowStats are the sequence-check counters of one stream.
type FlowStats struct {
	Stream   uint16 `json:"stream"`
	Received uint64 `json:"received"`
	Lost     uint64 `json:"lost"`
	Late     uint64 `json:"out_of_order"`
	Dup      uint64 `json:"duplicates"`
}

type streamState struct {
	FlowStats
	seen bool
	next uint32 // the sequence number expected next
	// bits has bit i set if next-1-i arrived (within checkWindow).
	bits uint64
}

// A Checker follows the sequence numbers of the streams arriving on one
// queue, as netmap's rxseq does, per stream. A gap counts its packets as
// lost; a packet from inside an earlier gap then counts as out of order
// (and is no longer lost), one seen before as a duplicate. Sequence numbers
// are compared modulo 2^32, so they may wrap. The first packet of a stream
// with sequence number s counts s packets lost before it.
type Checker struct {
	streams         []streamState
	lost, late, dup uint64 // totals over the streams
}

// Add checks one packet.
func (c *Checker) Add(stream uint16, seq uint32) {
	if int(stream) >= len(c.streams) {
		grown := make([]streamState, max(int(stream)+1, 2*len(c.streams)))
		copy(grown, c.streams)
		c.streams = grown
	}
	s := &c.streams[stream]
	s.Received++
	if !s.seen {
		s.seen = true
		s.Stream = stream
		s.Lost = uint64(seq)
		c.lost += uint64(seq)
		s.next, s.bits = seq+1, 1
		return
	}
	switch d := int32(seq - s.next); {
	case d >= 0: // in order, after a gap of d
		s.Lost += uint64(d)
		c.lost += uint64(d)
		if d >= 63 {
			s.bits = 1
		} else {
			s.bits = s.bits<<(d+1) | 1
		}
		s.next = seq + 1
	case d >= -checkWindow: // seq = next-k: bit k-1
		bit := uint64(1) << (-d - 1)
		if s.bits&bit != 0 {
			s.Dup++
			c.dup++
			return
		}
		s.bits |= bit
		c.late1(s)
	default: // too old to tell; assume it filled a gap
		c.late1(s)
	}
}

// late1 counts a packet that arrived after a later one of its stream.
func (c *Checker) late1(s *streamState) {
	s.Late++
	c.late++
	if s.Lost > 0 {
		s.Lost--
		c.lost--
	}
}

// Totals returns the counters summed over the streams.
func (c *Checker) Totals() (lost, late, dup uint64) { return c.lost, c.late, c.dup }

// Flows returns the counters of every stream seen, by stream number.
func (c *Checker) Flows() []FlowStats {
	var out []FlowStats
	for i := range c.streams {
		if c.streams[i].seen {
			out = append(out, c.streams[i].FlowStats)
		}
	}
	return out
}

// MergeFlows adds the counters of b to those of a, matching streams.
func MergeFlows(a, b []FlowStats) []FlowStats {
	idx := make(map[uint16]int, len(a))
	for i, f := range a {
		idx[f.Stream] = i
	}
	for _, f := range b {
		i, ok := idx[f.Stream]
		if !ok {
			idx[f.Stream] = len(a)
			a = append(a, f)
			continue
		}
		a[i].Received += f.Received
		a[i].Lost += f.Lost
		a[i].Late += f.Late
		a[i].Dup += f.Dup
	}
	return a
}
