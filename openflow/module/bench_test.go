package ofmodule

import (
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/openflow/ofp"
	"github.com/mswitch/mswitch/port/pipe"
)

// BenchmarkOpenflow forwards 60-byte UDP frames from an inline pipe port
// (prefilled, replayed: the source costs nothing) to a pipe port that
// drains for free, through the openflow module, in the benchmark's
// goroutine: the cost of the module and the fabric per packet.
func BenchmarkOpenflow(b *testing.B) {
	sets := []struct {
		name  string
		flows func() []*ofp.FlowMod
	}{
		{"1flow", func() []*ofp.FlowMod { return []*ofp.FlowMod{flowAdd(1, 1, out(2))} }},
		{"1000flows", func() []*ofp.FlowMod { return macFlows(1000) }},
		{"large", largeRuleSet},
	}
	for _, s := range sets {
		for _, cache := range []bool{true, false} {
			name := s.name + "/cache=off"
			if cache {
				name = s.name + "/cache=on"
			}
			b.Run(name, func(b *testing.B) { benchForward(b, s.flows(), cache) })
		}
	}
}

// benchFrame is a UDP frame to 02:00:00:00:00:05 (matched by macFlows).
func benchFrame() []byte {
	f := make([]byte, 60)
	copy(f, []byte{0x02, 0, 0, 0, 0, 0x05, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00,
		0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x30, 0x39, 0x00, 0x35, 0, 26, 0, 0})
	return f
}

func macFlows(n int) []*ofp.FlowMod {
	var fms []*ofp.FlowMod
	for i := 0; i < n; i++ {
		fm := flowAdd(10, 0, out(2))
		fm.Match.Fields = []ofp.OXM{ofp.NewOXM(ofp.OXMEthDst, []byte{2, 0, 0, 0, byte(i >> 8), byte(i)}, nil)}
		fms = append(fms, fm)
	}
	return fms
}

// largeRuleSet: table 0 has 1000 MAC flows and 1000 /32 IPv4 flows at
// higher priority, which go to table 1, where 1000 UDP port flows and a
// catch-all output; the benchmark frame goes through both tables.
func largeRuleSet() []*ofp.FlowMod {
	fms := macFlows(1000)
	for i := 0; i < 1000; i++ {
		fm := flowAdd(20, 0)
		fm.Match.Fields = []ofp.OXM{ofp.NewOXMUint(ofp.OXMEthType, 0x800),
			ofp.NewOXM(ofp.OXMIPv4Dst, []byte{10, 0, byte(i >> 8), byte(i)}, nil)}
		fm.Instructions = []ofp.Instruction{ofp.InstructionGotoTable{TableID: 1}}
		fms = append(fms, fm)
	}
	for i := 0; i < 1000; i++ {
		fm := flowAdd(20, 0, out(2))
		fm.TableID = 1
		fm.Match.Fields = []ofp.OXM{ofp.NewOXMUint(ofp.OXMEthType, 0x800), ofp.NewOXMUint(ofp.OXMIPProto, 17),
			ofp.NewOXMUint(ofp.OXMUDPDst, uint64(1000+i))}
		fms = append(fms, fm)
	}
	all := flowAdd(1, 0, out(2))
	all.TableID = 1
	return append(fms, all)
}

func benchForward(b *testing.B, fms []*ofp.FlowMod, cache bool) {
	m, err := New(Config{Targets: []string{}, NoCache: !cache})
	if err != nil {
		b.Fatal(err)
	}
	sw, err := fabric.New("bench", fabric.Options{Logic: m, Batch: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer sw.Close()
	src, _ := pipe.New(pipe.Options{})
	dst, _ := pipe.New(pipe.Options{DrainForFree: true})
	in, err := sw.Attach(src, fabric.PortConfig{Name: "src", Inline: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sw.Attach(dst, fabric.PortConfig{Name: "dst"}); err != nil {
		b.Fatal(err)
	}
	if err := m.Start(sw); err != nil {
		b.Fatal(err)
	}
	for _, fm := range fms {
		if _, err := m.Pipeline().FlowMod(fm); err != nil {
			b.Fatal(err)
		}
	}
	end := src.End()
	if err := end.Prefill(0, benchFrame()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		n, _ := end.Replay(0, min(256, b.N-sent))
		for k := n; k > 0; {
			f, err := sw.Forward(in, 0)
			if err != nil {
				b.Fatal(err)
			}
			k -= f
		}
		sent += n
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(sent)/el.Seconds()/1e6, "Mp/s")
	st, _ := sw.PortStats(1)
	if st.TxPackets == 0 {
		b.Fatal("nothing forwarded")
	}
}
