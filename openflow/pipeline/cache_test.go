package pipeline

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// randRules generates random flows over small value domains (so packets hit
// them) across tables chained by goto, with set-fields, write-actions and
// groups: the differential test's rule set.
type randGen struct {
	r      *rand.Rand
	tables int
}

var (
	randIPs   = []string{"10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.0.1"}
	randPorts = []uint64{53, 80, 443}
)

func (g *randGen) match() ofp.Match {
	r := g.r
	var fs []ofp.OXM
	if r.IntN(3) == 0 {
		fs = append(fs, u(ofp.OXMInPort, uint64(1+r.IntN(3))))
	}
	if r.IntN(4) == 0 {
		fs = append(fs, um(ofp.OXMMetadata, uint64(r.IntN(4)), 3))
	}
	switch r.IntN(4) {
	case 0:
		return ofp.Match{Fields: fs}
	case 1:
		fs = append(fs, u(ofp.OXMEthType, 0x806))
		return ofp.Match{Fields: fs}
	}
	fs = append(fs, u(ofp.OXMEthType, 0x800))
	if r.IntN(2) == 0 {
		ip := ip4(ofp.OXMIPv4Src, randIPs[r.IntN(len(randIPs))])
		if r.IntN(2) == 0 {
			ip.Mask = []byte{255, 255, 255, 0}
			ip.Value = []byte{ip.Value[0], ip.Value[1], ip.Value[2], 0}
		}
		fs = append(fs, ip)
	}
	if r.IntN(2) == 0 {
		fs = append(fs, ip4(ofp.OXMIPv4Dst, randIPs[r.IntN(len(randIPs))]))
	}
	if r.IntN(2) == 0 {
		proto := []uint64{6, 17}[r.IntN(2)]
		fs = append(fs, u(ofp.OXMIPProto, proto))
		if r.IntN(2) == 0 {
			f := ofp.OXMTCPDst
			if proto == 17 {
				f = ofp.OXMUDPDst
			}
			fs = append(fs, u(f, randPorts[r.IntN(len(randPorts))]))
		}
	}
	return ofp.Match{Fields: fs}
}

func (g *randGen) actions(m ofp.Match, groups bool) []ofp.Action {
	r := g.r
	var acts []ofp.Action
	for n := r.IntN(3); n >= 0; n-- {
		switch r.IntN(6) {
		case 0, 1:
			acts = append(acts, out(uint32(1+r.IntN(4))))
		case 2:
			acts = append(acts, setf(ofp.NewOXM(ofp.OXMEthDst, []byte{2, 0, 0, 0, 0, byte(r.IntN(3))}, nil)))
		case 3:
			if et, ok := m.Field(ofp.OXMEthType); ok && et.Uint() == 0x800 {
				acts = append(acts, setf(ip4(ofp.OXMIPv4Dst, randIPs[r.IntN(len(randIPs))])))
			} else {
				acts = append(acts, out(ofp.PortController))
			}
		case 4:
			if groups {
				acts = append(acts, ofp.ActionGroup{GroupID: uint32(1 + r.IntN(3))})
			}
		case 5:
			acts = append(acts, ofp.ActionDecNWTTL{})
		}
	}
	return acts
}

func (g *randGen) flowMod() *ofp.FlowMod {
	r := g.r
	t := uint8(r.IntN(g.tables))
	m := g.match()
	var insts []ofp.Instruction
	if r.IntN(3) > 0 {
		insts = append(insts, apply(g.actions(m, true)...))
	}
	if r.IntN(3) == 0 {
		insts = append(insts, writeActs(g.actions(m, true)...))
	}
	if r.IntN(4) == 0 {
		insts = append(insts, ofp.InstructionWriteMetadata{Metadata: uint64(r.IntN(4)), Mask: 3})
	}
	if int(t)+1 < g.tables && r.IntN(2) == 0 {
		insts = append(insts, gotoT(t+1+uint8(r.IntN(g.tables-int(t)-1))))
	}
	fm := flowAdd(t, uint16(r.IntN(8)), m, insts...)
	switch r.IntN(10) {
	case 0:
		fm.Command = ofp.FlowDelete
	case 1:
		fm.Command = ofp.FlowDeleteStrict
	case 2:
		fm.Command = ofp.FlowModify
	}
	return fm
}

func (g *randGen) groupMod(id uint32) *ofp.GroupMod {
	r := g.r
	gm := &ofp.GroupMod{Command: ofp.GroupAdd, GroupID: id, GroupType: []uint8{ofp.GroupTypeAll, ofp.GroupTypeSelect, ofp.GroupTypeFF}[r.IntN(3)]}
	for n := 1 + r.IntN(3); n > 0; n-- {
		b := bucketOf(g.actions(ofp.Match{}, false)...)
		b.Weight = uint16(r.IntN(3))
		if gm.GroupType == ofp.GroupTypeFF {
			b.WatchPort = uint32(1 + r.IntN(4))
		}
		gm.Buckets = append(gm.Buckets, b)
	}
	return gm
}

func (g *randGen) packet(t testing.TB) ([]byte, uint32) {
	r := g.r
	s := pktSpec{src: randIPs[r.IntN(len(randIPs))], dst: randIPs[r.IntN(len(randIPs))],
		proto: []string{"tcp", "udp"}[r.IntN(2)], sport: uint16(1 + r.IntN(3)), dport: uint16(randPorts[r.IntN(len(randPorts))]),
		ttl: uint8(1 + r.IntN(3)), arp: r.IntN(5) == 0, vlan: r.IntN(2) * (1 + r.IntN(2))}
	return buildPacket(t, s), uint32(1 + r.IntN(4))
}

func describe(r *Result, pkt []byte) string {
	s := fmt.Sprintf("final %x invalidTTL=%v;", pkt, r.InvalidTTL)
	for _, o := range r.Outputs {
		b := pkt
		if o.Version >= 0 {
			b = r.Copies[o.Version]
		}
		s += fmt.Sprintf(" %d/%d/%d/%x/%x", o.Port, o.Reason, o.TableID, o.Metadata, b)
	}
	return s
}

// TestCacheDifferential runs random packets through a cached and an
// uncached pipeline holding the same random rules, changing the rules and
// port liveness in between: results and counters must agree, so the cache
// is never stale and never too wide.
func TestCacheDifferential(t *testing.T) {
	rounds, pkts := 40, 200
	if testing.Short() {
		rounds = 10
	}
	for seed := uint64(1); seed <= 5; seed++ {
		live := map[uint32]bool{1: true, 2: true, 3: true, 4: true}
		opts := Options{Tables: 4, PortLive: func(p uint32) bool { return live[p] }}
		switch seed {
		case 3:
			// A megaflow cache this small is emptied all the time: lazily
			// counted programs are retired with counts still to credit.
			opts.MaxMegaflows = 4
		case 4:
			// OVS's caches "off": no EMC, exact-match megaflows.
			opts.NoEMC, opts.ExactMegaflows = true, true
		case 5:
			opts.ExactMegaflows = true
		}
		cached := newTest(t, opts)
		opts.NoCache, opts.NoEMC, opts.ExactMegaflows = true, false, false
		plain := newTest(t, opts)
		g := &randGen{r: rand.New(rand.NewPCG(seed, 7)), tables: 4}
		for id := uint32(1); id <= 3; id++ {
			gm := g.groupMod(id)
			mustGroup(t, cached, gm)
			mustGroup(t, plain, gm)
		}
		for i := 0; i < 100; i++ {
			fm := g.flowMod()
			_, e1 := cached.FlowMod(fm)
			_, e2 := plain.FlowMod(fm)
			if (e1 == nil) != (e2 == nil) {
				t.Fatal("flow_mod results differ")
			}
		}
		wc, wp := cached.NewWorker(), plain.NewWorker()
		var rc, rp Result
		for round := 0; round < rounds; round++ {
			for i := 0; i < pkts; i++ {
				pkt, in := g.packet(t)
				// Repeat each packet so that hits come from both caches.
				for rep := 0; rep < 2; rep++ {
					a := append(make([]byte, 0, cap(pkt)), pkt...)
					b := append(make([]byte, 0, cap(pkt)), pkt...)
					oa := wc.Process(a, in, &rc)
					ob := wp.Process(b, in, &rp)
					if da, db := describe(&rc, oa), describe(&rp, ob); da != db {
						t.Fatalf("seed %d round %d: cached (%v) and uncached differ\ncached: %s\nplain:  %s\n%s",
							seed, round, rc.Cache, da, db, plain.Trace(pkt, in))
					}
				}
			}
			// Change the rules, the groups and port liveness.
			for i := 0; i < 5; i++ {
				fm := g.flowMod()
				cached.FlowMod(fm)
				plain.FlowMod(fm)
			}
			if round%5 == 0 {
				gm := g.groupMod(uint32(1 + g.r.IntN(3)))
				gm.Command = ofp.GroupModify
				cached.GroupMod(gm)
				plain.GroupMod(gm)
				live[uint32(1+g.r.IntN(4))] = g.r.IntN(2) == 0
				cached.PortChanged()
				plain.PortChanged()
			}
		}
		req := &ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
		sa, _ := cached.FlowStats(req)
		sb, _ := plain.FlowStats(req)
		for i := range sa.Stats {
			sa.Stats[i].DurationSec, sa.Stats[i].DurationNsec = 0, 0
			sb.Stats[i].DurationSec, sb.Stats[i].DurationNsec = 0, 0
		}
		if fmt.Sprint(sa) != fmt.Sprint(sb) || fmt.Sprint(cached.TableStats()) != fmt.Sprint(plain.TableStats()) {
			t.Fatal("counters differ between cached and uncached")
		}
		greq := &ofp.GroupStatsRequest{GroupID: ofp.GroupAll}
		ga, gb := cached.GroupStats(greq), plain.GroupStats(greq)
		for i := range ga.Stats {
			ga.Stats[i].DurationSec, ga.Stats[i].DurationNsec = 0, 0
			gb.Stats[i].DurationSec, gb.Stats[i].DurationNsec = 0, 0
		}
		if fmt.Sprint(ga) != fmt.Sprint(gb) {
			t.Fatalf("group counters differ between cached and uncached:\n%v\n%v", ga, gb)
		}
		st := cached.CacheStats()
		t.Logf("seed %d: %d flows; cache %+v", seed, len(sa.Stats), st)
		// Seed 5's exact megaflows hold only what its EMC holds too.
		if (st.EMCHits == 0) != (seed == 4) || (st.MegaflowHits == 0) != (seed == 5) {
			t.Fatal("caches unused, or the EMC used when off")
		}
	}
}

// TestConcurrent processes packets from two goroutines while flows and
// groups change (run it with -race).
func TestConcurrent(t *testing.T) {
	p := newTest(t, Options{Tables: 4})
	g := &randGen{r: rand.New(rand.NewPCG(9, 9)), tables: 4}
	for id := uint32(1); id <= 3; id++ {
		mustGroup(t, p, g.groupMod(id))
	}
	var packets [][]byte
	var ins []uint32
	for i := 0; i < 256; i++ {
		pkt, in := g.packet(t)
		packets, ins = append(packets, pkt), append(ins, in)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := p.NewWorker()
			var res Result
			buf := make([]byte, 0, 2048)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				j := i % len(packets)
				buf = append(buf[:0], packets[j]...)
				wk.Process(buf, ins[j], &res)
			}
		}()
	}
	fr := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 2000; i++ {
		p.FlowMod(g.flowMod())
		if i%50 == 0 {
			gm := g.groupMod(uint32(1 + fr.IntN(3)))
			gm.Command = ofp.GroupModify
			p.GroupMod(gm)
			p.TableStats()
			p.FlowStats(&ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
		}
	}
	close(stop)
	wg.Wait()
}

func TestZeroAllocCacheHit(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 17)),
		apply(out(2), setf(ip4(ofp.OXMIPv4Dst, "10.1.1.1")), out(3))))
	w := p.NewWorker()
	var res Result
	orig := buildPacket(t, pktSpec{})
	buf := make([]byte, 0, 2048)
	for _, emc := range []bool{true, false} {
		if !emc {
			// Defeat the EMC: every packet a new key, all in one megaflow.
			p.PortChanged()
		}
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			buf = append(buf[:0], orig...)
			if !emc {
				buf[28], buf[29] = byte(i>>8), byte(i) // IPv4 source
				i++
			}
			w.Process(buf, 1, &res)
		})
		if allocs != 0 || len(res.Outputs) != 2 {
			t.Fatalf("emc=%v: %v allocs per packet (outputs %v)", emc, allocs, ports(&res))
		}
	}
	if st := p.CacheStats(); st.MegaflowHits < 900 {
		t.Fatalf("megaflow hits %+v", st)
	}
}

// TestCacheModes checks what each cache setting does with 10 microflows
// that one wildcarded rule forwards, each sent 3 times: with wildcards, one
// translation; with exact megaflows, one per microflow; without an EMC, no
// EMC hits; without caches, 30 translations. Every change empties the
// caches, and the trace says what kind of megaflow a packet gets.
func TestCacheModes(t *testing.T) {
	p := newTest(t, Options{Tables: 1})
	mustFlow(t, p, flowAdd(0, 10, match(u(ofp.OXMEthType, 0x0800)), apply(out(2))))
	w := p.NewWorker()
	var res Result
	send := func() CacheStats {
		before := p.CacheStats()
		for rep := 0; rep < 3; rep++ {
			for i := 0; i < 10; i++ {
				pkt := buildPacket(t, pktSpec{proto: "udp", src: "10.0.0.1", dst: "10.0.0.2", sport: uint16(1000 + i), dport: 53})
				w.Process(pkt, 1, &res)
				if got := ports(&res); len(got) != 1 || got[0] != 2 {
					t.Fatalf("output %v, want [2]", got)
				}
			}
		}
		after := p.CacheStats()
		return CacheStats{EMCHits: after.EMCHits - before.EMCHits, MegaflowHits: after.MegaflowHits - before.MegaflowHits,
			Misses: after.Misses - before.Misses}
	}
	pkt := buildPacket(t, pktSpec{proto: "udp", src: "10.0.0.1", dst: "10.0.0.2", sport: 1000, dport: 53})
	for _, c := range []struct {
		name                   string
		caching, emc, wildcard bool
		want                   CacheStats
		trace                  string
	}{
		{"all on", true, true, true, CacheStats{EMCHits: 20, MegaflowHits: 9, Misses: 1}, "megaflow: eth_type=0x800\n"},
		{"exact megaflows", true, true, false, CacheStats{EMCHits: 20, Misses: 10}, "(exact: wildcards are off)"},
		{"no emc, exact megaflows (OVS's caches off)", true, false, false, CacheStats{MegaflowHits: 20, Misses: 10}, "(exact: wildcards are off)"},
		{"no emc", true, false, true, CacheStats{MegaflowHits: 29, Misses: 1}, "megaflow: eth_type=0x800\n"},
		{"off", false, false, true, CacheStats{Misses: 30}, "megaflow: none (the caches are off)"},
		{"on again", true, true, true, CacheStats{EMCHits: 20, MegaflowHits: 9, Misses: 1}, "megaflow: eth_type=0x800\n"},
	} {
		p.SetCaching(c.caching)
		p.SetEMC(c.emc)
		p.SetMegaflowWildcards(c.wildcard)
		if ca, e, wc := p.CacheMode(); ca != c.caching || e != c.emc || wc != c.wildcard {
			t.Fatalf("%s: CacheMode %v %v %v", c.name, ca, e, wc)
		}
		if got := send(); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if tr := p.Trace(pkt, 1); !strings.Contains(tr, c.trace) {
			t.Errorf("%s: trace does not say %q:\n%s", c.name, c.trace, tr)
		}
	}
}
