package vnet

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// segmentAll plans pkt held in src and writes every segment.
func segmentAll(t testing.TB, h Hdr, src [][]byte) [][]byte {
	t.Helper()
	p, err := NewPlan(h, src)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	segs := make([][]byte, p.Segments())
	for k := range segs {
		dst := make([]byte, p.MaxSegmentLen())
		n, err := p.WriteSegment(dst, src, k)
		if err != nil {
			t.Fatalf("write segment %d: %v", k, err)
		}
		if n != p.SegmentLen(k) {
			t.Fatalf("segment %d: wrote %d bytes, SegmentLen says %d", k, n, p.SegmentLen(k))
		}
		segs[k] = dst[:n]
	}
	return segs
}

// reserialize decodes seg with gopacket and serializes its layers again
// with gopacket computing lengths and checksums: the independent reference
// a segment must equal byte for byte.
func reserialize(t testing.TB, seg []byte) (gopacket.Packet, []byte) {
	t.Helper()
	p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode segment: %v", el.Error())
	}
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet, *layers.Dot1Q:
			ls = append(ls, l.(gopacket.SerializableLayer))
		case *layers.IPv4:
			c := *l
			ls, nl = append(ls, &c), &c
		case *layers.IPv6:
			c := *l
			ls, nl = append(ls, &c), &c
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(nl)
			c := *l
			ls = append(ls, &c)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(nl)
			c := *l
			ls = append(ls, &c)
		default:
			ls = append(ls, gopacket.Payload(l.LayerContents()))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return p, buf.Bytes()
}

// checkSegments verifies segments of the packet built from s: each equals
// gopacket's own serialization of it (lengths and checksums), the payloads
// concatenate to the original, and the per-type header rules hold.
func checkSegments(t testing.TB, s pktSpec, orig []byte, payload []byte, segs [][]byte) {
	t.Helper()
	po := gopacket.NewPacket(orig, layers.LayerTypeEthernet, gopacket.Default)
	var got []byte
	var ufo []byte
	for k, seg := range segs {
		last := k == len(segs)-1
		p, want := reserialize(t, seg)
		if !bytes.Equal(seg, want) {
			t.Fatalf("segment %d/%d differs from gopacket's serialization:\n got %x\nwant %x", k, len(segs), seg[:min(len(seg), 80)], want[:min(len(want), 80)])
		}
		if err, bad := p.VerifyChecksums(); err != nil || len(bad) > 0 {
			t.Fatalf("segment %d: checksums: %v %v", k, err, bad)
		}
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok {
			oip := po.NetworkLayer().(*layers.IPv4)
			switch s.gso {
			case GSOUDP:
				if ip.Id != oip.Id {
					t.Errorf("fragment %d: id %#x, want %#x", k, ip.Id, oip.Id)
				}
				if int(ip.FragOffset)*8 != k*int(s.mss) || (ip.Flags&layers.IPv4MoreFragments != 0) == last || ip.Flags&layers.IPv4DontFragment != 0 {
					t.Errorf("fragment %d: offset %d flags %v", k, ip.FragOffset, ip.Flags)
				}
			default:
				if ip.Id != oip.Id+uint16(k) {
					t.Errorf("segment %d: id %#x, want %#x", k, ip.Id, oip.Id+uint16(k))
				}
			}
		}
		if s.gso == GSOUDP {
			// One fragment decodes as UDP; more as IPv4 fragments.
			ufo = append(ufo, p.NetworkLayer().LayerPayload()...)
			continue
		}
		switch l := p.TransportLayer().(type) {
		case *layers.TCP:
			ot := po.TransportLayer().(*layers.TCP)
			if l.Seq != ot.Seq+uint32(k)*uint32(s.mss) {
				t.Errorf("segment %d: seq %#x, want %#x", k, l.Seq, ot.Seq+uint32(k)*uint32(s.mss))
			}
			if l.FIN != (ot.FIN && last) || l.PSH != (ot.PSH && last) || l.CWR != (ot.CWR && k == 0) || l.ACK != ot.ACK || l.SYN != ot.SYN {
				t.Errorf("segment %d/%d: flags FIN %v PSH %v CWR %v", k, len(segs), l.FIN, l.PSH, l.CWR)
			}
			if len(l.Payload) > int(s.mss) || (!last && len(l.Payload) != int(s.mss)) {
				t.Errorf("segment %d: %d payload bytes, mss %d", k, len(l.Payload), s.mss)
			}
			got = append(got, l.Payload...)
		case *layers.UDP:
			if l.Checksum == 0 {
				t.Errorf("segment %d: UDP checksum left 0", k)
			}
			if len(l.Payload) > int(s.mss) || (!last && len(l.Payload) != int(s.mss)) {
				t.Errorf("segment %d: %d payload bytes, mss %d", k, len(l.Payload), s.mss)
			}
			got = append(got, l.Payload...)
		default:
			t.Fatalf("segment %d: no transport layer", k)
		}
	}
	if s.gso == GSOUDP {
		// Reassemble and check the datagram's checksum over the pseudo-header.
		var udp layers.UDP
		if err := udp.DecodeFromBytes(ufo, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("decode reassembled datagram: %v", err)
		}
		ip := *po.NetworkLayer().(*layers.IPv4)
		udp.SetNetworkLayerForChecksum(&ip)
		if err, r := udp.VerifyChecksum(); err != nil || !r.Valid || udp.Checksum == 0 {
			t.Errorf("reassembled datagram checksum %#x: %v %+v", udp.Checksum, err, r)
		}
		if int(udp.Length) != len(ufo) {
			t.Errorf("UDP length %d, datagram %d", udp.Length, len(ufo))
		}
		got = udp.Payload
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("payloads: got %d bytes, want %d (equal prefix %v)", len(got), len(payload), bytes.HasPrefix(payload, got))
	}
}

func TestSegment(t *testing.T) {
	type kind struct {
		name string
		gso  uint8
		v6   bool
		mss  uint16
	}
	kinds := []kind{
		{"tcp4", GSOTCPv4, false, 1448},
		{"tcp6", GSOTCPv6, true, 1428},
		{"uso4", GSOUDPL4, false, 1472},
		{"uso6", GSOUDPL4, true, 1452},
		{"ufo4", GSOUDP, false, 1480},
	}
	for _, kd := range kinds {
		hdr := 0 // UFO segments count the UDP header as payload
		if kd.gso == GSOUDP {
			hdr = 8
		}
		m := int(kd.mss)
		sizes := map[int]int{1: m - hdr - 100, 2: 2*m - hdr - 1, 45: 44*m + 300 - hdr}
		for _, vlans := range []int{0, 1, 2} {
			for segs, size := range sizes {
				for _, bufSize := range []int{0, 2048, 1001} {
					name := fmt.Sprintf("%s/vlan%d/%dseg/buf%d", kd.name, vlans, segs, bufSize)
					t.Run(name, func(t *testing.T) {
						s := pktSpec{gso: kd.gso, v6: kd.v6, vlans: vlans, payload: size, mss: kd.mss,
							tcpFlag: func(c *layers.TCP) { c.FIN, c.PSH, c.CWR = true, true, true }}
						pkt, h, payload, _ := build(t, s)
						src := [][]byte{pkt}
						if bufSize > 0 {
							src = chain(pkt, bufSize)
						}
						out := segmentAll(t, h, src)
						if len(out) != segs {
							t.Fatalf("%d segments, want %d", len(out), segs)
						}
						checkSegments(t, s, pkt, payload, out)
					})
				}
			}
		}
	}
}

// TestSegmentHdrLen: the sender's HdrLen is a hint; 0 or wrong values give
// the same segments.
func TestSegmentHdrLen(t *testing.T) {
	s := pktSpec{gso: GSOTCPv4, vlans: 1, payload: 5000, mss: 1448}
	pkt, h, payload, _ := build(t, s)
	for _, hl := range []uint16{0, 14, 54, 66, 200} {
		h.HdrLen = hl
		checkSegments(t, s, pkt, payload, segmentAll(t, h, [][]byte{pkt}))
	}
}

// TestSegmentNoCsum: a GSO packet without NeedsCsum (the kernel accepts
// those) is segmented with complete checksums all the same.
func TestSegmentNoCsum(t *testing.T) {
	s := pktSpec{gso: GSOTCPv6, payload: 4000, mss: 1000}
	pkt, h, payload, _ := build(t, s)
	h.Flags, h.CsumStart, h.CsumOffset = 0, 0, 0
	checkSegments(t, s, pkt, payload, segmentAll(t, h, chain(pkt, 2048)))
}

func TestPlanErrors(t *testing.T) {
	tcp4, h4, _, l4 := build(t, pktSpec{gso: GSOTCPv4, payload: 3000, mss: 1448})
	udp6, h6, _, _ := build(t, pktSpec{gso: GSOUDP, v6: true, payload: 3000, mss: 1448})
	uso, hu, _, _ := build(t, pktSpec{gso: GSOUDPL4, payload: 65 * 100, mss: 100})
	mod := func(b []byte, f func([]byte)) []byte { c := append([]byte(nil), b...); f(c); return c }
	tests := []struct {
		name string
		h    Hdr
		pkt  []byte
		want error
	}{
		{"not gso", Hdr{}, tcp4, ErrBadGSO},
		{"unknown type", Hdr{GSOType: 2, GSOSize: 1}, tcp4, ErrBadGSO},
		{"ecn alone", Hdr{GSOType: GSOECN, GSOSize: 1}, tcp4, ErrBadGSO},
		{"zero size", Hdr{GSOType: GSOTCPv4}, tcp4, ErrBadGSO},
		{"tcp6 on ipv4", Hdr{GSOType: GSOTCPv6, GSOSize: 1000}, tcp4, ErrBadHeaders},
		{"udp on tcp", Hdr{GSOType: GSOUDP, GSOSize: 1000}, tcp4, ErrBadHeaders},
		{"csum start", Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1000, CsumStart: uint16(l4 + 4), CsumOffset: 16}, tcp4, ErrBadCsum},
		{"csum offset", Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1000, CsumStart: uint16(l4), CsumOffset: 6}, tcp4, ErrBadCsum},
		{"hdrlen", Hdr{GSOType: GSOTCPv4, GSOSize: 1000, HdrLen: 5000}, tcp4, ErrBadHdrLen},
		{"truncated", h4, tcp4[:l4+10], ErrBadCsum},
		{"truncated no csum", Hdr{GSOType: GSOTCPv4, GSOSize: 1000}, tcp4[:l4+10], ErrBadHeaders},
		{"bad doff", h4, mod(tcp4, func(b []byte) { b[l4+12] = 0x40 }), ErrBadHeaders},
		{"fragment", h4, mod(tcp4, func(b []byte) { b[14+6] |= 0x20 }), ErrBadHeaders},
		{"ufo6", h6, udp6, ErrUnsupported},
		{"ufo size", Hdr{GSOType: GSOUDP, GSOSize: 1001}, mod(udp6, func([]byte) {}), ErrUnsupported},
		{"uso 65 segments", hu, uso, ErrBadGSO},
		{"uso without csum", Hdr{GSOType: GSOUDPL4, GSOSize: 1000}, uso, ErrBadGSO},
		{"uso ecn", Hdr{Flags: FlagNeedsCsum, GSOType: GSOUDPL4 | GSOECN, GSOSize: 1000, CsumStart: 34, CsumOffset: 6}, uso, ErrBadGSO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPlan(tt.h, [][]byte{tt.pkt}); !errors.Is(err, tt.want) {
				t.Errorf("NewPlan: %v, want %v", err, tt.want)
			}
		})
	}
	ufo4, hf, _, _ := build(t, pktSpec{gso: GSOUDP, payload: 3000, mss: 1480})
	hf.GSOSize = 1001
	if _, err := NewPlan(hf, [][]byte{ufo4}); !errors.Is(err, ErrBadGSO) {
		t.Errorf("UFO size not a multiple of 8: %v", err)
	}
	// Headers must be in the first buffer.
	if _, err := NewPlan(h4, chain(tcp4, 40)); !errors.Is(err, ErrBadHeaders) {
		t.Errorf("split headers: %v", err)
	}
}

func TestWriteSegmentErrors(t *testing.T) {
	pkt, h, _, _ := build(t, pktSpec{gso: GSOTCPv4, payload: 3000, mss: 1448})
	src := chain(pkt, 2048)
	p, err := NewPlan(h, src)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, p.MaxSegmentLen())
	if _, err := p.WriteSegment(dst[:p.MaxSegmentLen()-1], src, 0); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short dst: %v", err)
	}
	if n, err := p.WriteSegment(dst[:p.SegmentLen(2)], src, 2); err != nil || n != p.SegmentLen(2) {
		t.Errorf("exact dst for the short last segment: %d, %v", n, err)
	}
	for _, k := range []int{-1, 3} {
		if _, err := p.WriteSegment(dst, src, k); !errors.Is(err, ErrSegment) {
			t.Errorf("segment %d: %v", k, err)
		}
	}
	if _, err := p.WriteSegment(dst, src[:1], 2); !errors.Is(err, ErrSegment) {
		t.Errorf("src shorter than planned: %v", err)
	}
}

func TestSegmentAllocs(t *testing.T) {
	pkt, h, _, _ := build(t, pktSpec{gso: GSOTCPv4, vlans: 1, payload: 45 * 1448, mss: 1448})
	src := chain(pkt, 2048)
	dst := make([]byte, 2048)
	allocs := testing.AllocsPerRun(100, func() {
		p, err := NewPlan(h, src)
		if err != nil {
			t.Fatal(err)
		}
		for k := range p.Segments() {
			if _, err := p.WriteSegment(dst, src, k); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}
