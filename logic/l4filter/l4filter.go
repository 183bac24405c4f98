package l4filter

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
)

func init() {
	logic.Register("l4filter", func() logic.Logic { return New() })
}

// Errors returned by Add and Delete.
var (
	// ErrBadProto: the protocol is neither frame.ProtoTCP nor frame.ProtoUDP.
	ErrBadProto = errors.New("protocol is neither TCP nor UDP")
	// ErrBadPort: the switch port ID is not below logic.MaxPorts.
	ErrBadPort = errors.New("port ID out of range")
	// ErrNoRule: Delete found no rule for the port.
	ErrNoRule = errors.New("no such rule")
)

// Rule maps a TCP or UDP port to a switch port.
type Rule struct {
	Proto uint8  // frame.ProtoTCP or frame.ProtoUDP
	Port  uint16 // the L4 port, matched as source or destination
	Out   logic.PortID
}

// String returns the rule in the form "tcp/80 -> port 3".
func (r Rule) String() string {
	return fmt.Sprintf("%s/%d -> port %d", protoName(r.Proto), r.Port, r.Out)
}

func protoName(p uint8) string {
	switch p {
	case frame.ProtoTCP:
		return "tcp"
	case frame.ProtoUDP:
		return "udp"
	}
	return fmt.Sprintf("proto %d", p)
}

// Stats counts the packets looked up, by outcome (see the package doc).
type Stats struct {
	Matched   uint64
	Unmatched uint64
	NotL4     uint64
	Malformed uint64
}

type outcome int

const (
	matched outcome = iota
	unmatched
	notL4
	malformed
	numOutcomes
)

// table maps an L4 port to the switch port of its rule plus one, or to 0
// if the port has no rule (so that a zeroed table is empty).
type table [1 << 16]atomic.Uint32

// Filter is the L4 port filter module. The zero value is a filter with no
// rules; a Filter must not be copied.
type Filter struct {
	// tcp and udp are read by Lookup, entry by entry, without a lock.
	tcp, udp table
	counts   [numOutcomes]atomic.Uint64

	// mu serialises changes. It guards rules, the control path's copy of
	// the tables, which keeps Rules and PortRemoved in O(rules).
	mu    sync.Mutex
	rules map[ruleKey]logic.PortID
}

type ruleKey struct {
	proto uint8
	port  uint16
}

var (
	_ logic.Logic        = (*Filter)(nil)
	_ logic.PortObserver = (*Filter)(nil)
)

// New returns a filter with no rules.
func New() *Filter { return &Filter{} }

func (f *Filter) table(proto uint8) *table {
	switch proto {
	case frame.ProtoTCP:
		return &f.tcp
	case frame.ProtoUDP:
		return &f.udp
	}
	return nil
}

// Add maps the TCP or UDP port l4port (proto is frame.ProtoTCP or
// frame.ProtoUDP) to switch port out, replacing any rule for l4port.
func (f *Filter) Add(proto uint8, l4port uint16, out logic.PortID) error {
	r := Rule{proto, l4port, out}
	t := f.table(proto)
	switch {
	case t == nil:
		return fmt.Errorf("add rule %v: %w", r, ErrBadProto)
	case out >= logic.MaxPorts:
		return fmt.Errorf("add rule %v: %w", r, ErrBadPort)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rules == nil {
		f.rules = make(map[ruleKey]logic.PortID)
	}
	f.rules[ruleKey{proto, l4port}] = out
	t[l4port].Store(uint32(out) + 1)
	return nil
}

// Delete removes the rule for the TCP or UDP port l4port.
func (f *Filter) Delete(proto uint8, l4port uint16) error {
	t := f.table(proto)
	if t == nil {
		return fmt.Errorf("delete rule %s/%d: %w", protoName(proto), l4port, ErrBadProto)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := ruleKey{proto, l4port}
	if _, ok := f.rules[k]; !ok {
		return fmt.Errorf("delete rule %s/%d: %w", protoName(proto), l4port, ErrNoRule)
	}
	delete(f.rules, k)
	t[l4port].Store(0)
	return nil
}

// Rules returns the rules, sorted by protocol (TCP first) then L4 port.
func (f *Filter) Rules() []Rule {
	f.mu.Lock()
	rules := make([]Rule, 0, len(f.rules))
	for k, out := range f.rules {
		rules = append(rules, Rule{k.proto, k.port, out})
	}
	f.mu.Unlock()
	slices.SortFunc(rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return rules
}

// Stats returns the packet counters since New.
func (f *Filter) Stats() Stats {
	return Stats{
		Matched:   f.counts[matched].Load(),
		Unmatched: f.counts[unmatched].Load(),
		NotL4:     f.counts[notL4].Load(),
		Malformed: f.counts[malformed].Load(),
	}
}

// PortAdded implements logic.PortObserver. It does nothing.
func (f *Filter) PortAdded(id logic.PortID) {}

// PortRemoved implements logic.PortObserver: it deletes the rules that send
// packets to port id.
func (f *Filter) PortRemoved(id logic.PortID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, out := range f.rules {
		if out == id {
			delete(f.rules, k)
			f.table(k.proto)[k.port].Store(0)
		}
	}
}

// Lookup implements logic.Logic. The input port plays no part.
func (f *Filter) Lookup(pkts []logic.Packet, in logic.PortID) {
	var n [numOutcomes]uint64
	for i := range pkts {
		d, o := f.decide(pkts[i].Data)
		pkts[i].Dst = d
		n[o]++
	}
	for o, c := range n {
		if c != 0 {
			f.counts[o].Add(c)
		}
	}
}

// decide finds one packet's destination and its outcome.
func (f *Filter) decide(b []byte) (logic.Dst, outcome) {
	et, off, _, ok := frame.L3(b)
	if !ok {
		return logic.DropMalformed, malformed
	}
	if et != frame.TypeIPv4 && et != frame.TypeIPv6 {
		return logic.Drop, notL4
	}
	b = datagram(b, et, off)
	proto, l4off, ok := frame.L4(b, et, off)
	if !ok {
		if laterFragment(b, et, off) {
			return logic.Drop, notL4
		}
		return logic.DropMalformed, malformed
	}
	t, hlen := &f.tcp, 20
	switch proto {
	case frame.ProtoTCP:
	case frame.ProtoUDP:
		t, hlen = &f.udp, 8
	default:
		return logic.Drop, notL4
	}
	src, dst, ok := frame.Ports(b, l4off)
	if !ok || len(b) < l4off+hlen {
		return logic.DropMalformed, malformed
	}
	if v := t[dst].Load(); v != 0 {
		return logic.Dst(v - 1), matched
	}
	if v := t[src].Load(); v != 0 {
		return logic.Dst(v - 1), matched
	}
	return logic.Drop, unmatched
}

// datagram cuts b at the end of the IP packet whose header is at b[off:],
// if the packet ends before the buffer does (Ethernet padding). A packet
// longer than b, which continues in buffers the module does not see, and an
// IPv6 jumbogram (payload length 0 behind a hop-by-hop header) are left
// alone. Lengths too short for their header are caught by frame.L4.
func datagram(b []byte, et uint16, off int) []byte {
	end := len(b)
	switch {
	case et == frame.TypeIPv4 && len(b) >= off+4:
		end = off + int(binary.BigEndian.Uint16(b[off+2:]))
	case et == frame.TypeIPv6 && len(b) >= off+40:
		pl := binary.BigEndian.Uint16(b[off+4:])
		if pl != 0 || b[off+6] != 0 {
			end = off + 40 + int(pl)
		}
	}
	return b[:min(end, len(b))]
}

// laterFragment reports whether an IP packet that frame.L4 refused is a
// fragment other than the first, with consistent headers up to its fragment
// offset: such a packet carries no L4 header but is not malformed.
func laterFragment(b []byte, et uint16, off int) bool {
	switch et {
	case frame.TypeIPv4:
		if len(b) < off+20 || b[off]>>4 != 4 {
			return false
		}
		ihl := int(b[off]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[off+2:]))
		return ihl >= 20 && total >= ihl && len(b) >= off+ihl &&
			binary.BigEndian.Uint16(b[off+6:])&0x1fff != 0
	case frame.TypeIPv6:
		if len(b) < off+40 || b[off]>>4 != 6 {
			return false
		}
		// The same walk as frame.L4's, to the fragment header.
		next, p := b[off+6], off+40
		for i := 0; i < 8 && len(b) >= p+8; i++ {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				next, p = b[p], p+8+int(b[p+1])*8
			case 44: // fragment
				return binary.BigEndian.Uint16(b[p+2:])&0xfff8 != 0
			default:
				return false
			}
		}
	}
	return false
}
