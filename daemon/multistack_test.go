package daemon_test

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
)

// msFrame is a TCP or UDP frame from src:sport to dst:dport (IPv4).
func msFrame(proto uint8, src string, sport uint16, dst string, dport uint16) []byte {
	l4 := ft.UDP(sport, dport, nil)
	if proto == frame.ProtoTCP {
		l4 = ft.TCP(sport, dport)
	}
	h := ft.IPv4{Proto: proto, Src: netip.MustParseAddr(src).As4(), Dst: netip.MustParseAddr(dst).As4()}
	return ft.Frame(ft.Ethernet(frame.TypeIPv4), h.Build(l4))
}

// newMultistack makes switch name running multistack, with pipe ports nic,
// host, s1 and s2, the first two in their roles.
func newMultistack(t *testing.T, td *testDaemon, name string) {
	t.Helper()
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: name, Module: "multistack"}))
	for _, n := range []string{"nic", "host", "s1", "s2"} {
		must[control.PortInfo](t)(c.AddPort(cx, name, control.PortSpec{Name: n, Type: control.TypePipe}))
	}
	check(t, c.SetMultistack(cx, name, control.MultistackSpec{NIC: "nic", Host: "host"}))
}

func TestMultistack(t *testing.T) {
	td := start(t, t.TempDir())
	c, cx := td.c, ctx(t)

	// The wrong module.
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "br"}))
	wantErr(t, c.Reserve(cx, "br", control.Reservation{Proto: "tcp", IP: "10.0.0.1", Port: 80, Out: "s1"}), 409,
		"switch \"br\" runs module learning, not multistack: set it with `mswitchctl module set br multistack`")
	_, err := c.Multistack(cx, "br")
	wantErr(t, err, 409, "not multistack")

	newMultistack(t, td, "ms")
	if spec := must[control.MultistackSpec](t)(c.Multistack(cx, "ms")); spec != (control.MultistackSpec{NIC: "nic", Host: "host"}) {
		t.Fatalf("multistack spec %+v", spec)
	}
	if rs := must[[]control.Reservation](t)(c.Reservations(cx, "ms")); rs == nil || len(rs) != 0 {
		t.Fatalf("reservations of a new switch: %#v", rs)
	}
	want := []control.Reservation{
		{Proto: "tcp", IP: "10.0.0.1", Port: 80, Out: "s1"},
		{Proto: "tcp", IP: "2001:db8::1", Port: 443, Out: "s1"},
		{Proto: "udp", IP: "10.0.0.1", Port: 53, Out: "s2"},
	}
	for _, r := range want {
		check(t, c.Reserve(cx, "ms", r))
	}
	if rs := must[[]control.Reservation](t)(c.Reservations(cx, "ms")); !reflect.DeepEqual(rs, want) {
		t.Fatalf("reservations %+v, want %+v", rs, want)
	}

	// Refusals.
	r := func(proto, ip string, port uint16, out string) control.Reservation {
		return control.Reservation{Proto: proto, IP: ip, Port: port, Out: out}
	}
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0.1", 80, "s2")), 409, `tcp 10.0.0.1:80 is reserved already, by port "s1"`)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0.1", 80, "s1")), 409, `tcp 10.0.0.1:80 is reserved already, by port "s1"`)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0.1", 81, "zz")), 404, `switch "ms" has no port "zz"; ports: host, nic, s1, s2`)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0.1", 81, "nic")), 409, `port "nic" is the NIC port of switch "ms"`)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0.1", 81, "host")), 409, `port "host" is the host port of switch "ms"`)
	wantErr(t, c.Reserve(cx, "ms", r("sctp", "10.0.0.1", 81, "s1")), 400, `protocol "sctp" is neither tcp nor udp`)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "0.0.0.0", 81, "s1")), 400, "0.0.0.0 is a wildcard: reserve each local address")
	wantErr(t, c.Reserve(cx, "ms", r("udp", "224.0.0.251", 5353, "s1")), 400, "224.0.0.251 is not a unicast address")
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0", 81, "s1")), 400, `"10.0.0" is not an IP address`)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "10.0.0.1", 0, "s1")), 400, "L4 port 0 cannot be reserved")
	wantErr(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "s1", Host: "host"}), 409,
		`port "s1" holds reservations (tcp 10.0.0.1:80, tcp [2001:db8::1]:443)`)
	wantErr(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "nic", Host: "nic"}), 400,
		`port "nic" cannot be both the NIC and the host port`)
	wantErr(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "nope"}), 404, `switch "ms" has no port "nope"`)

	// The host's own sockets: a TCP listener on 127.0.0.1 and a UDP socket
	// on the wildcard address.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	check(t, err)
	defer ln.Close()
	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	wantErr(t, c.Reserve(cx, "ms", r("tcp", "127.0.0.1", lport, "s1")), 409,
		fmt.Sprintf("tcp 127.0.0.1:%d is bound by the host stack (a socket on 127.0.0.1:%d)", lport, lport))
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{})
	check(t, err)
	defer uc.Close()
	uport := uint16(uc.LocalAddr().(*net.UDPAddr).Port)
	wantErr(t, c.Reserve(cx, "ms", r("udp", "10.9.9.9", uport, "s1")), 409,
		fmt.Sprintf("udp 10.9.9.9:%d is bound by the host stack (a socket on 0.0.0.0:%d)", uport, uport))
	// Another address, or the other protocol, is free.
	check(t, c.Reserve(cx, "ms", r("tcp", "127.0.0.2", lport, "s2")))
	check(t, c.Reserve(cx, "ms", r("udp", "127.0.0.1", lport, "s2")))
	check(t, c.Release(cx, "ms", r("tcp", "127.0.0.2", lport, "")))
	check(t, c.Release(cx, "ms", r("udp", "127.0.0.1", lport, "")))

	// Traffic: steering from the NIC, source checks from the stacks.
	td.send(t, "ms", "nic",
		msFrame(frame.ProtoTCP, "10.0.0.9", 40000, "10.0.0.1", 80), // s1
		msFrame(frame.ProtoUDP, "10.0.0.9", 40000, "10.0.0.1", 53), // s2
		msFrame(frame.ProtoTCP, "10.0.0.9", 40000, "10.0.0.1", 22), // host
		ft.ARP(), // host, s1, s2
	)
	td.send(t, "ms", "s1",
		msFrame(frame.ProtoTCP, "10.0.0.1", 80, "10.0.0.9", 40000), // nic
		msFrame(frame.ProtoUDP, "10.0.0.1", 53, "10.0.0.9", 40000), // spoofed
	)
	td.send(t, "ms", "host", msFrame(frame.ProtoTCP, "10.0.0.1", 80, "10.0.0.9", 40000)) // spoofed
	st := td.waitStats(t, "ms", func(m map[string]control.PortStats) bool {
		return m["s1"].TxPackets == 2 && m["s2"].TxPackets == 2 && m["host"].TxPackets == 2 &&
			m["nic"].TxPackets == 1 && m["s1"].Drops["lookup"] == 1 && m["host"].Drops["lookup"] == 1
	})
	mi := must[control.ModuleInfo](t)(c.Module(cx, "ms"))
	wantCounters := map[string]uint64{
		"to_stack": 2, "to_host": 1, "shared": 1, "to_nic": 1, "spoofed": 2, "reservations": 3,
		"no_host": 0, "no_nic": 0, "not_owned": 0, "fragment": 0, "bad_checksum": 0, "malformed": 0,
	}
	if mi.Name != "multistack" || !reflect.DeepEqual(mi.Counters, wantCounters) {
		t.Fatalf("module %+v, want counters %v (ports %+v)", mi, wantCounters, st)
	}

	// Release.
	check(t, c.Release(cx, "ms", r("udp", "10.0.0.1", 53, "")))
	wantErr(t, c.Release(cx, "ms", r("udp", "10.0.0.1", 53, "")), 404, `switch "ms" has no reservation of udp 10.0.0.1:53`)
	wantErr(t, c.Release(cx, "ms", r("udp", "::", 53, "")), 400, ":: is a wildcard")
	check(t, c.Release(cx, "ms", r("tcp", "2001:db8::1", 443, "")))

	// Deleting a port releases its reservations and its role.
	check(t, c.DeletePort(cx, "ms", "s1"))
	check(t, c.DeletePort(cx, "ms", "host"))
	if rs := must[[]control.Reservation](t)(c.Reservations(cx, "ms")); len(rs) != 0 {
		t.Fatalf("reservations after deleting their port: %+v", rs)
	}
	if spec := must[control.MultistackSpec](t)(c.Multistack(cx, "ms")); spec != (control.MultistackSpec{NIC: "nic"}) {
		t.Fatalf("roles after deleting the host port: %+v", spec)
	}
	// The roles can be swapped in one call.
	must[control.PortInfo](t)(c.AddPort(cx, "ms", control.PortSpec{Name: "host", Type: control.TypePipe}))
	check(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "nic", Host: "host"}))
	check(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "host", Host: "nic"}))
	if spec := must[control.MultistackSpec](t)(c.Multistack(cx, "ms")); spec != (control.MultistackSpec{NIC: "host", Host: "nic"}) {
		t.Fatalf("swapped roles: %+v", spec)
	}
}

// TestMultistackRestart checks that roles and reservations survive a
// restart, by port name although the port IDs change.
func TestMultistackRestart(t *testing.T) {
	dir := t.TempDir()
	td := start(t, dir)
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "ms", Module: "multistack"}))
	for _, n := range []string{"gone", "s1", "nic", "host", "s2"} {
		must[control.PortInfo](t)(c.AddPort(cx, "ms", control.PortSpec{Name: n, Type: control.TypePipe}))
	}
	check(t, c.DeletePort(cx, "ms", "gone")) // so that IDs move on restart
	check(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "nic", Host: "host"}))
	want := []control.Reservation{
		{Proto: "tcp", IP: "10.0.0.1", Port: 80, Out: "s1"},
		{Proto: "udp", IP: "10.0.0.1", Port: 53, Out: "s2"},
		{Proto: "udp", IP: "2001:db8::1", Port: 53, Out: "s1"},
	}
	for _, r := range want {
		check(t, c.Reserve(cx, "ms", r))
	}
	td.stop()

	td2 := start(t, dir)
	c = td2.c
	if spec := must[control.MultistackSpec](t)(c.Multistack(cx, "ms")); spec != (control.MultistackSpec{NIC: "nic", Host: "host"}) {
		t.Fatalf("roles after restart: %+v", spec)
	}
	if rs := must[[]control.Reservation](t)(c.Reservations(cx, "ms")); !reflect.DeepEqual(rs, want) {
		t.Fatalf("reservations after restart %+v, want %+v", rs, want)
	}
	// They steer traffic by the new IDs.
	td2.send(t, "ms", "nic", msFrame(frame.ProtoUDP, "10.0.0.9", 1, "10.0.0.1", 53))
	td2.waitStats(t, "ms", func(m map[string]control.PortStats) bool { return m["s2"].TxPackets == 1 })
}
