package pipeline

import (
	"testing"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// fuzzPipeline is a fixed rule set that exercises every kind of rewrite.
func fuzzPipeline(t testing.TB) *Pipeline {
	p := newTest(t, Options{Tables: 4})
	mustGroup(t, p, &ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeAll, GroupID: 1, Buckets: []ofp.Bucket{
		bucketOf(ofp.ActionPushVLAN{EtherType: 0x88a8}, out(3)),
		bucketOf(ofp.ActionPushMPLS{EtherType: 0x8847}, ofp.ActionCopyTTLOut{}, ofp.ActionDecMPLSTTL{}, out(4)),
		bucketOf(ofp.ActionPopVLAN{}, ofp.ActionPopMPLS{EtherType: 0x800}, ofp.ActionCopyTTLIn{}, out(5))}})
	mustFlow(t, p, flowAdd(0, 0, match(), apply(ofp.ActionGroup{GroupID: 1}, ofp.ActionPushVLAN{EtherType: 0x8100}), gotoT(1)))
	mustFlow(t, p, flowAdd(1, 1, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 6)),
		apply(setf(ip4(ofp.OXMIPv4Src, "1.2.3.4")), setf(u(ofp.OXMTCPDst, 9)), ofp.ActionDecNWTTL{}, out(2)), gotoT(2)))
	mustFlow(t, p, flowAdd(1, 1, match(u(ofp.OXMEthType, 0x86dd), u(ofp.OXMIPProto, 58)),
		apply(setf(ip6(ofp.OXMIPv6Dst, "::1")), setf(u(ofp.OXMICMPv6Type, 1)), out(2)), gotoT(2)))
	mustFlow(t, p, flowAdd(1, 1, match(u(ofp.OXMEthType, 0x806)),
		apply(setf(ip4(ofp.OXMARPTpa, "1.2.3.4")), setf(u(ofp.OXMARPOp, 2)), out(2)), gotoT(2)))
	mustFlow(t, p, flowAdd(1, 1, match(u(ofp.OXMEthType, 0x8847)), apply(setf(u(ofp.OXMMPLSLabel, 5)), ofp.ActionPopMPLS{EtherType: 0x86dd}), gotoT(2)))
	mustFlow(t, p, flowAdd(1, 0, match(um(ofp.OXMVlanVID, 0x1000, 0x1000)), apply(setf(u(ofp.OXMVlanPCP, 3))), gotoT(2)))
	mustFlow(t, p, flowAdd(2, 0, match(), writeActs(ofp.ActionPopVLAN{}, ofp.ActionSetNWTTL{TTL: 9}, out(ofp.PortController))))
	return p
}

func FuzzProcess(f *testing.F) {
	for _, s := range []pktSpec{{proto: "tcp"}, {v6: true, proto: "icmp"}, {arp: true}, {vlan: 3, proto: "udp"}, {proto: "sctp"}} {
		f.Add(buildPacket(f, s), uint8(8))
	}
	p := fuzzPipeline(f)
	w := p.NewWorker()
	var res Result
	f.Fuzz(func(t *testing.T, data []byte, room uint8) {
		buf := make([]byte, len(data), len(data)+int(room%16))
		copy(buf, data)
		for i := 0; i < 2; i++ { // translate, then hit the caches
			pkt := append(buf[:0:cap(buf)], data...)
			out := w.Process(pkt, 1, &res)
			if cap(out) != cap(buf) || len(out) > cap(buf) {
				t.Fatalf("output slice %d/%d outside the buffer %d", len(out), cap(out), cap(buf))
			}
			for _, o := range res.Outputs {
				if o.Version < -1 || o.Version >= len(res.Copies) {
					t.Fatalf("bad version %d", o.Version)
				}
			}
		}
	})
}

func FuzzFlowKey(f *testing.F) {
	for _, s := range []pktSpec{{proto: "tcp"}, {v6: true, proto: "icmp"}, {arp: true}, {vlan: 3, proto: "udp"}, {v6: true, proto: "sctp"}} {
		f.Add(buildPacket(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var k1, k2 Key
		var l1, l2 layout
		ok := extract(data, 7, &k1, &l1)
		if ok != (len(data) >= 14) {
			t.Fatal("runt classification")
		}
		extract(data, 7, &k2, &l2)
		if k1 != k2 || l1 != l2 {
			t.Fatal("not deterministic")
		}
		for _, off := range []int{l1.l3, l1.l4, l1.nd, l1.ethType} {
			if off > len(data) {
				t.Fatalf("offset %d beyond %d bytes", off, len(data))
			}
		}
	})
}
