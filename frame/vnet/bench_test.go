package vnet

import (
	"fmt"
	"testing"
)

// reportGbps adds the throughput in Gb/s of n bytes per operation.
func reportGbps(b *testing.B, n int) {
	b.ReportMetric(float64(n)*8*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "Gb/s")
}

func BenchmarkFinishChecksum(b *testing.B) {
	for _, size := range []int{1500, 65000} {
		pkt, h, _, _ := build(b, pktSpec{gso: GSOTCPv4, payload: size - 66})
		b.Run(fmt.Sprintf("%dB/flat", len(pkt)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				_ = FinishChecksumFlat(pkt, h)
			}
			reportGbps(b, len(pkt))
		})
		bufs := chain(pkt, 2048)
		b.Run(fmt.Sprintf("%dB/chain2048", len(pkt)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				_ = FinishChecksum(bufs, h)
			}
			reportGbps(b, len(pkt))
		})
	}
}

// BenchmarkSegment cuts a 64 KB TCP packet into 45 segments of 1448 bytes
// of payload, plan included; the throughput counts the source packet.
func BenchmarkSegment(b *testing.B) {
	for _, tc := range []struct {
		name string
		gso  uint8
		mss  uint16
	}{{"tcp4", GSOTCPv4, 1448}, {"tcp6", GSOTCPv6, 1428}, {"uso4", GSOUDPL4, 1472}} {
		pkt, h, _, _ := build(b, pktSpec{gso: tc.gso, payload: 44*int(tc.mss) + 1000, mss: tc.mss})
		for _, bufSize := range []int{0, 2048} {
			src := [][]byte{pkt}
			name := fmt.Sprintf("%s/%dB/flat", tc.name, len(pkt))
			if bufSize > 0 {
				src = chain(pkt, bufSize)
				name = fmt.Sprintf("%s/%dB/chain%d", tc.name, len(pkt), bufSize)
			}
			dst := make([]byte, 2048)
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(pkt)))
				for b.Loop() {
					p, err := NewPlan(h, src)
					if err != nil {
						b.Fatal(err)
					}
					for k := range p.Segments() {
						if _, err := p.WriteSegment(dst, src, k); err != nil {
							b.Fatal(err)
						}
					}
				}
				reportGbps(b, len(pkt))
			})
		}
	}
}
