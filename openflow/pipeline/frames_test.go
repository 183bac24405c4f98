package pipeline

import (
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"testing"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// Frames from the os-ken switch tester's models (the ryu-switch-tests of13
// files, serialized by os-ken's packet library): the egress bytes the
// tester compares byte for byte with what the switch sends.
func TestTesterFrames(t *testing.T) {
	const (
		tcp4    = "22222222222212111111111108004520004b000000004006db1ec0a80a0ac0a814142b6708ae000000000000000060000000cb4c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		udp4    = "22222222222212111111111108004520004b000000004011db13c0a80a0ac0a814142b6708ae000000000000000060000000cb410000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		mpls4   = "2222222222221211111111118847000647404520004b000000004006db1ec0a80a0ac0a814142b6708ae000000000000000060000000cb4c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		arp     = "22222222222212111111111108060001080006040001121111111111c0a80a0a222222222222c0a81414000000000000000000000000000000000000"
		pbbArp  = "22222222222212111111111188e70000000022222222222212111111111108060001080006040001121111111111c0a80a0a222222222222c0a81414000000000000000000000000000000000000"
		pbb2Tcp = "22222222222212111111111188e70000000022222222222212111111111188e70000000022222222222212111111111108004520004b000000004006db1ec0a80a0ac0a814142b6708ae000000000000000060000000cb4c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		pbbVlan = "22222222222212111111111188e70000006422222222222212111111111188a8000a8100606408004520004b000000004006db1ec0a80a0ac0a814142b6708ae000000000000000060000000cb4c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		cVlan   = "22222222222212111111111188a8000a8100606408004520004b000000004006db1ec0a80a0ac0a814142b6708ae000000000000000060000000cb4c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		bIsid   = "22222222222212111111111188a8000a88e70000006422222222222212111111111188a8000a8100606408060001080006040001121111111111c0a80a0a222222222222c0a81414000000000000000000000000000000000000000000000000000000000000"
		bIsid2  = "22222222222212111111111188a8000a88e7000000cb22222222222212111111111188a8000a8100606408060001080006040001121111111111c0a80a0a222222222222c0a81414000000000000000000000000000000000000000000000000000000000000"
		icmpM   = "22222222222212111111111188470006474045200024000000004001db4ac0a80a0ac0a81414080059da000000000123456789abcdef000000000000"
		icmp    = "222222222222121111111111080045200024000000004001db4ac0a80a0ac0a81414000061da000000000123456789abcdef00000000000000000000"
		tcp6    = "22222222222212111111111186dd620000640037064000100000000000000000000000000010002000000000000000000000000000202b6708ae0000000000000000600000006a5c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	)
	pbb := func(v uint64) ofp.OXM { return u(ofp.OXMPBBISID, v) }
	eth := func(v uint64) ofp.OXM { return u(ofp.OXMEthType, v) }
	push := ofp.ActionPushPBB{EtherType: ofp.EthTypePBB}
	tests := []struct {
		name    string
		flows   []*ofp.FlowMod
		in, out string
	}{
		{"push_pbb", []*ofp.FlowMod{flowAdd(0, 1, match(eth(0x0806)), apply(push, out(2)))}, arp, pbbArp},
		{"push_pbb twice", []*ofp.FlowMod{flowAdd(0, 1, match(eth(0x0800)), apply(push, push, out(2)))}, tcp4, pbb2Tcp},
		{"pop_pbb", []*ofp.FlowMod{flowAdd(0, 1, match(eth(ofp.EthTypePBB)), apply(ofp.ActionPopPBB{}, out(2)))}, pbbVlan, cVlan},
		{"match pbb_isid", []*ofp.FlowMod{flowAdd(0, 1, match(eth(ofp.EthTypePBB), pbb(100)), apply(out(2)))}, bIsid, bIsid},
		{"match pbb_isid masked", []*ofp.FlowMod{flowAdd(0, 1, match(eth(ofp.EthTypePBB), um(ofp.OXMPBBISID, 96, 0xf0)), apply(out(2)))}, bIsid, bIsid},
		{"set pbb_isid", []*ofp.FlowMod{flowAdd(0, 1, match(eth(ofp.EthTypePBB), pbb(100)), apply(setf(pbb(203)), out(2)))}, bIsid, bIsid2},
		{"pop_pbb then a table", []*ofp.FlowMod{
			flowAdd(0, 1, match(eth(ofp.EthTypePBB)), apply(ofp.ActionPopPBB{}), gotoT(1)),
			flowAdd(1, 1, match(eth(0x0800), u(ofp.OXMVlanVID, 0x1000|10)), apply(out(2))),
		}, pbbVlan, cVlan},
		{"set ip_proto (tcp checksum)", []*ofp.FlowMod{flowAdd(0, 1, match(eth(0x0800), u(ofp.OXMIPProto, 6)), apply(setf(u(ofp.OXMIPProto, 17)), out(2)))}, tcp4, udp4},
		{"pop_mpls then set ip_proto", []*ofp.FlowMod{
			flowAdd(0, 1, match(eth(0x8847)), apply(ofp.ActionPopMPLS{EtherType: 0x0800}), gotoT(1)),
			flowAdd(1, 1, match(eth(0x0800), u(ofp.OXMIPProto, 6)), apply(setf(u(ofp.OXMIPProto, 17)), out(2))),
		}, mpls4, udp4},
		{"pop_mpls pads to 60 bytes", []*ofp.FlowMod{
			flowAdd(0, 1, match(eth(0x8847)), apply(ofp.ActionPopMPLS{EtherType: 0x0800}), gotoT(1)),
			flowAdd(1, 1, match(eth(0x0800), u(ofp.OXMIPProto, 1), u(ofp.OXMICMPv4Type, 8)), apply(setf(u(ofp.OXMICMPv4Type, 0)), out(2))),
		}, icmpM, icmp},
		{"push_pbb ipv6", []*ofp.FlowMod{flowAdd(0, 1, match(eth(0x86dd)), apply(push, out(2)))}, tcp6,
			"22222222222212111111111188e70000000022222222222212111111111186dd620000640037064000100000000000000000000000000010002000000000000000000000000000202b6708ae0000000000000000600000006a5c0000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cache := range []bool{false, true} {
				p := newTest(t, Options{Tables: 4, NoCache: !cache})
				for _, fm := range tt.flows {
					mustFlow(t, p, fm)
				}
				w := p.NewWorker()
				for i := 0; i < 3; i++ { // slow path, then the caches
					in, _ := hex.DecodeString(tt.in)
					buf := make([]byte, len(in), 2048)
					copy(buf, in)
					var res Result
					got := w.Process(buf, 1, &res)
					if len(res.Outputs) != 1 || res.Outputs[0].Port != 2 {
						t.Fatalf("cache %v, run %d: outputs %v", cache, i, ports(&res))
					}
					if h := hex.EncodeToString(got); h != tt.out {
						t.Fatalf("cache %v, run %d:\ngot  %s\nwant %s", cache, i, h, tt.out)
					}
				}
			}
		})
	}
}

// TestSCTPChecksum: set_field on an SCTP port leaves a correct CRC32c
// correct, and a wrong one wrong by the same XOR difference (the os-ken
// tester's own SCTP checksums are wrong: it computes the CRC over the
// Python repr of the bytes, so its expected frames cannot be matched).
func TestSCTPChecksum(t *testing.T) {
	p := newTest(t, Options{Tables: 1})
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 132)),
		apply(setf(u(ofp.OXMSCTPSrc, 12345)), out(2))))
	w := p.NewWorker()
	in := buildPacket(t, pktSpec{proto: "sctp", sport: 11111, dport: 2222})
	l4 := 14 + 20
	crc := func(b []byte) uint32 {
		c := append([]byte(nil), b[l4:]...)
		clear(c[8:12])
		return crc32.Checksum(c, crc32.MakeTable(crc32.Castagnoli))
	}
	for _, bad := range []uint32{0, 0xdeadbeef} {
		pkt := append(make([]byte, 0, 2048), in...)
		binary.LittleEndian.PutUint32(pkt[l4+8:], crc(pkt)^bad)
		var res Result
		got := w.Process(pkt, 1, &res)
		if binary.BigEndian.Uint16(got[l4:]) != 12345 {
			t.Fatalf("port not set: %x", got)
		}
		if cs := binary.LittleEndian.Uint32(got[l4+8:]); cs != crc(got)^bad {
			t.Errorf("error %#x: checksum %#x, want %#x", bad, cs, crc(got)^bad)
		}
	}
}
