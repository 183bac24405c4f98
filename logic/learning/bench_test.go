package learning

import (
	"testing"

	"github.com/mswitch/mswitch/logic"
)

// BenchmarkLookup measures a batch of 1024 packets from port 1 between
// known stations on ports 1 and 2: one source and destination pair
// (macs=1), or 1000 sources talking to 1000 destinations (macs=1000). The
// cross-connect case is the floor: a module that sends everything to port 2.
func BenchmarkLookup(b *testing.B) {
	const batch = 1024
	for _, tc := range []struct {
		name  string
		macs  int
		vlan  bool
		xconn bool
	}{
		{name: "crossconnect", macs: 1, xconn: true},
		{name: "macs=1", macs: 1},
		{name: "macs=1000", macs: 1000},
		{name: "vlan/macs=1", macs: 1, vlan: true},
		{name: "vlan/macs=1000", macs: 1000, vlan: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var vids []uint16
			if tc.vlan {
				vids = []uint16{10}
			}
			br, err := NewWithOptions(Options{VLANAware: tc.vlan, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			var l logic.Logic = br
			if tc.xconn {
				l = logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.To(2) })
			}
			src := func(i int) uint64 { return 0x02_00_00_01_00_00 + uint64(i%tc.macs) }
			dst := func(i int) uint64 { return 0x02_00_00_02_00_00 + uint64(i*7%tc.macs) }
			pkts := make([]logic.Packet, batch)
			for i := range pkts { // teach the bridge where the destinations are
				pkts[i].Data = eth(bcast, dst(i), vids...)
			}
			br.Lookup(pkts, 2)
			for i := range pkts {
				pkts[i].Data = eth(dst(i), src(i), vids...)
			}
			l.Lookup(pkts, 1)
			for i := range pkts {
				if pkts[i].Dst != logic.To(2) {
					b.Fatalf("packet %d: %v", i, pkts[i].Dst)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				l.Lookup(pkts, 1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batch, "ns/pkt")
			if s := br.Stats(); s.Collisions+s.Full != 0 {
				b.Errorf("table refused MACs: %+v", s)
			}
		})
	}
}
