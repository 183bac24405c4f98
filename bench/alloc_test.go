package bench

import (
	"net/netip"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/l4filter"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/logic/multistack"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// TestZeroAllocs checks that a whole replay-and-forward cycle, one batch,
// allocates nothing once the switch is warm: for each module, for both
// delivery algorithms, for flooding and for chained frames.
func TestZeroAllocs(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (source, int) // sender and its batch
	}{
		{"xconnect", func(t *testing.T) (source, int) { return xconnectPair(t, minSize) }},
		{"xconnect/size=9000", func(t *testing.T) (source, int) { return xconnectPair(t, 9000) }},
		{"xconnect/size=65535", func(t *testing.T) (source, int) { return xconnectPair(t, 65535) }},
		{"learning-1000macs", func(t *testing.T) (source, int) {
			sw := newSwitch(t, fabric.Options{Logic: learning.New()})
			src, _ := learnedPair(t, sw, 1000)
			return src, sw.Batch()
		}},
		{"l4filter", func(t *testing.T) (source, int) {
			f := l4filter.New()
			sw := newSwitch(t, fabric.Options{Logic: f})
			src := attachSource(t, sw, "src", udpFrame(minSize))
			dst := attachSink(t, sw, "dst", sourceSlots)
			if err := f.Add(frame.ProtoUDP, udpPort, dst); err != nil {
				t.Fatal(err)
			}
			return src, sw.Batch()
		}},
		{"multistack", func(t *testing.T) (source, int) {
			m := multistack.New()
			sw := newSwitch(t, fabric.Options{Logic: m})
			src := attachSource(t, sw, "src", udpFrame(minSize))
			dst := attachSink(t, sw, "dst", sourceSlots)
			if err := m.SetNIC(src.id); err != nil {
				t.Fatal(err)
			}
			tuple := multistack.Tuple{Proto: frame.ProtoUDP, IP: netip.AddrFrom4([4]byte{192, 0, 2, 2}), Port: udpPort}
			if err := m.Reserve(tuple, dst); err != nil {
				t.Fatal(err)
			}
			return src, sw.Batch()
		}},
		{"flood", func(t *testing.T) (source, int) {
			flood := logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Flood })
			sw := newSwitch(t, fabric.Options{Logic: flood})
			src := attachSource(t, sw, "src", udpFrame(minSize))
			attachSinks(t, sw, 3, portsBatch)
			return src, sw.Batch()
		}},
		{"roundrobin/mswitch", func(t *testing.T) (source, int) { return roundRobinFan(t, fabric.AlgorithmMSwitch) }},
		{"roundrobin/vale", func(t *testing.T) (source, int) { return roundRobinFan(t, fabric.AlgorithmVALE) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, batch := tt.setup(t)
			var err error
			allocs := testing.AllocsPerRun(20, func() {
				if err == nil {
					_, err = src.forward(batch, batch)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per batch of %d, want 0", allocs, batch)
			}
			// Zero allocations would prove little if the packets were dropped.
			var tx uint64
			for _, st := range src.sw.Stats() {
				if st.TotalDrops() != 0 {
					t.Errorf("port %s dropped packets: %v", st.Name, st.Drops)
				}
				tx += st.TxPackets
			}
			if tx < uint64(batch) {
				t.Errorf("%d packets delivered, want at least a batch (%d)", tx, batch)
			}
		})
	}
}

// xconnectPair is Figure 6's set-up for one frame size.
func xconnectPair(t *testing.T, size int) (source, int) {
	x := xconnect.New()
	sw := newSwitch(t, fabric.Options{Logic: x})
	src := attachSource(t, sw, "src", udpFrame(size))
	dst := attachSink(t, sw, "dst", sourceSlots)
	if err := x.Connect(src.id, dst); err != nil {
		t.Fatal(err)
	}
	return src, sw.Batch()
}

// roundRobinFan is Figure 11's set-up with 16 receivers.
func roundRobinFan(t *testing.T, alg fabric.Algorithm) (source, int) {
	rr := &roundRobin{}
	sw := newSwitch(t, fabric.Options{Batch: portsBatch, Logic: rr, Algorithm: alg})
	src := attachSource(t, sw, "src", udpFrame(minSize))
	for _, id := range attachSinks(t, sw, 16, portsBatch/16) {
		rr.dsts = append(rr.dsts, logic.To(id))
	}
	return src, portsBatch
}
