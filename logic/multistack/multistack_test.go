package multistack_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/multistack"
)

const (
	tcp = frame.ProtoTCP
	udp = frame.ProtoUDP

	nic   logic.PortID = 0
	host  logic.PortID = 1
	stack logic.PortID = 2 // holds several reservations
	dns   logic.PortID = 3 // holds udp 10.0.0.1:53
	idle  logic.PortID = 4 // a stack port holding none
)

var (
	ip1 = netip.MustParseAddr("10.0.0.1")
	ip2 = netip.MustParseAddr("10.0.0.2")
	ip3 = netip.MustParseAddr("10.0.0.3")
	v61 = netip.MustParseAddr("2001:db8::1")
	v69 = netip.MustParseAddr("2001:db8::9")

	hostMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	bcast   = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	v6mcast = net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 0x01}
)

// reservations is the table of the tests.
var reservations = []multistack.Reservation{
	{Tuple: multistack.Tuple{Proto: tcp, IP: ip1, Port: 80}, Out: stack},
	{Tuple: multistack.Tuple{Proto: tcp, IP: v61, Port: 443}, Out: stack},
	{Tuple: multistack.Tuple{Proto: udp, IP: ip1, Port: 53}, Out: dns},
	{Tuple: multistack.Tuple{Proto: udp, IP: ip2, Port: 53}, Out: stack},
}

// sharedSet is where neighbour and group traffic from the NIC goes.
var sharedSet = []logic.PortID{host, stack, dns}

func newModule(t testing.TB) *multistack.Multistack {
	t.Helper()
	m := multistack.New()
	if err := m.SetNIC(nic); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHost(host); err != nil {
		t.Fatal(err)
	}
	for _, r := range reservations {
		if err := m.Reserve(r.Tuple, r.Out); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// serialize builds a frame with gopacket, lengths and checksums computed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					c.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) < ft.MinFrame {
		b = append(b, make([]byte, ft.MinFrame-len(b))...)
	}
	return b
}

func eth(dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: peerMAC, DstMAC: dst, EthernetType: et}
}

func ip4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ip6(src, dst netip.Addr, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// tcp4 is a TCP segment from src:sport to dst:dport.
func tcp4(t testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024})
}

func udp4(t testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload("q"))
}

func tcp6(t testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv6), ip6(src, dst, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024})
}

func icmp4(t testing.TB, src, dst netip.Addr) []byte {
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
}

func arp(t testing.TB, dst net.HardwareAddr, op uint16, sender, target netip.Addr) []byte {
	return serialize(t, eth(dst, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: peerMAC, SourceProtAddress: sender.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice(),
	})
}

// nd is an ICMPv6 neighbour solicitation from src for target.
func nd(t testing.TB, dst net.HardwareAddr, src, target netip.Addr) []byte {
	ip := ip6(src, netip.MustParseAddr("ff02::1:ff00:1"), layers.IPProtocolICMPv6)
	ip.HopLimit = 255
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(dst, layers.EthernetTypeIPv6), ip, icmp,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice()})
}

func echo6(t testing.TB, src, dst netip.Addr) []byte {
	ip := ip6(src, dst, layers.IPProtocolICMPv6)
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv6), ip, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
}

// frag4 is a UDP packet from src:sport to dst:dport with the given flags
// and fragment offset (in 8-byte units).
func frag4(t testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, more bool, off uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	ip.FragOffset = off
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv4), ip,
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(make([]byte, 16)))
}

// frag6 is a TCP segment behind an IPv6 fragment header.
func frag6(t testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, more bool, off uint16) []byte {
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv6), ip6(src, dst, layers.IPProtocolIPv6Fragment),
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: off, MoreFragments: more, Identification: 7},
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true})
}

// badChecksum flips a bit of the IPv4 header checksum of an untagged frame.
func badChecksum(b []byte) []byte {
	b[14+10] ^= 1
	return b
}

// vlan puts an 802.1Q tag (and, with qinq, an 802.1ad tag outside it) into
// an untagged frame.
func vlan(b []byte, qinq bool) []byte {
	tag := []byte{0x81, 0x00, 0x00, 0x0a}
	if qinq {
		tag = []byte{0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a}
	}
	return slices.Concat(b[:12], tag, b[12:])
}

// ftV4 builds, with frametest, an IPv4 frame whose addresses are src, dst.
func ftV4(h ft.IPv4, src, dst netip.Addr, l4 []byte) []byte {
	h.Src, h.Dst = src.As4(), dst.As4()
	return ft.Frame(ft.Ethernet(frame.TypeIPv4), h.Build(l4))
}

func ftV6(h ft.IPv6, src, dst netip.Addr, l4 []byte) []byte {
	h.Src, h.Dst = src.As16(), dst.As16()
	return ft.Frame(ft.Ethernet(frame.TypeIPv6), h.Build(l4))
}

type outcome int

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
	badCsum
	malformed
)

func (o outcome) stats() multistack.Stats {
	var s multistack.Stats
	*[]*uint64{
		&s.ToStack, &s.ToHost, &s.Shared, &s.ToNIC, &s.NoHost, &s.NoNIC,
		&s.Spoofed, &s.NotOwned, &s.Fragment, &s.BadChecksum, &s.Malformed,
	}[o]++
	return s
}

// want is a lookup's expected result: the destination, and the outcome.
type want struct {
	dst logic.Dst
	o   outcome
}

func to(p logic.PortID, o outcome) want { return want{logic.To(p), o} }
func drop(o outcome) want               { return want{logic.Drop, o} }

var (
	toSet       = want{logic.ToSet, shared}
	isMalformed = want{logic.DropMalformed, malformed}
)

type testCase struct {
	name string
	in   logic.PortID
	b    []byte
	want want
}

func cases(t testing.TB) []testCase {
	return []testCase{
		// From the NIC: steering by destination tuple.
		{"nic-tcp-reserved", nic, tcp4(t, ip3, 40000, ip1, 80), to(stack, toStack)},
		{"nic-udp-reserved", nic, udp4(t, ip3, 40000, ip1, 53), to(dns, toStack)},
		{"nic-udp-other-ip", nic, udp4(t, ip3, 40000, ip2, 53), to(stack, toStack)},
		{"nic-tcp-v6-reserved", nic, tcp6(t, v69, 40000, v61, 443), to(stack, toStack)},
		{"nic-vlan-tcp", nic, vlan(tcp4(t, ip3, 40000, ip1, 80), false), to(stack, toStack)},
		{"nic-qinq-udp", nic, vlan(udp4(t, ip3, 1, ip1, 53), true), to(dns, toStack)},
		{"nic-ipv4-options", nic, ftV4(ft.IPv4{Proto: tcp, Options: 40}, ip3, ip1, ft.TCP(1, 80)), to(stack, toStack)},
		{
			"nic-ipv6-ext-headers", nic,
			ftV6(ft.IPv6{Next: tcp, Ext: []ft.Ext{{Type: ft.HopByHop}, {Type: ft.DestOpts, Len: 2}, {Type: ft.Routing, Len: 1}}}, v69, v61, ft.TCP(1, 443)),
			to(stack, toStack),
		},
		{"nic-tcp-unreserved-port", nic, tcp4(t, ip3, 40000, ip1, 81), to(host, toHost)},
		{"nic-udp-port-of-tcp", nic, udp4(t, ip3, 40000, ip1, 80), to(host, toHost)},
		{"nic-tcp-unreserved-ip", nic, tcp4(t, ip3, 40000, ip3, 80), to(host, toHost)},
		{"nic-tcp-source-reserved", nic, tcp4(t, ip1, 80, ip3, 40000), to(host, toHost)},
		{"nic-tcp-v6-unreserved", nic, tcp6(t, v69, 40000, v69, 443), to(host, toHost)},
		{"nic-icmp", nic, icmp4(t, ip3, ip1), to(host, toHost)},
		{"nic-icmpv6-echo", nic, echo6(t, v69, v61), to(host, toHost)},
		{"nic-lldp", nic, ft.Frame(ft.Ethernet(0x88cc)), to(host, toHost)},
		{"nic-arp-for-ipv6", nic, ft.Frame(ft.Ethernet(frame.TypeARP), []byte{0, 1, 0x86, 0xdd, 6, 16, 0, 1}), to(host, toHost)},
		// Neighbours and groups: the host and every stack.
		{"nic-arp-request", nic, arp(t, bcast, 1, ip3, ip1), toSet},
		{"nic-arp-reply-unicast", nic, arp(t, hostMAC, 2, ip3, ip1), toSet},
		{"nic-nd-multicast", nic, nd(t, v6mcast, v69, v61), toSet},
		{"nic-nd-unicast", nic, nd(t, hostMAC, v69, v61), toSet},
		{"nic-broadcast-udp", nic, serialize(t, eth(bcast, layers.EthernetTypeIPv4), ip4(ip3, netip.MustParseAddr("10.0.0.255"), layers.IPProtocolUDP), &layers.UDP{SrcPort: 67, DstPort: 68}), toSet},
		{"nic-multicast-reserved-tuple", nic, func() []byte { b := udp4(t, ip3, 1, ip1, 53); copy(b, v6mcast); return b }(), toSet},
		// Drops.
		{"nic-ipv4-first-fragment", nic, frag4(t, ip3, 1, ip1, 53, true, 0), drop(fragment)},
		{"nic-ipv4-later-fragment", nic, frag4(t, ip3, 1, ip1, 53, false, 3), drop(fragment)},
		{"nic-ipv6-first-fragment", nic, frag6(t, v69, 1, v61, 443, true, 0), drop(fragment)},
		{"nic-ipv6-later-fragment", nic, frag6(t, v69, 1, v61, 443, false, 9), drop(fragment)},
		{"nic-ipv6-atomic-fragment", nic, frag6(t, v69, 1, v61, 443, false, 0), drop(fragment)},
		{"nic-bad-checksum", nic, badChecksum(tcp4(t, ip3, 1, ip1, 80)), drop(badCsum)},
		{"nic-empty", nic, nil, isMalformed},
		{"nic-runt", nic, make([]byte, 13), isMalformed},
		{"nic-three-tags", nic, vlan(vlan(tcp4(t, ip3, 1, ip1, 80), true), false), isMalformed},
		{"nic-ipv4-ihl4", nic, ftV4(ft.IPv4{Proto: udp, IHL: 4}, ip3, ip1, ft.UDP(1, 53, nil)), isMalformed},
		{"nic-ipv4-total-below-ihl", nic, ftV4(ft.IPv4{Proto: udp, TotalLen: 19}, ip3, ip1, ft.UDP(1, 53, nil)), isMalformed},
		{"nic-udp-in-padding", nic, ftV4(ft.IPv4{Proto: udp, TotalLen: 20}, ip3, ip1, ft.UDP(1, 53, nil)), isMalformed},
		{"nic-tcp-cut", nic, tcp4(t, ip3, 1, ip1, 80)[:14+20+19], isMalformed},
		{"nic-ipv6-cut-by-length", nic, ftV6(ft.IPv6{Next: udp, PayloadLen: 4}, v69, v61, ft.UDP(1, 53, nil)), isMalformed},
		{"nic-arp-cut", nic, arp(t, hostMAC, 2, ip3, ip1)[:14+27], isMalformed},
		{"nic-icmpv6-cut", nic, ftV6(ft.IPv6{Next: frame.ProtoICMPv6}, v69, v61, []byte{135, 0, 0}), isMalformed},

		// From a stack: the source tuple must be the port's own.
		{"stack-tcp-own", stack, tcp4(t, ip1, 80, ip3, 40000), to(nic, toNIC)},
		{"stack-tcp-v6-own", stack, tcp6(t, v61, 443, v69, 40000), to(nic, toNIC)},
		{"stack-udp-own-other-ip", stack, udp4(t, ip2, 53, ip3, 1), to(nic, toNIC)},
		{"dns-udp-own", dns, udp4(t, ip1, 53, ip3, 1), to(nic, toNIC)},
		{"stack-udp-of-other-port", stack, udp4(t, ip1, 53, ip3, 1), drop(spoofed)},
		{"stack-tcp-unreserved", stack, tcp4(t, ip1, 81, ip3, 40000), drop(spoofed)},
		{"stack-tcp-dst-reserved", stack, tcp4(t, ip3, 40000, ip1, 80), drop(spoofed)},
		{"stack-arp-own-ip", stack, arp(t, bcast, 1, ip1, ip3), to(nic, toNIC)},
		{"stack-arp-reply-own-ip", dns, arp(t, peerMAC, 2, ip1, ip3), to(nic, toNIC)},
		{"stack-arp-other-ip", dns, arp(t, bcast, 1, ip2, ip3), drop(spoofed)},
		{"stack-nd-own-ip", stack, nd(t, v6mcast, v61, v69), to(nic, toNIC)},
		{"stack-nd-other-ip", stack, nd(t, v6mcast, v69, v61), drop(spoofed)},
		{"stack-icmp", stack, icmp4(t, ip1, ip3), drop(notOwned)},
		{"stack-lldp", stack, ft.Frame(ft.Ethernet(0x88cc)), drop(notOwned)},
		{"stack-fragment", stack, frag4(t, ip1, 80, ip3, 1, true, 0), drop(fragment)},
		{"stack-bad-checksum", stack, badChecksum(tcp4(t, ip1, 80, ip3, 1)), drop(badCsum)},
		{"stack-runt", stack, make([]byte, 10), isMalformed},
		{"idle-tcp", idle, tcp4(t, ip1, 80, ip3, 40000), drop(spoofed)},
		{"idle-arp", idle, arp(t, bcast, 1, ip1, ip3), drop(spoofed)},
		{"idle-icmp", idle, icmp4(t, ip1, ip3), drop(notOwned)},

		// From the host: anything but a reserved source tuple.
		{"host-tcp", host, tcp4(t, ip1, 22, ip3, 40000), to(nic, toNIC)},
		{"host-tcp-v6", host, tcp6(t, v61, 22, v69, 40000), to(nic, toNIC)},
		{"host-tcp-to-reserved-dst", host, tcp4(t, ip1, 40000, ip3, 80), to(nic, toNIC)},
		{"host-tcp-reserved", host, tcp4(t, ip1, 80, ip3, 40000), drop(spoofed)},
		{"host-tcp-v6-reserved", host, tcp6(t, v61, 443, v69, 1), drop(spoofed)},
		{"host-udp-first-fragment-reserved", host, frag4(t, ip1, 53, ip3, 1, true, 0), drop(spoofed)},
		{"host-udp-first-fragment", host, frag4(t, ip1, 54, ip3, 1, true, 0), to(nic, toNIC)},
		{"host-later-fragment", host, frag4(t, ip1, 53, ip3, 1, false, 3), to(nic, toNIC)},
		{"host-icmp", host, icmp4(t, ip1, ip3), to(nic, toNIC)},
		{"host-arp", host, arp(t, bcast, 1, ip1, ip3), to(nic, toNIC)},
		{"host-nd", host, nd(t, v6mcast, v61, v69), to(nic, toNIC)},
		{"host-lldp", host, ft.Frame(ft.Ethernet(0x88cc)), to(nic, toNIC)},
		{"host-bad-checksum", host, badChecksum(tcp4(t, ip1, 22, ip3, 1)), drop(badCsum)},
		{"host-runt", host, make([]byte, 3), isMalformed},
	}
}

func lookup1(m *multistack.Multistack, b []byte, in logic.PortID) logic.Packet {
	pkts := []logic.Packet{{Data: b, Dst: logic.Flood}}
	m.Lookup(pkts, in)
	return pkts[0]
}

func TestLookup(t *testing.T) {
	for _, tc := range cases(t) {
		t.Run(tc.name, func(t *testing.T) {
			m := newModule(t)
			p := lookup1(m, tc.b, tc.in)
			if p.Dst != tc.want.dst {
				t.Errorf("Lookup = %v, want %v", p.Dst, tc.want.dst)
			}
			if p.Dst == logic.ToSet && !slices.Equal(p.Set, sharedSet) {
				t.Errorf("Set = %v, want %v", p.Set, sharedSet)
			}
			if got, want := m.Stats(), tc.want.o.stats(); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

// TestBatch looks every case of each input port up in one batch.
func TestBatch(t *testing.T) {
	m := newModule(t)
	all := cases(t)
	var want multistack.Stats
	for _, in := range []logic.PortID{nic, host, stack, dns, idle} {
		var pkts []logic.Packet
		var tcs []testCase
		for _, tc := range all {
			if tc.in == in {
				pkts = append(pkts, logic.Packet{Data: tc.b})
				tcs = append(tcs, tc)
				want = addStats(want, tc.want.o.stats())
			}
		}
		m.Lookup(pkts, in)
		for i, tc := range tcs {
			if pkts[i].Dst != tc.want.dst {
				t.Errorf("%s: Lookup = %v, want %v", tc.name, pkts[i].Dst, tc.want.dst)
			}
		}
	}
	if got := m.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func addStats(a, b multistack.Stats) multistack.Stats {
	return multistack.Stats{
		ToStack: a.ToStack + b.ToStack, ToHost: a.ToHost + b.ToHost, Shared: a.Shared + b.Shared,
		ToNIC: a.ToNIC + b.ToNIC, NoHost: a.NoHost + b.NoHost, NoNIC: a.NoNIC + b.NoNIC,
		Spoofed: a.Spoofed + b.Spoofed, NotOwned: a.NotOwned + b.NotOwned, Fragment: a.Fragment + b.Fragment,
		BadChecksum: a.BadChecksum + b.BadChecksum, Malformed: a.Malformed + b.Malformed,
	}
}

// TestTruncated cuts every case at every length: a cut frame gives what the
// whole frame gives, or DropMalformed, and under 14 bytes it is malformed.
func TestTruncated(t *testing.T) {
	m := newModule(t)
	for _, tc := range cases(t) {
		full := lookup1(m, tc.b, tc.in).Dst
		for n := 0; n <= len(tc.b); n++ {
			got := lookup1(m, tc.b[:n:n], tc.in).Dst
			switch {
			case n < frame.EthHeaderLen && got != logic.DropMalformed:
				t.Errorf("%s[:%d] = %v, want malformed", tc.name, n, got)
			case got != full && got != logic.DropMalformed:
				t.Errorf("%s[:%d] = %v, whole frame %v", tc.name, n, got, full)
			}
		}
	}
}

// TestRoles checks the lookups with roles missing.
func TestRoles(t *testing.T) {
	m := multistack.New()
	if m.NIC() != multistack.NoPort || m.Host() != multistack.NoPort {
		t.Fatalf("new module has roles: NIC %d, host %d", m.NIC(), m.Host())
	}
	// No roles at all: every port is a stack with nothing reserved.
	if p := lookup1(m, icmp4(t, ip3, ip1), nic); p.Dst != logic.Drop || m.Stats().NotOwned != 1 {
		t.Fatalf("no roles: %v, %+v", p.Dst, m.Stats())
	}
	check := func(name string, in logic.PortID, b []byte, w want) {
		t.Helper()
		before := m.Stats()
		p := lookup1(m, b, in)
		if p.Dst != w.dst {
			t.Errorf("%s: Lookup = %v, want %v", name, p.Dst, w.dst)
		}
		if got, want := m.Stats(), addStats(before, w.o.stats()); got != want {
			t.Errorf("%s: Stats = %+v, want %+v", name, got, want)
		}
	}
	must(t, m.SetNIC(nic))
	check("no-host", nic, tcp4(t, ip3, 1, ip1, 80), drop(noHost))
	check("no-host-arp", nic, arp(t, bcast, 1, ip3, ip1), drop(noHost))
	must(t, m.Reserve(multistack.Tuple{Proto: tcp, IP: ip1, Port: 80}, stack))
	check("no-host-arp-one-stack", nic, arp(t, bcast, 1, ip3, ip1), to(stack, shared))
	check("no-host-reserved", nic, tcp4(t, ip3, 1, ip1, 80), to(stack, toStack))
	must(t, m.SetHost(host))
	check("host-only-arp", nic, arp(t, bcast, 1, ip3, ip1), toSet)
	must(t, m.SetNIC(multistack.NoPort))
	check("no-nic-stack", stack, tcp4(t, ip1, 80, ip3, 1), drop(noNIC))
	check("no-nic-host", host, tcp4(t, ip1, 22, ip3, 1), drop(noNIC))
	check("no-nic-old-nic", nic, tcp4(t, ip1, 22, ip3, 1), drop(spoofed))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCommands(t *testing.T) {
	m := newModule(t)
	// TCP first, then IPv4 before IPv6, then by port.
	want := []multistack.Reservation{reservations[0], reservations[1], reservations[2], reservations[3]}
	if got := m.Reservations(); !slices.Equal(got, want) {
		t.Fatalf("Reservations() = %v, want %v", got, want)
	}
	if p, ok := m.Owner(multistack.Tuple{Proto: udp, IP: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 53}); !ok || p != dns {
		t.Errorf("Owner of a v4-mapped tuple = %d, %v", p, ok)
	}
	tup := func(proto uint8, ip string, port uint16) multistack.Tuple {
		return multistack.Tuple{Proto: proto, IP: netip.MustParseAddr(ip), Port: port}
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"reserve-taken", m.Reserve(tup(tcp, "10.0.0.1", 80), dns), multistack.ErrReserved},
		{"reserve-taken-same-port", m.Reserve(tup(tcp, "10.0.0.1", 80), stack), multistack.ErrReserved},
		{"reserve-icmp", m.Reserve(tup(frame.ProtoICMP, "10.0.0.1", 1), stack), multistack.ErrBadProto},
		{"reserve-wildcard", m.Reserve(tup(tcp, "0.0.0.0", 1), stack), multistack.ErrBadIP},
		{"reserve-wildcard-v6", m.Reserve(tup(tcp, "::", 1), stack), multistack.ErrBadIP},
		{"reserve-multicast", m.Reserve(tup(udp, "224.0.0.251", 5353), stack), multistack.ErrBadIP},
		{"reserve-broadcast", m.Reserve(tup(udp, "255.255.255.255", 67), stack), multistack.ErrBadIP},
		{"reserve-zero-port", m.Reserve(tup(udp, "10.0.0.1", 0), stack), multistack.ErrBadL4Port},
		{"reserve-invalid-ip", m.Reserve(multistack.Tuple{Proto: tcp, Port: 1}, stack), multistack.ErrBadIP},
		{"reserve-bad-port", m.Reserve(tup(tcp, "10.0.0.1", 1), logic.MaxPorts), multistack.ErrBadPort},
		{"reserve-for-nic", m.Reserve(tup(tcp, "10.0.0.1", 1), nic), multistack.ErrRole},
		{"reserve-for-host", m.Reserve(tup(tcp, "10.0.0.1", 1), host), multistack.ErrRole},
		{"release-missing", m.Release(tup(tcp, "10.0.0.1", 1)), multistack.ErrNotReserved},
		{"release-other-proto", m.Release(tup(udp, "10.0.0.1", 80)), multistack.ErrNotReserved},
		{"nic-is-host", m.SetNIC(host), multistack.ErrRole},
		{"host-is-nic", m.SetHost(nic), multistack.ErrRole},
		{"nic-holds-reservations", m.SetNIC(stack), multistack.ErrRole},
		{"host-holds-reservations", m.SetHost(dns), multistack.ErrRole},
		{"nic-bad-port", m.SetNIC(multistack.NoPort + 1), multistack.ErrBadPort},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if got := m.Reservations(); !slices.Equal(got, want) {
		t.Fatalf("failed calls changed the reservations: %v", got)
	}
	if m.NIC() != nic || m.Host() != host {
		t.Fatalf("failed calls changed the roles: NIC %d, host %d", m.NIC(), m.Host())
	}
	err := m.Reserve(tup(tcp, "10.0.0.1", 80), dns)
	if got, want := err.Error(), "reserve tcp 10.0.0.1:80: reserved already by port 2"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if got, want := reservations[1].String(), "tcp [2001:db8::1]:443 -> port 2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	// Release, then the tuple goes to the host; the stack may no longer
	// send from it.
	must(t, m.Release(tup(tcp, "10.0.0.1", 80)))
	if p := lookup1(m, tcp4(t, ip3, 1, ip1, 80), nic); p.Dst != logic.To(host) {
		t.Errorf("released tuple from the NIC: %v", p.Dst)
	}
	if p := lookup1(m, tcp4(t, ip1, 80, ip3, 1), stack); p.Dst != logic.Drop {
		t.Errorf("released tuple from its old owner: %v", p.Dst)
	}
	// The NIC and host roles move; a port freed of reservations may take one.
	must(t, m.Release(tup(udp, "10.0.0.1", 53)))
	must(t, m.SetHost(dns))
	must(t, m.SetNIC(host))
	must(t, m.SetRoles(dns, host)) // a swap
	if err := m.SetRoles(idle, idle); !errors.Is(err, multistack.ErrRole) {
		t.Errorf("SetRoles(one port twice) = %v", err)
	}
	if m.NIC() != dns || m.Host() != host {
		t.Fatalf("roles: NIC %d, host %d", m.NIC(), m.Host())
	}
}

func TestPortRemoved(t *testing.T) {
	m := newModule(t)
	m.PortAdded(stack) // no effect
	m.PortRemoved(stack)
	want := []multistack.Reservation{reservations[2]}
	if got := m.Reservations(); !slices.Equal(got, want) {
		t.Errorf("Reservations() = %v, want %v", got, want)
	}
	if p := lookup1(m, arp(t, bcast, 1, ip3, ip1), nic); p.Dst != logic.ToSet || !slices.Equal(p.Set, []logic.PortID{host, dns}) {
		t.Errorf("ARP after removing a stack: %v %v", p.Dst, p.Set)
	}
	if p := lookup1(m, tcp4(t, ip3, 1, ip1, 80), nic); p.Dst != logic.To(host) {
		t.Errorf("removed port's tuple: %v", p.Dst)
	}
	m.PortRemoved(host)
	m.PortRemoved(nic)
	if m.NIC() != multistack.NoPort || m.Host() != multistack.NoPort {
		t.Errorf("roles of removed ports: NIC %d, host %d", m.NIC(), m.Host())
	}
	// The removed port's ID, reused by a stack, inherits nothing.
	if p := lookup1(m, tcp4(t, ip1, 80, ip3, 1), stack); p.Dst != logic.Drop {
		t.Errorf("reused ID sends from its predecessor's tuple: %v", p.Dst)
	}
}

func TestRegistered(t *testing.T) {
	l, err := logic.New("multistack")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*multistack.Multistack); !ok {
		t.Fatalf("logic.New(multistack) = %T", l)
	}
}

// TestZeroAllocs checks that Lookup allocates nothing, on each path.
func TestZeroAllocs(t *testing.T) {
	m := newModule(t)
	all := cases(t)
	for _, in := range []logic.PortID{nic, host, stack} {
		var pkts []logic.Packet
		for _, tc := range all {
			if tc.in == in {
				pkts = append(pkts, logic.Packet{Data: tc.b})
			}
		}
		if n := testing.AllocsPerRun(100, func() { m.Lookup(pkts, in) }); n != 0 {
			t.Errorf("Lookup from port %d: %v allocations per batch", in, n)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   logic.PortID
		b    []byte
		n    int // reservations
	}{
		{"nic-to-stack", nic, tcp4(b, ip3, 40000, ip1, 80), 4},
		{"nic-to-stack-1000", nic, tcp4(b, ip3, 40000, ip1, 80), 1000},
		{"nic-to-host", nic, tcp4(b, ip3, 40000, ip1, 81), 4},
		{"stack-to-nic", stack, tcp4(b, ip1, 80, ip3, 40000), 4},
		{"host-to-nic", host, tcp4(b, ip1, 22, ip3, 40000), 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := newModule(b)
			for i := range bc.n - len(reservations) {
				ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
				if err := m.Reserve(multistack.Tuple{Proto: udp, IP: ip, Port: 53}, dns); err != nil {
					b.Fatal(err)
				}
			}
			pkts := make([]logic.Packet, 64)
			for i := range pkts {
				pkts[i].Data = bc.b
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(pkts) {
				m.Lookup(pkts, bc.in)
			}
		})
	}
}
