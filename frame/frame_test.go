package frame_test

import (
	"testing"

	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
)

var (
	dot1q = func(vid uint16) ft.VLAN { return ft.VLAN{TPID: frame.TypeVLAN, VID: vid} }
	dot1s = func(vid uint16) ft.VLAN { return ft.VLAN{TPID: frame.TypeQinQ, VID: vid} }
)

// parsed is what L3, L4 and Ports find in a frame; each ok is false if that
// step (or an earlier one) failed, and the fields of a failed step are zero.
type parsed struct {
	etherType uint16
	off       int
	vid       uint16
	ok3       bool
	proto     uint8
	l4off     int
	ok4       bool
	src, dst  uint16
	okPorts   bool
}

func parse(b []byte) (p parsed) {
	p.etherType, p.off, p.vid, p.ok3 = frame.L3(b)
	if !p.ok3 {
		return p
	}
	p.proto, p.l4off, p.ok4 = frame.L4(b, p.etherType, p.off)
	if !p.ok4 {
		p.proto, p.l4off = 0, 0
		return p
	}
	p.src, p.dst, p.okPorts = frame.Ports(b, p.l4off)
	return p
}

func l3(et uint16, off int, vid uint16) parsed {
	return parsed{etherType: et, off: off, vid: vid, ok3: true}
}

func (p parsed) l4(proto uint8, l4off int) parsed {
	p.proto, p.l4off, p.ok4 = proto, l4off, true
	return p
}

func (p parsed) ports(src, dst uint16) parsed {
	p.src, p.dst, p.okPorts = src, dst, true
	return p
}

func ipv4(proto uint8, payload []byte) []byte { return ft.IPv4{Proto: proto}.Build(payload) }

var cases = []struct {
	name string
	b    []byte
	want parsed
}{
	{"empty", nil, parsed{}},
	{"runt-13", make([]byte, 13), parsed{}},
	{"ethernet-only", ft.Ethernet(frame.TypeIPv4), l3(frame.TypeIPv4, 14, 0)},
	{"arp", ft.ARP(), l3(frame.TypeARP, 14, 0)},
	{
		"ipv4-udp",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ipv4(frame.ProtoUDP, ft.UDP(1000, 53, nil))),
		l3(frame.TypeIPv4, 14, 0).l4(frame.ProtoUDP, 34).ports(1000, 53),
	},
	{
		"ipv4-tcp",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ipv4(frame.ProtoTCP, ft.TCP(40000, 443))),
		l3(frame.TypeIPv4, 14, 0).l4(frame.ProtoTCP, 34).ports(40000, 443),
	},
	{
		"ipv4-icmp",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ipv4(frame.ProtoICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1})),
		l3(frame.TypeIPv4, 14, 0).l4(frame.ProtoICMP, 34).ports(0x0800, 0),
	},
	{
		"vlan-ipv4-tcp",
		ft.Frame(ft.Ethernet(frame.TypeIPv4, dot1q(10)), ipv4(frame.ProtoTCP, ft.TCP(1, 2))),
		l3(frame.TypeIPv4, 18, 10).l4(frame.ProtoTCP, 38).ports(1, 2),
	},
	{
		"vlan-pcp-vid-4095",
		ft.Frame(ft.Ethernet(frame.TypeIPv4, ft.VLAN{TPID: frame.TypeVLAN, VID: 4095, PCP: 7}), ipv4(frame.ProtoUDP, ft.UDP(1, 2, nil))),
		l3(frame.TypeIPv4, 18, 4095).l4(frame.ProtoUDP, 38).ports(1, 2),
	},
	{
		"qinq-ipv6-udp",
		ft.Frame(ft.Ethernet(frame.TypeIPv6, dot1s(100), dot1q(10)), ft.IPv6{Next: frame.ProtoUDP}.Build(ft.UDP(5353, 53, nil))),
		l3(frame.TypeIPv6, 22, 100).l4(frame.ProtoUDP, 62).ports(5353, 53),
	},
	{
		"qinq-9100",
		ft.Frame(ft.Ethernet(frame.TypeIPv4, ft.VLAN{TPID: frame.TypeQinQ1, VID: 7}, dot1q(8)), ipv4(frame.ProtoUDP, ft.UDP(3, 4, nil))),
		l3(frame.TypeIPv4, 22, 7).l4(frame.ProtoUDP, 42).ports(3, 4),
	},
	{
		"three-tags",
		ft.Frame(ft.Ethernet(frame.TypeIPv4, dot1s(1), dot1q(2), dot1q(3)), ipv4(frame.ProtoUDP, ft.UDP(3, 4, nil))),
		parsed{},
	},
	{"tag-truncated", ft.Ethernet(frame.TypeIPv4, dot1q(5))[:16], parsed{}},
	{
		"ipv4-options-ihl6",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP, Options: 4}.Build(ft.UDP(7, 8, nil))),
		l3(frame.TypeIPv4, 14, 0).l4(frame.ProtoUDP, 38).ports(7, 8),
	},
	{
		"ipv4-options-ihl15",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoTCP, Options: 40}.Build(ft.TCP(7, 8))),
		l3(frame.TypeIPv4, 14, 0).l4(frame.ProtoTCP, 74).ports(7, 8),
	},
	{
		"ipv4-ihl4",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP, IHL: 4}.Build(ft.UDP(7, 8, nil))),
		l3(frame.TypeIPv4, 14, 0),
	},
	{
		"ipv4-ihl-beyond-frame",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP, IHL: 15, TotalLen: 60}.Build(make([]byte, 20)))[:54],
		l3(frame.TypeIPv4, 14, 0),
	},
	{
		"ipv4-total-below-ihl",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP, TotalLen: 19}.Build(ft.UDP(7, 8, nil))),
		l3(frame.TypeIPv4, 14, 0),
	},
	{
		"ipv4-bad-version",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv6{Next: frame.ProtoUDP}.Build(ft.UDP(7, 8, nil))),
		l3(frame.TypeIPv4, 14, 0),
	},
	{
		"ipv4-first-fragment",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP, More: true}.Build(ft.UDP(7, 8, nil))),
		l3(frame.TypeIPv4, 14, 0).l4(frame.ProtoUDP, 34).ports(7, 8),
	},
	{
		"ipv4-later-fragment",
		ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP, FragOffset: 185}.Build(make([]byte, 16))),
		l3(frame.TypeIPv4, 14, 0),
	},
	{
		"ipv6-tcp",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoTCP}.Build(ft.TCP(22, 50000))),
		l3(frame.TypeIPv6, 14, 0).l4(frame.ProtoTCP, 54).ports(22, 50000),
	},
	{
		"ipv6-hbh-dstopts-routing",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoUDP, Ext: []ft.Ext{
			{Type: ft.HopByHop}, {Type: ft.DestOpts, Len: 1}, {Type: ft.Routing, Len: 2},
		}}.Build(ft.UDP(9, 10, nil))),
		l3(frame.TypeIPv6, 14, 0).l4(frame.ProtoUDP, 54+8+16+24).ports(9, 10),
	},
	{
		"ipv6-first-fragment",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoUDP, Ext: []ft.Ext{
			{Type: ft.Fragment, More: true},
		}}.Build(ft.UDP(9, 10, nil))),
		l3(frame.TypeIPv6, 14, 0).l4(frame.ProtoUDP, 62).ports(9, 10),
	},
	{
		"ipv6-later-fragment",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoUDP, Ext: []ft.Ext{
			{Type: ft.Fragment, FragOffset: 1},
		}}.Build(make([]byte, 8))),
		l3(frame.TypeIPv6, 14, 0),
	},
	{
		"ipv6-eight-ext-headers",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoUDP, Ext: []ft.Ext{
			{Type: ft.HopByHop}, {Type: ft.DestOpts}, {Type: ft.DestOpts}, {Type: ft.DestOpts},
			{Type: ft.DestOpts}, {Type: ft.DestOpts}, {Type: ft.DestOpts}, {Type: ft.DestOpts},
		}}.Build(ft.UDP(9, 10, nil))),
		l3(frame.TypeIPv6, 14, 0),
	},
	{
		"ipv6-seven-ext-headers",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoUDP, Ext: []ft.Ext{
			{Type: ft.HopByHop}, {Type: ft.DestOpts}, {Type: ft.DestOpts}, {Type: ft.DestOpts},
			{Type: ft.DestOpts}, {Type: ft.DestOpts}, {Type: ft.DestOpts},
		}}.Build(ft.UDP(9, 10, nil))),
		l3(frame.TypeIPv6, 14, 0).l4(frame.ProtoUDP, 54+7*8).ports(9, 10),
	},
	{
		"ipv6-bad-version",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv4{Proto: frame.ProtoUDP}.Build(make([]byte, 40))),
		l3(frame.TypeIPv6, 14, 0),
	},
	{
		"ipv6-no-next-header",
		ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: 59}.Build(nil)),
		l3(frame.TypeIPv6, 14, 0).l4(59, 54).ports(0, 0),
	},
}

func TestParse(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parse(c.b); got != c.want {
				t.Errorf("parse:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestCaptures(t *testing.T) {
	for _, c := range ft.Captures {
		t.Run(c.Name, func(t *testing.T) {
			p := parse(c.Bytes())
			if !p.ok3 || !p.ok4 {
				t.Fatalf("parse = %+v, want L3 and L4", p)
			}
			if c.Proto == 0 {
				if p.proto == frame.ProtoTCP || p.proto == frame.ProtoUDP {
					t.Errorf("proto = %d, want neither TCP nor UDP", p.proto)
				}
				return
			}
			if p.proto != c.Proto || !p.okPorts || p.src != c.Src || p.dst != c.Dst {
				t.Errorf("got proto %d ports %d->%d (ok %v), want %d %d->%d",
					p.proto, p.src, p.dst, p.okPorts, c.Proto, c.Src, c.Dst)
			}
		})
	}
}

// TestTruncated cuts every frame at every length: no step may panic, a step
// that succeeds on a prefix must find what it finds on the whole frame, and a
// step whose header does not fit in the prefix must fail.
func TestTruncated(t *testing.T) {
	for _, c := range cases {
		full := parse(c.b)
		for n := 0; n <= len(c.b); n++ {
			p := parse(c.b[:n:n])
			if p.ok3 && (p.etherType != full.etherType || p.off != full.off || p.vid != full.vid) {
				t.Errorf("%s[:%d]: L3 = %+v, whole frame %+v", c.name, n, p, full)
			}
			if p.ok3 && n < p.off {
				t.Errorf("%s[:%d]: L3 ok with network header at %d", c.name, n, p.off)
			}
			if p.ok4 && (p.proto != full.proto || p.l4off != full.l4off) {
				t.Errorf("%s[:%d]: L4 = %+v, whole frame %+v", c.name, n, p, full)
			}
			if p.okPorts && (p.src != full.src || p.dst != full.dst || n < p.l4off+4) {
				t.Errorf("%s[:%d]: Ports = %+v, whole frame %+v", c.name, n, p, full)
			}
		}
	}
}

func TestPortsBounds(t *testing.T) {
	b := []byte{0, 1, 0, 2, 0}
	for _, tc := range []struct {
		off      int
		src, dst uint16
		ok       bool
	}{
		{0, 1, 2, true}, {1, 256, 512, true}, {2, 0, 0, false}, {-1, 0, 0, false}, {1 << 40, 0, 0, false},
	} {
		src, dst, ok := frame.Ports(b, tc.off)
		if src != tc.src || dst != tc.dst || ok != tc.ok {
			t.Errorf("Ports(b, %d) = %d, %d, %v; want %d, %d, %v", tc.off, src, dst, ok, tc.src, tc.dst, tc.ok)
		}
	}
}

func TestMAC(t *testing.T) {
	b := []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	if got := frame.Dst(b); got != 0x01005e0000fb {
		t.Errorf("Dst = %#x", got)
	}
	if got := frame.Src(b); got != 0x021122334455 {
		t.Errorf("Src = %#x", got)
	}
	if !frame.IsMulticast(frame.Dst(b)) || frame.IsMulticast(frame.Src(b)) {
		t.Error("IsMulticast: wrong I/G bit")
	}
	if !frame.IsMulticast(0xffffffffffff) {
		t.Error("IsMulticast(broadcast) = false")
	}
}

func FuzzL3L4(f *testing.F) {
	for _, c := range cases {
		f.Add(c.b)
	}
	for _, c := range ft.Captures {
		f.Add(c.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		et, off, vid, ok := frame.L3(b)
		if !ok {
			return
		}
		if off != 14 && off != 18 && off != 22 || off > len(b) || vid > 0x0fff {
			t.Fatalf("L3 = %#x, %d, %d: bad offset or VID (len %d)", et, off, vid, len(b))
		}
		proto, l4off, ok := frame.L4(b, et, off)
		if !ok {
			return
		}
		switch et {
		case frame.TypeIPv4:
			if l4off < off+20 || l4off > off+60 {
				t.Fatalf("L4 (IPv4 at %d) = %d, %d", off, proto, l4off)
			}
		case frame.TypeIPv6:
			if l4off < off+40 {
				t.Fatalf("L4 (IPv6 at %d) = %d, %d", off, proto, l4off)
			}
		default:
			t.Fatalf("L4 accepted EtherType %#x", et)
		}
		if l4off > len(b) {
			t.Fatalf("L4 offset %d beyond frame of %d bytes", l4off, len(b))
		}
		if _, _, ok := frame.Ports(b, l4off); ok != (l4off+4 <= len(b)) {
			t.Fatalf("Ports(len %d, %d) ok = %v", len(b), l4off, ok)
		}
	})
}
