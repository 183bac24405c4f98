package pipeline

import (
	"math/rand/v2"
	"net"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// nsxSet is the NSX-like set of BenchmarkProcess and the destinations of
// its traffic.
func nsxSet(b *testing.B) (*Pipeline, []uint32) {
	r := rand.New(rand.NewPCG(5, 5))
	dsts := make([]uint32, 1000)
	for i := range dsts {
		dsts[i] = 0x0a000000 | r.Uint32()&0xffffff
	}
	p := newTest(b, Options{})
	nsxLike(b, p, dsts)
	return p, dsts
}

// threadCPU is the CPU time of the calling thread.
func threadCPU(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return ts.Nano()
}

// BenchmarkClassify is the classifier alone on the NSX-like set: the
// lookups of one packet through the 40 tables (following each flow's
// goto_table) and the mask they report, without translating actions or
// running them. cpu-ns/op is the thread's CPU time per packet, which a busy
// machine's time slicing does not inflate as it does ns/op. nsx100k sends
// the 1,000 packets of BenchmarkProcess, whose lookups touch more of the
// set than the CPU's caches hold; nsx100k-1pkt one of them again and again,
// so that it measures the work more than the memory.
func BenchmarkClassify(b *testing.B) {
	p, dsts := nsxSet(b)
	pkts := benchPackets(b, len(dsts), func(i int) net.IP { return ipOf(dsts[i]) })
	keys := make([]Key, len(pkts))
	for i, pkt := range pkts {
		var l layout
		extract(pkt, 1, &keys[i], &l)
	}
	for _, npkt := range []int{len(keys), 1} {
		name := "nsx100k"
		if npkt == 1 {
			name += "-1pkt"
		}
		b.Run(name, func(b *testing.B) { benchClassify(b, p, keys[:npkt]) })
	}
}

func benchClassify(b *testing.B, p *Pipeline, keys []Key) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tables int
	b.ReportAllocs()
	b.ResetTimer()
	t0 := threadCPU(b)
	for i := 0; i < b.N; i++ {
		k := &keys[i%len(keys)]
		var seen Key
		for t := 0; t >= 0; tables++ {
			f := p.tables[t].lookup(k, &seen)
			if f == nil {
				break
			}
			t = f.prog.gotoTable
		}
	}
	cpu := threadCPU(b) - t0
	b.StopTimer()
	if tables != 40*b.N {
		b.Fatalf("%d table lookups for %d packets", tables, b.N)
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkFlowMod is the cost of flow setup into the NSX-like set: add is
// one FLOW_MOD ADD of a new flow (a /32 of ipv4_dst that no flow has, in
// one of the 40 tables, in turn), delete one DELETE_STRICT of such a flow.
// Each op is a whole FlowMod call: match and instruction checks, the
// classifier insert or remove, and the new generation.
func BenchmarkFlowMod(b *testing.B) {
	p, _ := nsxSet(b)
	n0 := p.nflows
	mod := func(i int, cmd uint8) *ofp.FlowMod {
		t := uint8(i % 40)
		next := []ofp.Instruction{gotoT(t + 1)}
		if t == 39 {
			next = []ofp.Instruction{apply(out(2))}
		}
		// 11.0.0.0/8: nsxLike's random addresses may fall there too,
		// but with another priority.
		fm := flowAdd(t, 200, match(u(ofp.OXMEthType, 0x800), ofp.NewOXM(ofp.OXMIPv4Dst, ipOf(0x0b000000+uint32(i)), nil)), next...)
		fm.Command = cmd
		return fm
	}
	for _, cmd := range []struct {
		name string
		cmd  uint8
	}{{"add", ofp.FlowAdd}, {"delete", ofp.FlowDeleteStrict}} {
		b.Run("nsx100k/"+cmd.name, func(b *testing.B) {
			fms := make([]*ofp.FlowMod, b.N)
			for i := range fms {
				fms[i] = mod(i, cmd.cmd)
				if cmd.cmd == ofp.FlowDeleteStrict {
					mustFlow(b, p, mod(i, ofp.FlowAdd))
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, fm := range fms {
				if _, err := p.FlowMod(fm); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if cmd.cmd == ofp.FlowAdd {
				for i := range fms {
					mustFlow(b, p, mod(i, ofp.FlowDeleteStrict))
				}
			}
			if p.nflows != n0 {
				b.Fatalf("%d flows after the run, want %d", p.nflows, n0)
			}
		})
	}
}
