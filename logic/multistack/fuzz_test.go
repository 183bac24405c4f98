package multistack_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/multistack"
)

// FuzzLookup looks arbitrary frames up from every role and checks that the
// answer is one the role allows, that exactly one counter moves, and that a
// packet steered by a tuple carries that tuple as gopacket reads it.
func FuzzLookup(f *testing.F) {
	for _, tc := range cases(f) {
		f.Add(tc.b, uint8(tc.in))
	}
	m := newModule(f)
	f.Fuzz(func(t *testing.T, b []byte, inByte uint8) {
		in := logic.PortID(inByte % 5)
		before := m.Stats()
		p := lookup1(m, b, in)
		after := m.Stats()
		if d := sum(after) - sum(before); d != 1 {
			t.Fatalf("%d counters moved", d)
		}
		switch p.Dst {
		case logic.Drop, logic.DropMalformed:
			return
		case logic.ToSet:
			if in != nic {
				t.Fatalf("from port %d: %v", in, p.Dst)
			}
			return
		}
		out, ok := p.Dst.Port()
		switch {
		case !ok:
			t.Fatalf("Lookup = %v", p.Dst)
		case in != nic && out != nic:
			t.Fatalf("from port %d to port %d", in, out)
		case in == nic && out == nic:
			t.Fatal("from the NIC to the NIC")
		}
		// Steered by a tuple: check it against gopacket's reading.
		var tup multistack.Tuple
		var src bool
		switch {
		case in == nic && out != host:
			src = false
		case in != nic && in != host:
			src = true
		default:
			return
		}
		pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.NoCopy)
		if pkt.ErrorLayer() != nil {
			return // gopacket is stricter about some headers
		}
		var ip netip.Addr
		if n := pkt.NetworkLayer(); n != nil {
			a, b := n.NetworkFlow().Endpoints()
			if !src {
				a = b
			}
			ip, _ = netip.AddrFromSlice(a.Raw())
		}
		switch l := pkt.TransportLayer().(type) {
		case *layers.TCP:
			tup = multistack.Tuple{Proto: 6, IP: ip, Port: uint16(l.DstPort)}
			if src {
				tup.Port = uint16(l.SrcPort)
			}
		case *layers.UDP:
			tup = multistack.Tuple{Proto: 17, IP: ip, Port: uint16(l.DstPort)}
			if src {
				tup.Port = uint16(l.SrcPort)
			}
		default:
			return // ARP or neighbour discovery
		}
		owner, ok := m.Owner(tup)
		want := out
		if src {
			want = in
		}
		if !ok || owner != want {
			t.Fatalf("from port %d to port %d, but gopacket reads %v, owned by %d (%v)", in, out, tup, owner, ok)
		}
	})
}

func sum(s multistack.Stats) uint64 {
	return s.ToStack + s.ToHost + s.Shared + s.ToNIC + s.NoHost + s.NoNIC + s.Spoofed +
		s.NotOwned + s.Fragment + s.BadChecksum + s.Malformed
}
