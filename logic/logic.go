// Package logic is the contract between the switch fabric and a switching
// logic: the small, swappable part of mswitch that decides where each packet
// goes (the paper's "lookup" function, §3.4).
//
// The fabric owns everything else: draining input queues in batches,
// grouping packets by destination, flooding, copying into output queues and
// counting drops. A module only reads a batch of packets that arrived on one
// port and writes a destination into each:
//
//	func (m *Module) Lookup(pkts []logic.Packet, in logic.PortID) {
//		for i := range pkts {
//			pkts[i].Dst = m.decide(pkts[i].Data, in)
//		}
//	}
//
// Most modules need only a per-packet function; [Func] adapts one:
//
//	var hub = logic.Func(func(p *logic.Packet, in logic.PortID) logic.Dst {
//		return logic.Flood
//	})
//
// Modules register a constructor by name with [Register], from an init
// function, and the fabric instantiates them with [New]. A switch's module can
// be replaced while traffic flows: every batch is decided entirely by one
// module, old or new, so no packet is lost or duplicated by the swap.
package logic

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// PortID identifies a port of one switch. Valid IDs are below [MaxPorts].
type PortID uint16

// MaxPorts is the number of port IDs a switch can hand out.
const MaxPorts = 1<<16 - 16

// Dst is a lookup result: a port ID (see [To]), or one of the special values
// [Flood], [ToSet], [ToInPort], [Drop] and [DropMalformed].
type Dst uint32

const (
	// Drop discards the packet by policy (a filter said no). The fabric
	// counts it against the input port as a "lookup" drop.
	Drop Dst = 0xFFFF_FFFF
	// DropMalformed discards a packet the module could not parse (a runt
	// frame, a truncated header). Counted as a "malformed" drop.
	DropMalformed Dst = 0xFFFF_FFFE
	// Flood sends the packet to every port of the switch but its input port.
	Flood Dst = 0xFFFF_FFFD
	// ToSet sends the packet to every port listed in Packet.Set (the input
	// port, if listed, is skipped).
	ToSet Dst = 0xFFFF_FFFC
	// ToInPort sends the packet back out of the port it came in on (a
	// hairpin: OpenFlow's output to IN_PORT). A port ID equal to the input
	// port is a loop and dropped; this is the way to ask for it.
	ToInPort Dst = 0xFFFF_FFFB
)

// To returns the destination "port p".
func To(p PortID) Dst { return Dst(p) }

// Port reports whether d names a single port, and which.
func (d Dst) Port() (PortID, bool) {
	if d < MaxPorts {
		return PortID(d), true
	}
	return 0, false
}

func (d Dst) String() string {
	switch d {
	case Drop:
		return "drop"
	case DropMalformed:
		return "drop(malformed)"
	case Flood:
		return "flood"
	case ToSet:
		return "set"
	case ToInPort:
		return "in-port"
	}
	if p, ok := d.Port(); ok {
		return fmt.Sprintf("port %d", p)
	}
	return fmt.Sprintf("invalid(%#x)", uint32(d))
}

// Packet is one packet of a batch, as a module sees it.
type Packet struct {
	// Data is the packet's first buffer, starting at the Ethernet header.
	// len(Data) is the number of bytes in that buffer and cap(Data) the room
	// in it. A module may rewrite the bytes and may reslice Data within its
	// capacity to change the length (Data = Data[:n] with n <= cap(Data)).
	// A packet larger than one buffer continues in buffers the module does
	// not see; headers are always in the first one.
	//
	// Data belongs to the fabric: it must not be retained after Lookup
	// returns, and must not be re-pointed at other memory.
	Data []byte

	// Dst is the module's decision. The fabric sets it to Drop before
	// calling Lookup, so a module that forgets a packet drops it.
	Dst Dst

	// Set lists the destination ports when Dst is ToSet. The fabric reads
	// it while the batch is forwarded, so the module must leave the slice's
	// contents unchanged until its next Lookup call from the same input; a
	// slice taken from an immutable table satisfies this for free.
	Set []PortID
}

// A Logic decides where packets go.
//
// Lookup is called once per batch with the packets that arrived on one input
// queue of port in (len(pkts) >= 1), and must set pkts[i].Dst for each. It is
// called concurrently from the goroutines of different input queues (and
// ports), so it must be safe for concurrent use. It runs on the forwarding
// path: it should not block, and should not allocate.
type Logic interface {
	Lookup(pkts []Packet, in PortID)
}

// Func adapts a per-packet lookup function to [Logic]. The function may set
// p.Set when it returns ToSet, and may rewrite p.Data as Packet allows.
type Func func(p *Packet, in PortID) Dst

// Lookup implements Logic.
func (f Func) Lookup(pkts []Packet, in PortID) {
	for i := range pkts {
		pkts[i].Dst = f(&pkts[i], in)
	}
}

// A PortObserver is told when ports come and go, so it can drop state about a
// port before its ID is handed out again. The fabric calls these methods from
// the control path, one at a time, after the port is fully attached and after
// it is fully detached (no packet from it is being forwarded).
type PortObserver interface {
	PortAdded(id PortID)
	PortRemoved(id PortID)
}

// NewFunc constructs a module with its default configuration.
type NewFunc func() Logic

var registry struct {
	mu    sync.Mutex
	funcs map[string]NewFunc
}

// Register makes a module constructor available by name. It is meant to be
// called from init functions and panics if name is taken.
func Register(name string, fn NewFunc) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.funcs == nil {
		registry.funcs = make(map[string]NewFunc)
	}
	if _, dup := registry.funcs[name]; dup {
		panic("logic: module registered twice: " + name)
	}
	registry.funcs[name] = fn
}

// New returns a new instance of the module registered as name.
func New(name string) (Logic, error) {
	registry.mu.Lock()
	fn := registry.funcs[name]
	registry.mu.Unlock()
	if fn == nil {
		return nil, fmt.Errorf("new module %q: %w (have %v)", name, ErrUnknownModule, Names())
	}
	return fn(), nil
}

// ErrUnknownModule is returned by New for a name nobody registered.
var ErrUnknownModule = errors.New("unknown module")

// Names lists the registered modules, sorted.
func Names() []string {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	names := make([]string, 0, len(registry.funcs))
	for n := range registry.funcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
