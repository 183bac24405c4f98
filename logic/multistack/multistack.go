package multistack

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
)

func init() {
	logic.Register("multistack", func() logic.Logic { return New() })
}

// NoPort, given to SetNIC or SetHost, clears the role; NIC and Host report
// it when the role is not set.
const NoPort logic.PortID = logic.MaxPorts

// Errors returned by the commands.
var (
	// ErrBadProto: the protocol is neither frame.ProtoTCP nor frame.ProtoUDP.
	ErrBadProto = errors.New("protocol is neither TCP nor UDP")
	// ErrBadIP: the address is invalid, unspecified (a wildcard) or
	// multicast.
	ErrBadIP = errors.New("not a unicast IP address")
	// ErrBadL4Port: L4 port 0 cannot be reserved.
	ErrBadL4Port = errors.New("L4 port 0 cannot be reserved")
	// ErrBadPort: the switch port ID is not below logic.MaxPorts.
	ErrBadPort = errors.New("port ID out of range")
	// ErrReserved: Reserve found the tuple reserved already.
	ErrReserved = errors.New("reserved already")
	// ErrNotReserved: Release found no reservation of the tuple.
	ErrNotReserved = errors.New("not reserved")
	// ErrRole: the port's role forbids the command: the NIC and host ports
	// hold no reservations, a port holding reservations takes no role, and
	// one port cannot be both NIC and host.
	ErrRole = errors.New("conflicting port role")
)

// Tuple is a local <protocol, IP address, L4 port> 3-tuple.
type Tuple struct {
	Proto uint8      // frame.ProtoTCP or frame.ProtoUDP
	IP    netip.Addr // IPv4 or IPv6, without zone
	Port  uint16
}

// String returns the tuple in the form "tcp 10.0.0.1:22" or
// "udp [2001:db8::1]:53".
func (t Tuple) String() string {
	return protoName(t.Proto) + " " + netip.AddrPortFrom(t.IP, t.Port).String()
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

// Reservation gives a tuple to a switch port.
type Reservation struct {
	Tuple
	Out logic.PortID
}

// String returns the reservation in the form "tcp 10.0.0.1:22 -> port 3".
func (r Reservation) String() string { return fmt.Sprintf("%v -> port %d", r.Tuple, r.Out) }

// Stats counts the packets looked up, by outcome (see the package doc).
type Stats struct {
	ToStack uint64 // from the NIC, to the port holding the destination tuple
	ToHost  uint64 // from the NIC, to the host port
	Shared  uint64 // from the NIC, to the host and every stack (ARP, ND, group)
	ToNIC   uint64 // from a stack or the host, to the NIC

	NoHost      uint64 // dropped: from the NIC, for the host, but no host port
	NoNIC       uint64 // dropped: for the NIC, but no NIC port
	Spoofed     uint64 // dropped: sent from a tuple or IP its sender does not own
	NotOwned    uint64 // dropped: from a stack, neither TCP, UDP, ARP nor ND
	Fragment    uint64 // dropped: an IP fragment, from the NIC or a stack
	BadChecksum uint64 // dropped: an IPv4 header checksum that does not verify
	Malformed   uint64 // dropped as logic.DropMalformed
}

// outcome indexes the counters.
type outcome uint8

const (
	toStack outcome = iota
	toHost
	shared
	toNIC
	noHost
	noNIC
	spoofed
	notOwned
	fragment
	badChecksum
	malformed
	numOutcomes
)

// table is what Lookup reads: immutable once published.
type table struct {
	owner  *index         // tupleKey -> the port holding the tuple
	owns   *index         // ownerKey: the port holds a reservation on the address
	shared []logic.PortID // the host port and every port holding reservations
	nic    logic.PortID
	host   logic.PortID
}

// Multistack is the 3-tuple demultiplexer. The zero value is not usable;
// call New.
type Multistack struct {
	tab    atomic.Pointer[table]
	counts [numOutcomes]atomic.Uint64

	// mu serialises changes and guards the control path's state, from
	// which every change builds a new table.
	mu         sync.Mutex
	res        map[key]Reservation
	nic, host  logic.PortID
	stackPorts map[logic.PortID]int // reservations per port
}

var (
	_ logic.Logic        = (*Multistack)(nil)
	_ logic.PortObserver = (*Multistack)(nil)
)

// New returns a module with no reservations and no port roles.
func New() *Multistack {
	m := &Multistack{
		res:        make(map[key]Reservation),
		nic:        NoPort,
		host:       NoPort,
		stackPorts: make(map[logic.PortID]int),
	}
	m.publish()
	return m
}

// publish builds and stores the table of the current state.
//
// Preconditions: m.mu is held, or m is not shared yet.
func (m *Multistack) publish() {
	t := &table{
		owner: newIndex(len(m.res)),
		owns:  newIndex(len(m.res)),
		nic:   m.nic,
		host:  m.host,
	}
	for k, r := range m.res {
		t.owner.put(k, r.Out)
		t.owns.put(ownerKey(k.a, !r.IP.Is4(), r.Out), r.Out)
	}
	if m.host != NoPort {
		t.shared = append(t.shared, m.host)
	}
	for p := range m.stackPorts {
		t.shared = append(t.shared, p)
	}
	slices.Sort(t.shared)
	m.tab.Store(t)
}

// checkTuple validates a tuple and returns it normalised (IPv4-mapped IPv6
// addresses unmapped, zone dropped).
func checkTuple(t Tuple) (Tuple, error) {
	t.IP = t.IP.Unmap().WithZone("")
	switch {
	case t.Proto != frame.ProtoTCP && t.Proto != frame.ProtoUDP:
		return t, ErrBadProto
	case !t.IP.IsValid() || t.IP.IsUnspecified() || t.IP.IsMulticast():
		return t, ErrBadIP
	case t.IP.Is4() && t.IP == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return t, ErrBadIP
	case t.Port == 0:
		return t, ErrBadL4Port
	}
	return t, nil
}

// Reserve gives tuple t to switch port out: packets from the NIC to t go to
// out, and out may send from t. A tuple has one owner; Reserve fails with
// ErrReserved if t has one already (Owner says which).
func (m *Multistack) Reserve(t Tuple, out logic.PortID) error {
	t, err := checkTuple(t)
	if err == nil && out >= logic.MaxPorts {
		err = ErrBadPort
	}
	if err != nil {
		return fmt.Errorf("reserve %v: %w", t, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := keyOf(t)
	if r, ok := m.res[k]; ok {
		return fmt.Errorf("reserve %v: %w by port %d", t, ErrReserved, r.Out)
	}
	if out == m.nic || out == m.host {
		return fmt.Errorf("reserve %v for port %d: %w: it is the NIC or host port", t, out, ErrRole)
	}
	m.res[k] = Reservation{Tuple: t, Out: out}
	m.stackPorts[out]++
	m.publish()
	return nil
}

// Release deletes the reservation of tuple t.
func (m *Multistack) Release(t Tuple) error {
	t, err := checkTuple(t)
	if err != nil {
		return fmt.Errorf("release %v: %w", t, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := keyOf(t)
	r, ok := m.res[k]
	if !ok {
		return fmt.Errorf("release %v: %w", t, ErrNotReserved)
	}
	m.drop(k, r.Out)
	m.publish()
	return nil
}

// drop deletes reservation k of port out from the control state.
//
// Preconditions: m.mu is held.
func (m *Multistack) drop(k key, out logic.PortID) {
	delete(m.res, k)
	if m.stackPorts[out]--; m.stackPorts[out] == 0 {
		delete(m.stackPorts, out)
	}
}

// Owner returns the port holding tuple t, if any.
func (m *Multistack) Owner(t Tuple) (logic.PortID, bool) {
	t, err := checkTuple(t)
	if err != nil {
		return 0, false
	}
	p, ok := m.tab.Load().owner.get(keyOf(t))
	return p, ok
}

// Reservations returns the reservations, sorted by protocol (TCP first),
// address (IPv4 first) and L4 port.
func (m *Multistack) Reservations() []Reservation {
	m.mu.Lock()
	out := make([]Reservation, 0, len(m.res))
	for _, r := range m.res {
		out = append(out, r)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Reservation) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// SetNIC makes port id the NIC (uplink) port, or clears the role if id is
// NoPort. The port must hold no reservations and must not be the host port.
func (m *Multistack) SetNIC(id logic.PortID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setRoles(id, m.host)
}

// SetHost makes port id the host stack's port, or clears the role if id is
// NoPort. The port must hold no reservations and must not be the NIC port.
func (m *Multistack) SetHost(id logic.PortID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setRoles(m.nic, id)
}

// SetRoles sets both roles at once (NoPort clears one), so that they can
// be swapped. Neither port may hold reservations, and they must differ.
func (m *Multistack) SetRoles(nic, host logic.PortID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setRoles(nic, host)
}

// Preconditions: m.mu is held.
func (m *Multistack) setRoles(nic, host logic.PortID) error {
	for _, r := range []struct {
		name string
		id   logic.PortID
	}{{"NIC", nic}, {"host", host}} {
		switch {
		case r.id > NoPort:
			return fmt.Errorf("set %s port %d: %w", r.name, r.id, ErrBadPort)
		case r.id == NoPort:
		case m.stackPorts[r.id] > 0:
			return fmt.Errorf("set %s port %d: %w: it holds %d reservations", r.name, r.id, ErrRole, m.stackPorts[r.id])
		}
	}
	if nic == host && nic != NoPort {
		return fmt.Errorf("set NIC and host port %d: %w: one port cannot be both", nic, ErrRole)
	}
	m.nic, m.host = nic, host
	m.publish()
	return nil
}

// NIC returns the NIC port, or NoPort.
func (m *Multistack) NIC() logic.PortID { return m.tab.Load().nic }

// Host returns the host port, or NoPort.
func (m *Multistack) Host() logic.PortID { return m.tab.Load().host }

// Stats returns the packet counters since New.
func (m *Multistack) Stats() Stats {
	c := func(o outcome) uint64 { return m.counts[o].Load() }
	return Stats{
		ToStack: c(toStack), ToHost: c(toHost), Shared: c(shared), ToNIC: c(toNIC),
		NoHost: c(noHost), NoNIC: c(noNIC), Spoofed: c(spoofed), NotOwned: c(notOwned),
		Fragment: c(fragment), BadChecksum: c(badChecksum), Malformed: c(malformed),
	}
}

// PortAdded implements logic.PortObserver. It does nothing.
func (m *Multistack) PortAdded(id logic.PortID) {}

// PortRemoved implements logic.PortObserver: it releases the port's
// reservations and clears its role.
func (m *Multistack) PortRemoved(id logic.PortID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.res {
		if r.Out == id {
			m.drop(k, id)
		}
	}
	if m.nic == id {
		m.nic = NoPort
	}
	if m.host == id {
		m.host = NoPort
	}
	m.publish()
}

// Lookup implements logic.Logic.
func (m *Multistack) Lookup(pkts []logic.Packet, in logic.PortID) {
	t := m.tab.Load()
	var n [numOutcomes]uint64
	// The batch comes from one port: its role is found once.
	switch in {
	case t.nic:
		for i := range pkts {
			d, o := t.fromNIC(pkts[i].Data)
			if d == logic.ToSet {
				pkts[i].Set = t.shared
			}
			pkts[i].Dst = d
			n[o]++
		}
	case t.host:
		for i := range pkts {
			d, o := t.fromHost(pkts[i].Data)
			pkts[i].Dst = d
			n[o]++
		}
	default:
		for i := range pkts {
			d, o := t.fromStack(pkts[i].Data, in)
			pkts[i].Dst = d
			n[o]++
		}
	}
	for o, c := range n {
		if c != 0 {
			m.counts[o].Add(c)
		}
	}
}

func (t *table) fromNIC(b []byte) (logic.Dst, outcome) {
	if len(b) >= frame.EthHeaderLen && frame.IsMulticast(frame.Dst(b)) {
		return t.toShared()
	}
	var h headers
	c := clsL4
	if !h.parseFast(b) {
		if c = h.parse(b); h.frag && c < clsFragment { // a first fragment is a fragment, whatever it carries
			c = clsFragment
		}
	}
	switch c {
	case clsL4:
		if p, ok := t.owner.get(tupleKey(h.dst, h.v6, h.proto, h.dport)); ok {
			return logic.To(p), toStack
		}
	case clsNeighbour:
		return t.toShared()
	case clsFragment:
		return logic.Drop, fragment
	case clsBadChecksum:
		return logic.Drop, badChecksum
	case clsMalformed:
		return logic.DropMalformed, malformed
	}
	if t.host == NoPort {
		return logic.Drop, noHost
	}
	return logic.To(t.host), toHost
}

// toShared sends a packet to the host port and every stack.
func (t *table) toShared() (logic.Dst, outcome) {
	switch len(t.shared) {
	case 0:
		return logic.Drop, noHost
	case 1:
		return logic.To(t.shared[0]), shared
	}
	return logic.ToSet, shared
}

func (t *table) fromStack(b []byte, in logic.PortID) (logic.Dst, outcome) {
	var h headers
	c := clsL4
	if !h.parseFast(b) {
		if c = h.parse(b); h.frag && c < clsFragment { // a first fragment is a fragment, whatever it carries
			c = clsFragment
		}
	}
	switch c {
	case clsL4:
		if p, ok := t.owner.get(tupleKey(h.src, h.v6, h.proto, h.sport)); !ok || p != in {
			return logic.Drop, spoofed
		}
	case clsNeighbour:
		if _, ok := t.owns.get(ownerKey(h.src, h.v6, in)); !ok {
			return logic.Drop, spoofed
		}
	case clsFragment:
		return logic.Drop, fragment
	case clsBadChecksum:
		return logic.Drop, badChecksum
	case clsMalformed:
		return logic.DropMalformed, malformed
	default:
		return logic.Drop, notOwned
	}
	return t.toNIC()
}

func (t *table) fromHost(b []byte) (logic.Dst, outcome) {
	var h headers
	c := clsL4
	if !h.parseFast(b) {
		c = h.parse(b)
	}
	switch c {
	case clsL4:
		if p, ok := t.owner.get(tupleKey(h.src, h.v6, h.proto, h.sport)); ok && p != t.host {
			return logic.Drop, spoofed
		}
	case clsBadChecksum:
		return logic.Drop, badChecksum
	case clsMalformed:
		return logic.DropMalformed, malformed
	}
	return t.toNIC()
}

func (t *table) toNIC() (logic.Dst, outcome) {
	if t.nic == NoPort {
		return logic.Drop, noNIC
	}
	return logic.To(t.nic), toNIC
}
