package daemon

// The commands of the built-in modules (learning, l4filter, xconnect; the
// multistack module's are in multistack.go),
// translated between port names, which the API and the state file use, and
// the port IDs the modules keep.

import (
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/l4filter"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/logic/multistack"
	"github.com/mswitch/mswitch/logic/xconnect"
	ofmodule "github.com/mswitch/mswitch/openflow/module"
)

// moduleAs returns s's logic as a T, or a sentence saying how to get one.
//
// Preconditions: d.mu is held.
func moduleAs[T any](s *swtch, want string) (T, error) {
	t, ok := s.sw.Logic().(T)
	if !ok {
		return t, conflict("switch %q runs module %s, not %s: set it with `mswitchctl module set %s %s`",
			s.name, s.module, want, s.name, want)
	}
	return t, nil
}

// portID returns the ID of s's attached port called name.
//
// Preconditions: d.mu is held.
func (s *swtch) portID(name string) (logic.PortID, error) {
	p := s.port(name)
	if p == nil {
		return 0, notFound("switch %q has no port %q; ports: %s", s.name, name, list(s.portNames(), "none"))
	}
	if !p.attached() {
		return 0, conflict("port %q of switch %q is not attached (%s)", name, s.name, p.err)
	}
	return p.id, nil
}

// moduleInfo returns the name and counters of s's logic.
//
// Preconditions: d.mu is held.
func (s *swtch) moduleInfo() control.ModuleInfo {
	mi := control.ModuleInfo{Name: s.module}
	switch l := s.sw.Logic().(type) {
	case *learning.Bridge:
		st := l.Stats()
		mi.Counters = map[string]uint64{
			"learned": st.Learned, "moves": st.Moves, "collisions": st.Collisions, "full": st.Full,
			"refused_static_moves": st.RefusedStaticMoves, "entries": st.Entries,
		}
	case *l4filter.Filter:
		st := l.Stats()
		mi.Counters = map[string]uint64{
			"matched": st.Matched, "unmatched": st.Unmatched, "not_l4": st.NotL4, "malformed": st.Malformed,
		}
	case *xconnect.XConnect:
		mi.Counters = map[string]uint64{"mappings": uint64(len(l.Map()))}
	case *multistack.Multistack:
		st := l.Stats()
		mi.Counters = map[string]uint64{
			"to_stack": st.ToStack, "to_host": st.ToHost, "shared": st.Shared, "to_nic": st.ToNIC,
			"no_host": st.NoHost, "no_nic": st.NoNIC, "spoofed": st.Spoofed, "not_owned": st.NotOwned,
			"fragment": st.Fragment, "bad_checksum": st.BadChecksum, "malformed": st.Malformed,
			"reservations": uint64(len(l.Reservations())),
		}
	case *ofmodule.Module:
		st := l.Stats()
		mi.Counters = map[string]uint64{
			"emc_hits": st.Cache.EMCHits, "megaflow_hits": st.Cache.MegaflowHits, "misses": st.Cache.Misses,
			"injected": st.Injected, "inject_drops": st.InjDrops, "packet_ins": st.PacketIns,
		}
	}
	return mi
}

// learningEntries dumps a bridge; with staticOnly, only its static entries.
//
// Preconditions: d.mu is held.
func (s *swtch) learningEntries(b *learning.Bridge, staticOnly bool) []control.LearningEntry {
	var out []control.LearningEntry
	for _, e := range b.Dump() {
		if staticOnly && !e.Static {
			continue
		}
		out = append(out, control.LearningEntry{
			MAC: e.MAC.String(), VLAN: e.VLAN, Port: s.portName(e.Port),
			Static: e.Static, Age: int64(e.Age.Seconds()),
		})
	}
	return out
}

// Preconditions: d.mu is held.
func (s *swtch) addStatic(e control.LearningEntry) error {
	b, err := moduleAs[*learning.Bridge](s, "learning")
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(e.MAC)
	if err != nil || len(mac) != 6 {
		return badRequest("%q is not a MAC address: write it as 02:00:00:00:00:01", e.MAC)
	}
	id, err := s.portID(e.Port)
	if err != nil {
		return err
	}
	if err := b.AddStatic(mac, e.VLAN, id); err != nil {
		switch {
		case errors.Is(err, learning.ErrFull), errors.Is(err, learning.ErrCollision):
			return conflict("learning table of switch %q has no room for %s: %v", s.name, mac, err)
		case errors.Is(err, learning.ErrBadMAC):
			return badRequest("%s is a group address: static entries are for unicast MACs", mac)
		case errors.Is(err, learning.ErrBadVLAN):
			return badRequest("VLAN %d is outside [0, 4095]", e.VLAN)
		}
		return badRequest("%v", err)
	}
	return nil
}

// Preconditions: d.mu is held.
func (s *swtch) deleteStatic(macText string, vlan uint16) error {
	b, err := moduleAs[*learning.Bridge](s, "learning")
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(macText)
	if err != nil || len(mac) != 6 {
		return badRequest("%q is not a MAC address: write it as 02:00:00:00:00:01", macText)
	}
	if err := b.DeleteStatic(mac, vlan); err != nil {
		if errors.Is(err, learning.ErrNotFound) {
			return notFound("switch %q has no static entry for %s on VLAN %d", s.name, mac, vlan)
		}
		return badRequest("%v", err)
	}
	return nil
}

// parseProto reads "tcp" or "udp".
func parseProto(p string) (uint8, error) {
	switch strings.ToLower(p) {
	case "tcp":
		return frame.ProtoTCP, nil
	case "udp":
		return frame.ProtoUDP, nil
	}
	return 0, badRequest("protocol %q is neither tcp nor udp", p)
}

func protoName(p uint8) string {
	if p == frame.ProtoTCP {
		return "tcp"
	}
	return "udp"
}

// Preconditions: d.mu is held.
func (s *swtch) l4Rules(f *l4filter.Filter) []control.L4Rule {
	var out []control.L4Rule
	for _, r := range f.Rules() {
		out = append(out, control.L4Rule{Proto: protoName(r.Proto), Port: r.Port, Out: s.portName(r.Out)})
	}
	return out
}

// Preconditions: d.mu is held.
func (s *swtch) addL4Rule(r control.L4Rule) error {
	f, err := moduleAs[*l4filter.Filter](s, "l4filter")
	if err != nil {
		return err
	}
	proto, err := parseProto(r.Proto)
	if err != nil {
		return err
	}
	id, err := s.portID(r.Out)
	if err != nil {
		return err
	}
	if err := f.Add(proto, r.Port, id); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// Preconditions: d.mu is held.
func (s *swtch) deleteL4Rule(protoText string, l4port uint16) error {
	f, err := moduleAs[*l4filter.Filter](s, "l4filter")
	if err != nil {
		return err
	}
	proto, err := parseProto(protoText)
	if err != nil {
		return err
	}
	if err := f.Delete(proto, l4port); err != nil {
		if errors.Is(err, l4filter.ErrNoRule) {
			return notFound("switch %q has no l4filter rule for %s/%d", s.name, protoName(proto), l4port)
		}
		return badRequest("%v", err)
	}
	return nil
}

// Preconditions: d.mu is held.
func (s *swtch) mappings(x *xconnect.XConnect) []control.Mapping {
	m := x.Map()
	ins := make([]logic.PortID, 0, len(m))
	for in := range m {
		ins = append(ins, in)
	}
	slices.Sort(ins)
	out := make([]control.Mapping, 0, len(m))
	for _, in := range ins {
		out = append(out, control.Mapping{In: s.portName(in), Out: s.portName(m[in])})
	}
	return out
}

// Preconditions: d.mu is held.
func (s *swtch) connect(m control.Mapping) error {
	x, err := moduleAs[*xconnect.XConnect](s, "xconnect")
	if err != nil {
		return err
	}
	in, err := s.portID(m.In)
	if err != nil {
		return err
	}
	out, err := s.portID(m.Out)
	if err != nil {
		return err
	}
	if in == out {
		return badRequest("port %q cannot be connected to itself", m.In)
	}
	if m.Both {
		err = x.Pair(in, out)
	} else {
		err = x.Connect(in, out)
	}
	if err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// Preconditions: d.mu is held.
func (s *swtch) disconnect(name string) error {
	x, err := moduleAs[*xconnect.XConnect](s, "xconnect")
	if err != nil {
		return err
	}
	in, err := s.portID(name)
	if err != nil {
		return err
	}
	if _, ok := x.Map()[in]; !ok {
		return notFound("port %q of switch %q is not connected", name, s.name)
	}
	x.Disconnect(in)
	return nil
}
