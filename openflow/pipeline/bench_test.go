package pipeline

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// benchFlows returns packets (60-byte UDP) that spread over n destination
// addresses.
func benchPackets(b *testing.B, n int, dst func(i int) net.IP) [][]byte {
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = buildPacket(b, pktSpec{proto: "udp", sport: 1000, dport: 53, dst: dst(i).String(), src: "10.255.0.1"})
	}
	return pkts
}

func ipOf(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// nsxLike installs about 100,000 flows over 40 tables, as the OVS paper's
// NSX rule set (103,302 rules in 40 tables): each table matches a different
// combination of fields with its own prefix lengths and sends on to a later
// table; the last one outputs.
func nsxLike(b *testing.B, p *Pipeline, dsts []uint32) {
	r := rand.New(rand.NewPCG(1, 2))
	const tables = 40
	for t := 0; t < tables; t++ {
		next := []ofp.Instruction{gotoT(uint8(t + 1))}
		if t == tables-1 {
			next = []ofp.Instruction{apply(out(2))}
		}
		mustFlow(b, p, flowAdd(uint8(t), 0, match(), next...))
		for i := 0; i < 2580; i++ {
			plen := []int{32, 24, 16, 28}[(t+i)%4]
			mask := ^uint32(0) << (32 - plen)
			var fs []ofp.OXM
			fs = append(fs, u(ofp.OXMEthType, 0x800))
			ip := r.Uint32()
			if i%3 == 0 {
				ip = dsts[r.IntN(len(dsts))] // some rules match the traffic
			}
			field := ofp.OXMIPv4Dst
			if t%3 == 1 {
				field = ofp.OXMIPv4Src
			}
			fs = append(fs, ofp.NewOXM(field, ipOf(ip&mask), ipOf(mask)))
			if t%4 == 2 {
				fs = append(fs, u(ofp.OXMIPProto, 17), u(ofp.OXMUDPDst, uint64(r.IntN(1024))))
			}
			if t%5 == 3 {
				fs = append(fs, u(ofp.OXMInPort, uint64(1+r.IntN(4))))
			}
			fm := flowAdd(uint8(t), uint16(1+r.IntN(100)), match(fs...), next...)
			if _, err := p.FlowMod(fm); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkProcess(b *testing.B) {
	type setup struct {
		name  string
		flows func(b *testing.B, p *Pipeline, dsts []uint32)
		npkt  int
	}
	setups := []setup{
		{"1flow", func(b *testing.B, p *Pipeline, _ []uint32) {
			mustFlow(b, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 1)), apply(out(2))))
		}, 1},
		{"1000flows", func(b *testing.B, p *Pipeline, dsts []uint32) {
			for _, d := range dsts {
				mustFlow(b, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800), ofp.NewOXM(ofp.OXMIPv4Dst, ipOf(d), nil)), apply(out(2))))
			}
		}, 1000},
		{"nsx100k", nsxLike, 1000},
	}
	for _, s := range setups {
		r := rand.New(rand.NewPCG(5, 5))
		dsts := make([]uint32, s.npkt)
		for i := range dsts {
			dsts[i] = 0x0a000000 | r.Uint32()&0xffffff
		}
		p := newTest(b, Options{})
		s.flows(b, p, dsts)
		pkts := benchPackets(b, s.npkt, func(i int) net.IP { return ipOf(dsts[i]) })
		// cache: all caches; exact: OVS's caches "off" (no EMC, exact-match
		// megaflows); nocache: none.
		for _, mode := range []string{"cache", "exact", "nocache"} {
			b.Run(s.name+"/"+mode, func(b *testing.B) {
				p.SetCaching(mode != "nocache")
				p.SetEMC(mode != "exact")
				p.SetMegaflowWildcards(mode != "exact")
				w := p.NewWorker()
				var res Result
				buf := make([]byte, 0, 2048)
				// One pass over the packets first: with caches, the timed
				// loop measures hits, not the first packets' translations
				// (1,000 of them on the NSX-like set are 20 ms).
				for _, pkt := range pkts {
					buf = append(buf[:0], pkt...)
					w.Process(buf, 1, &res)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					buf = append(buf[:0], pkts[i%len(pkts)]...)
					w.Process(buf, 1, &res)
				}
				b.StopTimer()
				if len(res.Outputs) != 1 {
					b.Fatalf("outputs %v", ports(&res))
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mp/s")
			})
		}
	}
}
