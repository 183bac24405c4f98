package bench

// Helpers shared by the figures: frames, senders, receivers, the timed
// replay-and-forward loop and the metrics.

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/frame/frametest"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/port/pipe"
)

// minSize is the paper's "60-byte" minimum frame (64 bytes on the wire
// without the CRC).
const minSize = frametest.MinFrame

// udpPort is the destination port of every benchmark frame: the rule the L4
// filter matches.
const udpPort = 53

// sourceSlots is the ring size of every sender: enough for one full
// forwarding batch (Batch+MaxFrags-1 slots) with room to replay the next.
const sourceSlots = 2048

// udpFrame returns a size-byte IPv4/UDP frame from frametest.SrcMAC to
// frametest.DstMAC, to UDP port udpPort.
func udpFrame(size int) []byte {
	payload := make([]byte, size-frame.EthHeaderLen-20-8)
	return frametest.Frame(
		frametest.Ethernet(frame.TypeIPv4),
		frametest.IPv4{Proto: frame.ProtoUDP}.Build(frametest.UDP(1024, udpPort, payload)),
	)
}

// newSwitch creates a switch and closes it when the benchmark ends.
func newSwitch(tb testing.TB, opts fabric.Options) *fabric.Switch {
	tb.Helper()
	sw, err := fabric.New("bench", opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sw.Close(); err != nil {
			tb.Error(err)
		}
	})
	return sw
}

// attachSink attaches a receiver whose ring is drained for free (paper
// §4.3) and returns its ID. slots must hold everything one batch may deliver
// to the port.
func attachSink(tb testing.TB, sw *fabric.Switch, name string, slots int) logic.PortID {
	tb.Helper()
	p, err := pipe.New(pipe.Options{Slots: slots, DrainForFree: true})
	if err != nil {
		tb.Fatal(err)
	}
	id, err := sw.Attach(p, fabric.PortConfig{Name: name, Inline: true})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// A source is an Inline sender port whose input queue 0 is fed by a
// replayer: a pipe.End replaying its prefilled frame, or a cycler.
type source struct {
	sw  *fabric.Switch
	id  logic.PortID
	end replayer
}

// A replayer queues up to n packets on an input queue without copying them,
// and returns how many fit.
type replayer interface {
	Replay(queue, n int) (int, error)
}

// attachSource attaches a sender prefilled with f. It also drains for free,
// so that packets sent back to it (a flood) never fill its ring.
func attachSource(tb testing.TB, sw *fabric.Switch, name string, f []byte) source {
	tb.Helper()
	p, err := pipe.New(pipe.Options{Slots: sourceSlots, DrainForFree: true})
	if err != nil {
		tb.Fatal(err)
	}
	id, err := sw.Attach(p, fabric.PortConfig{Name: name, Inline: true})
	if err != nil {
		tb.Fatal(err)
	}
	end := p.End()
	if err := end.Prefill(0, f); err != nil {
		tb.Fatal(err)
	}
	return source{sw: sw, id: id, end: end}
}

// forward replays and forwards until n packets have been taken from the
// sender, batch packets at a time, and returns how many were taken (n, or a
// few more when frames are chained). It does not allocate.
func (s source) forward(batch, n int) (int, error) {
	done := 0
	for done < n {
		if _, err := s.end.Replay(0, min(batch, n-done)); err != nil {
			return done, err
		}
		k, err := s.sw.Forward(s.id, 0)
		if err != nil {
			return done, err
		}
		if k == 0 {
			return done, fmt.Errorf("forward from port %d: nothing to forward", s.id)
		}
		done += k
	}
	return done, nil
}

// warmUp forwards one batch, so that the fabric's lazily allocated scratch
// space and the buffers are in place before the timer starts, then collects
// the garbage of the set-up: a set-up with 1024 ports allocates hundreds of
// megabytes, and a collection still marking when the timer starts would
// take CPU and turn on write barriers in the timed loop.
func warmUp(tb testing.TB, src source, batch int) {
	tb.Helper()
	if _, err := src.forward(batch, batch); err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
}

// txPackets returns how many packets the switch delivered to port id.
func txPackets(tb testing.TB, sw *fabric.Switch, id logic.PortID) uint64 {
	tb.Helper()
	st, err := sw.PortStats(id)
	if err != nil {
		tb.Fatal(err)
	}
	return st.TxPackets
}

// report adds the Mpps and Gbps metrics for delivered packets of size bytes
// over the benchmark's elapsed time.
func report(b *testing.B, delivered uint64, size int) {
	mpps := float64(delivered) / b.Elapsed().Seconds() / 1e6
	b.ReportMetric(mpps, "Mpps")
	b.ReportMetric(mpps*float64(size)*8/1000, "Gbps")
}

// runSingle is the timed loop of the one-sender benchmarks: b.N packets from
// src, which must all reach dst.
func runSingle(b *testing.B, src source, dst logic.PortID, batch, size int) {
	warmUp(b, src, batch)
	b.ReportAllocs()
	before := txPackets(b, src.sw, dst)
	b.ResetTimer()
	if _, err := src.forward(batch, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	got := txPackets(b, src.sw, dst) - before
	if got < uint64(b.N) {
		b.Fatalf("port %d received %d of %d packets (stats %+v)", dst, got, b.N, src.sw.Stats())
	}
	report(b, got, size)
}

// roundRobin is a benchmark-only logic that sends consecutive packets to
// consecutive ports of a list (paper Figure 11). It keeps its position
// across batches and so assumes a single sender.
type roundRobin struct {
	dsts []logic.Dst
	next int
}

// Lookup implements logic.Logic.
func (r *roundRobin) Lookup(pkts []logic.Packet, in logic.PortID) {
	j := r.next
	for i := range pkts {
		pkts[i].Dst = r.dsts[j]
		if j++; j == len(r.dsts) {
			j = 0
		}
	}
	r.next = j
}

// toPort returns a logic that sends every packet to port id.
func toPort(id logic.PortID) logic.Func {
	d := logic.To(id)
	return func(*logic.Packet, logic.PortID) logic.Dst { return d }
}

// pow2 returns the smallest power of two >= n, and at least 2.
func pow2(n int) int {
	p := 2
	for p < n {
		p <<= 1
	}
	return p
}
