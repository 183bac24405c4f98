package pipeline

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/mswitch/mswitch/openflow/ofp"
)

// Test helpers: packets built with gopacket, flows built from ofp values.

type pktSpec struct {
	vlan     int // VLAN ID + 1 (0: untagged)
	v6       bool
	arp      bool
	proto    string // "tcp", "udp", "icmp", "sctp"
	src, dst string
	sport    uint16
	dport    uint16
	ttl      uint8
	payload  int
	ethDst   string
}

func buildPacket(t testing.TB, s pktSpec) []byte {
	t.Helper()
	ethDst, _ := net.ParseMAC("22:22:22:22:22:22")
	if s.ethDst != "" {
		ethDst, _ = net.ParseMAC(s.ethDst)
	}
	ethSrc, _ := net.ParseMAC("12:11:11:11:11:11")
	eth := &layers.Ethernet{SrcMAC: ethSrc, DstMAC: ethDst}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	next := func(et layers.EthernetType) {
		if s.vlan > 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(s.vlan - 1), Priority: 3, Type: et})
		} else {
			eth.EthernetType = et
		}
	}
	if s.ttl == 0 {
		s.ttl = 64
	}
	if s.arp {
		next(layers.EthernetTypeARP)
		ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: ethSrc,
			SourceProtAddress: net.ParseIP("10.0.0.1").To4(), DstHwAddress: make([]byte, 6),
			DstProtAddress: net.ParseIP("10.0.0.2").To4()})
		return serialize(t, ls)
	}
	var nl gopacket.NetworkLayer
	var ipproto layers.IPProtocol
	switch s.proto {
	case "tcp":
		ipproto = layers.IPProtocolTCP
	case "udp", "":
		ipproto = layers.IPProtocolUDP
	case "icmp":
		ipproto = layers.IPProtocolICMPv4
		if s.v6 {
			ipproto = layers.IPProtocolICMPv6
		}
	case "sctp":
		ipproto = layers.IPProtocolSCTP
	}
	if s.v6 {
		if s.src == "" {
			s.src, s.dst = "2001:db8::1", "2001:db8::2"
		}
		next(layers.EthernetTypeIPv6)
		ip := &layers.IPv6{Version: 6, TrafficClass: 0x20, FlowLabel: 0x12345, NextHeader: ipproto, HopLimit: s.ttl,
			SrcIP: net.ParseIP(s.src), DstIP: net.ParseIP(s.dst)}
		ls = append(ls, ip)
		nl = ip
	} else {
		if s.src == "" {
			s.src, s.dst = "192.168.10.10", "192.168.20.20"
		}
		next(layers.EthernetTypeIPv4)
		ip := &layers.IPv4{Version: 4, IHL: 5, TOS: 0x20, TTL: s.ttl, Protocol: ipproto,
			SrcIP: net.ParseIP(s.src).To4(), DstIP: net.ParseIP(s.dst).To4()}
		ls = append(ls, ip)
		nl = ip
	}
	switch s.proto {
	case "tcp":
		l := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: 1, Window: 100, SYN: true}
		l.SetNetworkLayerForChecksum(nl)
		ls = append(ls, l)
	case "udp", "":
		l := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		l.SetNetworkLayerForChecksum(nl)
		ls = append(ls, l)
	case "icmp":
		if s.v6 {
			l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			l.SetNetworkLayerForChecksum(nl)
			ls = append(ls, l, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
		} else {
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
		}
	case "sctp":
		ls = append(ls, &layers.SCTP{SrcPort: layers.SCTPPort(s.sport), DstPort: layers.SCTPPort(s.dport), VerificationTag: 7})
	}
	if s.payload == 0 {
		s.payload = 18
	}
	pl := make([]byte, s.payload)
	for i := range pl {
		pl[i] = byte(i)
	}
	ls = append(ls, gopacket.Payload(pl))
	return serialize(t, ls)
}

func serialize(t testing.TB, ls []gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	// Room to grow, as a port's buffer has.
	b := make([]byte, len(buf.Bytes()), len(buf.Bytes())+64)
	copy(b, buf.Bytes())
	return b
}

// checksumsOK re-serializes pkt with gopacket's checksum computation and
// reports whether the bytes are unchanged (every checksum was right).
func checksumsOK(t testing.TB, pkt []byte) bool {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeEthernet, gopacket.Default)
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(nl)
		}
		sl, ok := l.(gopacket.SerializableLayer)
		if !ok {
			t.Fatalf("layer %v not serializable", l.LayerType())
		}
		ls = append(ls, sl)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	if string(buf.Bytes()) != string(pkt) {
		t.Logf("got  %x\nwant %x", pkt, buf.Bytes())
		return false
	}
	return true
}

func u(f ofp.OXMField, v uint64) ofp.OXM { return ofp.NewOXMUint(f, v) }

func um(f ofp.OXMField, v, m uint64) ofp.OXM { return ofp.NewOXMUintMasked(f, v, m) }

func ip4(f ofp.OXMField, s string) ofp.OXM { return ofp.NewOXM(f, net.ParseIP(s).To4(), nil) }

func ip6(f ofp.OXMField, s string) ofp.OXM { return ofp.NewOXM(f, net.ParseIP(s).To16(), nil) }

func match(fs ...ofp.OXM) ofp.Match { return ofp.Match{Fields: fs} }

func apply(acts ...ofp.Action) ofp.Instruction { return ofp.InstructionApplyActions{Actions: acts} }

func writeActs(acts ...ofp.Action) ofp.Instruction { return ofp.InstructionWriteActions{Actions: acts} }

func out(port uint32) ofp.Action { return ofp.ActionOutput{Port: port, MaxLen: ofp.CMLNoBuffer} }

func setf(o ofp.OXM) ofp.Action { return ofp.ActionSetField{Field: o} }

func gotoT(t uint8) ofp.Instruction { return ofp.InstructionGotoTable{TableID: t} }

func flowAdd(table uint8, pri uint16, m ofp.Match, insts ...ofp.Instruction) *ofp.FlowMod {
	return &ofp.FlowMod{TableID: table, Command: ofp.FlowAdd, Priority: pri, BufferID: ofp.NoBuffer,
		OutPort: ofp.PortAny, OutGroup: ofp.GroupAny, Match: m, Instructions: insts}
}

func mustFlow(t testing.TB, p *Pipeline, fm *ofp.FlowMod) {
	t.Helper()
	if _, err := p.FlowMod(fm); err != nil {
		t.Fatalf("flow_mod: %v", err)
	}
}

func mustGroup(t testing.TB, p *Pipeline, gm *ofp.GroupMod) {
	t.Helper()
	if _, err := p.GroupMod(gm); err != nil {
		t.Fatalf("group_mod: %v", err)
	}
}

func newTest(t testing.TB, opts Options) *Pipeline {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ports returns the output ports of a result.
func ports(r *Result) []uint32 {
	var ps []uint32
	for _, o := range r.Outputs {
		ps = append(ps, o.Port)
	}
	return ps
}

// fakeClock is an injectable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Unix(1000, 0)} }
func bucketOf(acts ...ofp.Action) ofp.Bucket {
	return ofp.Bucket{WatchPort: ofp.PortAny, WatchGroup: ofp.GroupAny, Actions: acts}
}
