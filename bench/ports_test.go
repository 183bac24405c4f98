package bench

import (
	"fmt"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// portCounts are the numbers of receivers of Figures 10 and 11.
var portCounts = []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// portsBatch is the sender's batch in Figures 10 and 11 (the paper's N).
const portsBatch = 1024

var algorithms = []struct {
	name string
	alg  fabric.Algorithm
}{
	{"mswitch", fabric.AlgorithmMSwitch},
	{"vale", fabric.AlgorithmVALE},
}

// BenchmarkFig10 sends every packet to one receiver while P-1 more receivers
// sit idle (paper Figure 10(a,b)): the cost of attached but idle ports.
func BenchmarkFig10(b *testing.B) {
	for _, p := range portCounts {
		for _, a := range algorithms {
			b.Run(fmt.Sprintf("ports=%d/%s", p, a.name), func(b *testing.B) {
				x := xconnect.New()
				sw := newSwitch(b, fabric.Options{Batch: portsBatch, Logic: x, Algorithm: a.alg})
				src := attachSource(b, sw, "src", udpFrame(minSize))
				dsts := attachSinks(b, sw, p, 0)
				if err := x.Connect(src.id, dsts[0]); err != nil {
					b.Fatal(err)
				}
				runSingle(b, src, dsts[0], portsBatch, minSize)
			})
		}
	}
}

// BenchmarkFig11 sends consecutive packets round-robin to P receivers (paper
// Figure 11): each gets 1024/P packets of every batch.
func BenchmarkFig11(b *testing.B) {
	for _, p := range portCounts {
		for _, a := range algorithms {
			b.Run(fmt.Sprintf("ports=%d/%s", p, a.name), func(b *testing.B) {
				rr := &roundRobin{}
				sw := newSwitch(b, fabric.Options{Batch: portsBatch, Logic: rr, Algorithm: a.alg})
				src := attachSource(b, sw, "src", udpFrame(minSize))
				dsts := attachSinks(b, sw, p, (portsBatch+p-1)/p)
				for _, id := range dsts {
					rr.dsts = append(rr.dsts, logic.To(id))
				}
				warmUp(b, src, portsBatch)
				b.ReportAllocs()
				var before uint64
				for _, id := range dsts {
					before += txPackets(b, sw, id)
				}
				b.ResetTimer()
				if _, err := src.forward(portsBatch, b.N); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				got := -before
				for _, id := range dsts {
					got += txPackets(b, sw, id)
				}
				if got < uint64(b.N) {
					b.Fatalf("receivers got %d of %d packets", got, b.N)
				}
				report(b, got, minSize)
			})
		}
	}
}

// attachSinks attaches p receivers. The first has room for a whole batch;
// the others for perPort packets (at least 64 slots).
func attachSinks(tb testing.TB, sw *fabric.Switch, p, perPort int) []logic.PortID {
	tb.Helper()
	ids := make([]logic.PortID, p)
	for i := range ids {
		slots := pow2(max(64, perPort))
		if i == 0 {
			slots = pow2(portsBatch)
		}
		ids[i] = attachSink(tb, sw, fmt.Sprintf("dst%d", i), slots)
	}
	return ids
}
