package pktgen

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mswitch/mswitch/frame"
)

func testAddrs() Addrs {
	return Addrs{
		SrcMAC:  net.HardwareAddr{0x02, 0, 0, 0, 0, 0xfe},
		DstMAC:  net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02},
		SrcIP:   netip.MustParseAddr("10.0.0.250"),
		DstIP:   netip.MustParseAddr("10.0.1.2"),
		SrcPort: 65534,
		DstPort: 4321,
	}
}

// refChecksum is RFC 1071 the slow way, to check Checksum against.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksum(t *testing.T) {
	b := make([]byte, 77)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	for n := 0; n <= len(b); n++ {
		if got, want := Checksum(b[:n]), refChecksum(b[:n]); got != want {
			t.Fatalf("Checksum of %d bytes = %#04x, want %#04x", n, got, want)
		}
	}
}

func TestBuild(t *testing.T) {
	a := testAddrs()
	for _, size := range []int{MinSize, 61, 1514, 9000, MaxSize} {
		tmpl, err := NewTemplate(a, size, 300)
		if err != nil {
			t.Fatal(err)
		}
		for _, flow := range []int{0, 1, 5, 299} {
			b := tmpl.Build(flow, uint16(flow+7), KindSeq)
			SetSeq(b, 0xdeadbeef)
			SetTime(b, -42)
			if len(b) != size {
				t.Fatalf("size %d: built %d bytes", size, len(b))
			}
			et, l3, _, ok := frame.L3(b)
			if !ok || et != frame.TypeIPv4 || l3 != 14 {
				t.Fatalf("size %d flow %d: L3 = %#x %d %v", size, flow, et, l3, ok)
			}
			ip := b[l3 : l3+20]
			if Checksum(ip) != 0 || refChecksum(ip) != 0 {
				t.Errorf("size %d flow %d: IP header checksum does not verify", size, flow)
			}
			if tl := binary.BigEndian.Uint16(ip[2:]); int(tl) != size-14 {
				t.Errorf("size %d: IP total length %d", size, tl)
			}
			proto, l4, ok := frame.L4(b, et, l3)
			if !ok || proto != frame.ProtoUDP {
				t.Fatalf("size %d: L4 = %d %v", size, proto, ok)
			}
			if ul := binary.BigEndian.Uint16(b[l4+4:]); int(ul) != size-34 {
				t.Errorf("size %d: UDP length %d", size, ul)
			}
			sp, dp, _ := frame.Ports(b, l4)
			if sp != uint16(65534+flow) || dp != 4321 { // the source port wraps
				t.Errorf("flow %d: ports %d -> %d", flow, sp, dp)
			}
			wantSrc := netip.AddrFrom4([4]byte{10, 0, byte((250 + flow) >> 8), byte(250 + flow)})
			if got := netip.AddrFrom4([4]byte(ip[12:16])); got != wantSrc {
				t.Errorf("flow %d: source IP %v, want %v", flow, got, wantSrc)
			}
			if got := netip.AddrFrom4([4]byte(ip[16:20])); got != a.DstIP {
				t.Errorf("destination IP %v", got)
			}
			if frame.Src(b) != 0x0200000000fe+uint64(flow) || frame.Dst(b) != 0x020000000002 {
				t.Errorf("flow %d: MACs %012x -> %012x", flow, frame.Src(b), frame.Dst(b))
			}
			p, ok := Parse(b)
			if want := (Payload{KindSeq, uint16(flow + 7), 0xdeadbeef, -42}); !ok || p != want {
				t.Errorf("Parse = %+v %v, want %+v", p, ok, want)
			}
		}
	}
}

func TestSetFlowMatchesBuild(t *testing.T) {
	tmpl, err := NewTemplate(testAddrs(), 128, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b := tmpl.Build(0, 3, KindSeq)
	for _, f := range []int{999, 1, 512, 0} {
		tmpl.SetFlow(b, f)
		if want := tmpl.Build(f, 3, KindSeq); !bytes.Equal(b, want) {
			t.Fatalf("SetFlow(%d) differs from Build", f)
		}
	}
}

func TestNewTemplateRejects(t *testing.T) {
	a := testAddrs()
	for _, c := range []struct {
		size, flows int
		mod         func(*Addrs)
	}{
		{59, 1, nil}, {MaxSize + 1, 1, nil}, {60, 0, nil}, {60, MaxFlows + 1, nil},
		{60, 1, func(a *Addrs) { a.SrcIP = netip.MustParseAddr("::1") }},
		{60, 1, func(a *Addrs) { a.DstMAC = a.DstMAC[:4] }},
	} {
		a := a
		if c.mod != nil {
			c.mod(&a)
		}
		if _, err := NewTemplate(a, c.size, c.flows); err == nil {
			t.Errorf("size %d flows %d: no error", c.size, c.flows)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tmpl, _ := NewTemplate(testAddrs(), 60, 1)
	good := tmpl.Build(0, 0, KindPing)
	for name, mod := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:59] },
		"magic":     func(b []byte) []byte { b[42] = 'x'; return b },
		"tcp":       func(b []byte) []byte { b[23] = frame.ProtoTCP; return b },
		"arp":       func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b },
		"fragment":  func(b []byte) []byte { b[20] = 0x01; return b },
	} {
		if _, ok := Parse(mod(bytes.Clone(good))); ok {
			t.Errorf("%s: parsed", name)
		}
	}
	// A VLAN tag in front is fine.
	tagged := append(append(bytes.Clone(good[:12]), 0x81, 0, 0, 5), good[12:]...)
	if p, ok := Parse(tagged); !ok || p.Kind != KindPing {
		t.Errorf("tagged frame: %+v %v", p, ok)
	}
}

func TestReflect(t *testing.T) {
	a := testAddrs()
	tmpl, _ := NewTemplate(a, 100, 1)
	req := tmpl.Build(0, 9, KindPing)
	SetSeq(req, 77)
	SetTime(req, 123456789)
	b := bytes.Clone(req)
	own := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	if !Reflect(b, own) {
		t.Fatal("Reflect refused a pktgen frame")
	}
	if !bytes.Equal(b[0:6], req[6:12]) || !bytes.Equal(b[6:12], req[0:6]) {
		t.Errorf("MACs not swapped")
	}
	if !bytes.Equal(b[26:30], req[30:34]) || !bytes.Equal(b[30:34], req[26:30]) {
		t.Errorf("IPs not swapped")
	}
	if !bytes.Equal(b[34:36], req[36:38]) || !bytes.Equal(b[36:38], req[34:36]) {
		t.Errorf("ports not swapped")
	}
	if Checksum(b[14:34]) != 0 {
		t.Errorf("IP checksum broken by the swap")
	}
	p, ok := Parse(b)
	if want := (Payload{KindPong, 9, 77, 123456789}); !ok || p != want {
		t.Errorf("reply payload %+v, want %+v", p, want)
	}

	// A broadcast request is answered from pong's own MAC.
	bc := a
	bc.DstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	tmpl, _ = NewTemplate(bc, 60, 1)
	b = tmpl.Build(0, 0, KindPing)
	Reflect(b, own)
	if !bytes.Equal(b[6:12], own) || !bytes.Equal(b[0:6], a.SrcMAC) {
		t.Errorf("broadcast reply: %x -> %x", b[6:12], b[0:6])
	}

	// Not IPv4/UDP: left alone.
	arp := bytes.Clone(req)
	arp[12], arp[13] = 0x08, 0x06
	keep := bytes.Clone(arp)
	if Reflect(arp, own) || !bytes.Equal(arp, keep) {
		t.Errorf("Reflect changed an ARP frame")
	}
}

func BenchmarkSetFlow(b *testing.B) {
	tmpl, _ := NewTemplate(testAddrs(), 60, 1024)
	f := tmpl.Build(0, 0, KindSeq)
	for i := 0; b.Loop(); i++ {
		tmpl.SetFlow(f, i&1023)
	}
}
