package daemon

// The multistack module's commands (port roles, 3-tuple reservations),
// translated between port names and IDs, and the check that the host's own
// stack has no socket on a tuple before a user-level stack may reserve it.

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/multistack"
)

// multistackSpec returns the port roles of m by name.
//
// Preconditions: d.mu is held.
func (s *swtch) multistackSpec(m *multistack.Multistack) control.MultistackSpec {
	var spec control.MultistackSpec
	if id := m.NIC(); id != multistack.NoPort {
		spec.NIC = s.portName(id)
	}
	if id := m.Host(); id != multistack.NoPort {
		spec.Host = s.portName(id)
	}
	return spec
}

// roleID returns the ID of the port named for a role, or NoPort for "".
//
// Preconditions: d.mu is held.
func (s *swtch) roleID(name string) (logic.PortID, error) {
	if name == "" {
		return multistack.NoPort, nil
	}
	return s.portID(name)
}

// setMultistack sets the port roles of a multistack switch.
//
// Preconditions: d.mu is held.
func (s *swtch) setMultistack(spec control.MultistackSpec) error {
	m, err := moduleAs[*multistack.Multistack](s, "multistack")
	if err != nil {
		return err
	}
	nic, err := s.roleID(spec.NIC)
	if err != nil {
		return err
	}
	host, err := s.roleID(spec.Host)
	if err != nil {
		return err
	}
	if err := m.SetRoles(nic, host); err != nil {
		return s.roleError(m, err, spec)
	}
	return nil
}

// restoreMultistack sets the roles of spec one by one, so that a port that
// could not be restored costs only its own role.
//
// Preconditions: d.mu is held.
func (s *swtch) restoreMultistack(spec control.MultistackSpec, log *slog.Logger) {
	m, err := moduleAs[*multistack.Multistack](s, "multistack")
	if err != nil {
		log.Error("restore multistack roles", "err", err)
		return
	}
	for _, r := range []struct {
		role, name string
		set        func(logic.PortID) error
	}{{"NIC", spec.NIC, m.SetNIC}, {"host", spec.Host, m.SetHost}} {
		if r.name == "" {
			continue
		}
		id, err := s.portID(r.name)
		if err == nil {
			err = r.set(id)
		}
		if err != nil {
			log.Error("restore multistack role", "role", r.role, "port", r.name, "err", err)
		}
	}
}

// roleError explains why m refused roles.
//
// Preconditions: d.mu is held.
func (s *swtch) roleError(m *multistack.Multistack, err error, spec control.MultistackSpec) error {
	if !errors.Is(err, multistack.ErrRole) {
		return badRequest("%v", err)
	}
	if spec.NIC != "" && spec.NIC == spec.Host {
		return badRequest("port %q cannot be both the NIC and the host port", spec.NIC)
	}
	for _, name := range []string{spec.NIC, spec.Host} {
		var held []string
		for _, r := range m.Reservations() {
			if name != "" && s.portName(r.Out) == name {
				held = append(held, r.Tuple.String())
			}
		}
		if len(held) > 0 {
			return conflict("port %q holds reservations (%s): a stack's port cannot be the NIC or host port; release them first",
				name, strings.Join(held, ", "))
		}
	}
	return conflict("%v", err)
}

// reservations lists m's reservations by port name.
//
// Preconditions: d.mu is held.
func (s *swtch) reservations(m *multistack.Multistack) []control.Reservation {
	var out []control.Reservation
	for _, r := range m.Reservations() {
		out = append(out, control.Reservation{Proto: protoName(r.Proto), IP: r.IP.String(), Port: r.Port, Out: s.portName(r.Out)})
	}
	return out
}

// parseTuple reads a reservation's protocol, address and L4 port.
func parseTuple(proto, ip string, l4port uint16) (multistack.Tuple, error) {
	p, err := parseProto(proto)
	if err != nil {
		return multistack.Tuple{}, err
	}
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return multistack.Tuple{}, badRequest("%q is not an IP address: write it as 10.0.0.1 or 2001:db8::1", ip)
	case a.Zone() != "":
		return multistack.Tuple{}, badRequest("%q has a zone: reservations take the address alone", ip)
	case a.IsUnspecified():
		return multistack.Tuple{}, badRequest("%s is a wildcard: reserve each local address", ip)
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return multistack.Tuple{}, badRequest("%s is not a unicast address", ip)
	case l4port == 0:
		return multistack.Tuple{}, badRequest("L4 port 0 cannot be reserved")
	}
	return multistack.Tuple{Proto: p, IP: a.Unmap(), Port: l4port}, nil
}

// reserve gives a tuple to a port of a multistack switch. With checkHost,
// a tuple the host's stack has a socket on is refused; restore passes
// false, and only warns, since the reservation was granted before.
//
// Preconditions: d.mu is held.
func (d *Daemon) reserve(s *swtch, r control.Reservation, checkHost bool) error {
	m, err := moduleAs[*multistack.Multistack](s, "multistack")
	if err != nil {
		return err
	}
	t, err := parseTuple(r.Proto, r.IP, r.Port)
	if err != nil {
		return err
	}
	id, err := s.portID(r.Out)
	if err != nil {
		return err
	}
	if p, ok := m.Owner(t); ok {
		return conflict("%v is reserved already, by port %q", t, s.portName(p))
	}
	if id == m.NIC() || id == m.Host() {
		role := "host"
		if id == m.NIC() {
			role = "NIC"
		}
		return conflict("port %q is the %s port of switch %q: reservations are for the user-level stacks' ports",
			r.Out, role, s.name)
	}
	bound, err := hostBinds(t)
	switch {
	case err != nil && checkHost:
		return fmt.Errorf("check the host stack's sockets for %v: %w", t, err)
	case err != nil:
		d.log.Warn("check the host stack's sockets", "switch", s.name, "tuple", t.String(), "err", err)
	case bound != "" && checkHost:
		return conflict("%v is bound by the host stack (a socket on %s): close it, or reserve another port", t, bound)
	case bound != "":
		d.log.Warn("reservation restored, but the host stack has a socket on it: its packets will be dropped",
			"switch", s.name, "tuple", t.String(), "socket", bound)
	}
	if err := m.Reserve(t, id); err != nil {
		if errors.Is(err, multistack.ErrReserved) || errors.Is(err, multistack.ErrRole) {
			return conflict("%v", err)
		}
		return badRequest("%v", err)
	}
	return nil
}

// release deletes the reservation of a tuple.
//
// Preconditions: d.mu is held.
func (s *swtch) release(proto, ip string, l4port uint16) error {
	m, err := moduleAs[*multistack.Multistack](s, "multistack")
	if err != nil {
		return err
	}
	t, err := parseTuple(proto, ip, l4port)
	if err != nil {
		return err
	}
	if err := m.Release(t); err != nil {
		if errors.Is(err, multistack.ErrNotReserved) {
			return notFound("switch %q has no reservation of %v", s.name, t)
		}
		return badRequest("%v", err)
	}
	return nil
}

// hostBinds returns the local address of a socket of this network
// namespace's stack that owns tuple t, or "" if there is none: a TCP or UDP
// socket, in any state, on t's port with t's address or a wildcard. An IPv6
// socket on [::] counts for IPv4 too (unless IPV6_V6ONLY is set, which the
// socket dump does not say).
func hostBinds(t multistack.Tuple) (string, error) {
	families := []uint8{unix.AF_INET6}
	if t.IP.Is4() {
		families = append(families, unix.AF_INET)
	}
	for _, fam := range families {
		socks, err := dumpSockets(t.Proto, fam)
		if fam == unix.AF_INET6 && errors.Is(err, unix.ENOENT) {
			continue // a kernel without IPv6 has no IPv6 sockets
		}
		if err != nil {
			return "", err
		}
		for _, sk := range socks {
			if sk.ID.SourcePort != t.Port {
				continue
			}
			a, ok := netip.AddrFromSlice(sk.ID.Source)
			if !ok {
				continue
			}
			if a = a.Unmap(); a.IsUnspecified() || a == t.IP {
				return netip.AddrPortFrom(a, t.Port).String(), nil
			}
		}
	}
	return "", nil
}

// dumpSockets lists the TCP or UDP sockets of one address family, retrying
// a dump that the kernel interrupted (the socket table changed under it).
func dumpSockets(proto, family uint8) ([]*netlink.Socket, error) {
	var socks []*netlink.Socket
	var err error
	for range 3 {
		if proto == frame.ProtoTCP {
			socks, err = netlink.SocketDiagTCP(family)
		} else {
			socks, err = netlink.SocketDiagUDP(family)
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dump %s sockets (sock_diag): %w", protoName(proto), err)
	}
	return socks, nil
}

func (d *Daemon) getMultistack(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		m, err := moduleAs[*multistack.Multistack](s, "multistack")
		if err != nil {
			return nil, err
		}
		return s.multistackSpec(m), nil
	})
}

func (d *Daemon) putMultistack(r *http.Request) (any, error) {
	var spec control.MultistackSpec
	if err := decode(r, &spec); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) { return nil, s.setMultistack(spec) })
}

func (d *Daemon) getReservations(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		m, err := moduleAs[*multistack.Multistack](s, "multistack")
		if err != nil {
			return nil, err
		}
		out := s.reservations(m)
		if out == nil {
			out = []control.Reservation{}
		}
		return out, nil
	})
}

func (d *Daemon) postReservation(r *http.Request) (any, error) {
	var res control.Reservation
	if err := decode(r, &res); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) { return nil, d.reserve(s, res, true) })
}

func (d *Daemon) deleteReservation(r *http.Request) (any, error) {
	v := r.PathValue("l4port")
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return nil, badRequest("L4 port %q is not a number in [1, 65535]", v)
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) {
		return nil, s.release(r.PathValue("proto"), r.PathValue("ip"), uint16(n))
	})
}
