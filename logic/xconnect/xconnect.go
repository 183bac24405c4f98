package xconnect

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mswitch/mswitch/logic"
)

func init() {
	logic.Register("xconnect", func() logic.Logic { return New() })
}

// Errors returned by Connect and Pair.
var (
	// ErrBadPort: a port ID is not below logic.MaxPorts.
	ErrBadPort = errors.New("port ID out of range")
	// ErrSamePort: a port cannot be connected to itself (the fabric would
	// drop every packet as a loop).
	ErrSamePort = errors.New("port connected to itself")
)

// XConnect is the cross-connect module. The zero value is not usable; call
// New.
type XConnect struct {
	// table is read once per batch by Lookup. It is never modified once
	// published; writers copy it under mu.
	table atomic.Pointer[table]
	mu    sync.Mutex
}

// table maps input port IDs to destinations: out[in] is the destination of
// port in, or logic.Drop. Ports at or beyond len(out) are unmapped; out is
// trimmed so that its last entry is mapped.
type table struct {
	out []logic.Dst
}

var (
	_ logic.Logic        = (*XConnect)(nil)
	_ logic.PortObserver = (*XConnect)(nil)
)

// New returns a cross-connect with no mappings.
func New() *XConnect {
	x := &XConnect{}
	x.table.Store(&table{})
	return x
}

// Lookup implements logic.Logic: every packet goes where in is mapped, or is
// dropped if in is not mapped. It never reads the packets.
func (x *XConnect) Lookup(pkts []logic.Packet, in logic.PortID) {
	t := x.table.Load()
	d := logic.Drop
	if int(in) < len(t.out) {
		d = t.out[in]
	}
	for i := range pkts {
		pkts[i].Dst = d
	}
}

// Connect sends every packet arriving on port in to port out, replacing any
// mapping of in. The reverse direction is not touched (see Pair).
func (x *XConnect) Connect(in, out logic.PortID) error {
	if err := check(in, out); err != nil {
		return fmt.Errorf("connect port %d to %d: %w", in, out, err)
	}
	x.update(func(m map[logic.PortID]logic.PortID) { m[in] = out })
	return nil
}

// Pair connects a to b and b to a, in one change: no batch sees one
// direction without the other.
func (x *XConnect) Pair(a, b logic.PortID) error {
	if err := check(a, b); err != nil {
		return fmt.Errorf("pair ports %d and %d: %w", a, b, err)
	}
	x.update(func(m map[logic.PortID]logic.PortID) { m[a], m[b] = b, a })
	return nil
}

// Disconnect removes the mapping of port in, if any: packets from in are
// dropped again. Mappings to in are kept.
func (x *XConnect) Disconnect(in logic.PortID) {
	x.update(func(m map[logic.PortID]logic.PortID) { delete(m, in) })
}

// Map returns a copy of the current mappings, input port to output port.
func (x *XConnect) Map() map[logic.PortID]logic.PortID {
	return x.table.Load().toMap()
}

// PortAdded implements logic.PortObserver. It does nothing: a new port
// starts unconnected.
func (x *XConnect) PortAdded(id logic.PortID) {}

// PortRemoved implements logic.PortObserver: it removes every mapping from
// and to port id, so that a port reusing the ID starts unconnected.
func (x *XConnect) PortRemoved(id logic.PortID) {
	x.update(func(m map[logic.PortID]logic.PortID) {
		delete(m, id)
		for in, out := range m {
			if out == id {
				delete(m, in)
			}
		}
	})
}

func check(in, out logic.PortID) error {
	switch {
	case in >= logic.MaxPorts || out >= logic.MaxPorts:
		return ErrBadPort
	case in == out:
		return ErrSamePort
	}
	return nil
}

// update applies change to a copy of the mappings and publishes the result.
// Changes are rare and tables small (their size is the highest mapped input
// port), so rebuilding the whole table keeps Lookup to a single load.
func (x *XConnect) update(change func(map[logic.PortID]logic.PortID)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.table.Load().toMap()
	change(m)
	x.table.Store(newTable(m))
}

func (t *table) toMap() map[logic.PortID]logic.PortID {
	m := make(map[logic.PortID]logic.PortID)
	for in, d := range t.out {
		if p, ok := d.Port(); ok {
			m[logic.PortID(in)] = p
		}
	}
	return m
}

func newTable(m map[logic.PortID]logic.PortID) *table {
	n := 0
	for in := range m {
		n = max(n, int(in)+1)
	}
	t := &table{out: make([]logic.Dst, n)}
	for i := range t.out {
		t.out[i] = logic.Drop
	}
	for in, out := range m {
		t.out[in] = logic.To(out)
	}
	return t
}
