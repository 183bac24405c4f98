package vnet

import (
	"fmt"
	"testing"
)

func TestDetectPartial(t *testing.T) {
	for _, spec := range []pktSpec{
		{gso: GSOTCPv4, payload: 1400},
		{gso: GSOTCPv4, payload: 0, vlans: 1},
		{gso: GSOTCPv6, payload: 1401, vlans: 2},
		{gso: GSOUDPL4, payload: 30},
		{gso: GSOUDPL4, v6: true, payload: 8000},
	} {
		pkt, h, _, _ := build(t, spec) // partial, as a sender with offload leaves it
		for _, size := range []int{0, 2048, 7} {
			t.Run(fmt.Sprintf("gso%d/%dB/buf%d", spec.gso, len(pkt), size), func(t *testing.T) {
				bufs := [][]byte{append([]byte(nil), pkt...)}
				if size != 0 {
					bufs = chain(append([]byte(nil), pkt...), size)
				}
				if size == 7 {
					if _, ok := DetectPartial(bufs); ok {
						t.Fatal("headers beyond the first buffer taken as partial")
					}
					return
				}
				got, ok := DetectPartial(bufs)
				if !ok || got.CsumStart != h.CsumStart || got.CsumOffset != h.CsumOffset || !got.NeedsCsum() {
					t.Fatalf("DetectPartial = %+v, %v; want the checksum at %d+%d", got, ok, h.CsumStart, h.CsumOffset)
				}
				if err := FinishChecksum(bufs, got); err != nil {
					t.Fatal(err)
				}
				if h, ok := DetectPartial(bufs); ok {
					t.Fatalf("a complete packet taken as partial: %+v", h)
				}
			})
		}
	}
}

func TestDetectPartialNotIP(t *testing.T) {
	for _, pkt := range [][]byte{nil, make([]byte, 14), make([]byte, 60)} {
		if _, ok := DetectPartial([][]byte{pkt}); ok {
			t.Errorf("%d zero bytes taken as partial", len(pkt))
		}
	}
	pkt, _, _, l4 := build(t, pktSpec{gso: GSOTCPv4, payload: 100})
	if _, ok := DetectPartial([][]byte{pkt[:l4+10]}); ok {
		t.Error("a truncated TCP header taken as partial")
	}
	if _, ok := DetectPartial([][]byte{pkt[:len(pkt)-1]}); ok {
		t.Error("a packet shorter than its IP length taken as partial")
	}
}

func TestDetectPartialAllocs(t *testing.T) {
	pkt, _, _, _ := build(t, pktSpec{gso: GSOTCPv4, payload: 1400})
	bufs := [][]byte{pkt}
	if n := testing.AllocsPerRun(100, func() { DetectPartial(bufs) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkDetectPartial(b *testing.B) {
	pkt, h, _, _ := build(b, pktSpec{gso: GSOTCPv4, payload: 1400})
	done := append([]byte(nil), pkt...)
	FinishChecksumFlat(done, h)
	for _, c := range []struct {
		name string
		pkt  []byte
	}{{"partial", pkt}, {"complete", done}} {
		b.Run(c.name, func(b *testing.B) {
			bufs := [][]byte{c.pkt}
			for b.Loop() {
				DetectPartial(bufs)
			}
		})
	}
}

func FuzzDetectPartial(f *testing.F) {
	for _, s := range []pktSpec{{gso: GSOTCPv4, payload: 100}, {gso: GSOUDPL4, v6: true, payload: 40}} {
		pkt, _, _, _ := build(f, s)
		f.Add(pkt, 0)
		f.Add(pkt, 50)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, cut int) {
		bufs := [][]byte{pkt}
		if cut > 0 && cut < len(pkt) {
			bufs = [][]byte{pkt[:cut], pkt[cut:]}
		}
		h, ok := DetectPartial(bufs)
		if !ok {
			return
		}
		if err := FinishChecksum(bufs, h); err != nil {
			t.Fatalf("detected %+v, but FinishChecksum: %v", h, err)
		}
	})
}

func TestInferGSO(t *testing.T) {
	for _, spec := range []pktSpec{{gso: GSOTCPv4, payload: 20000}, {gso: GSOTCPv6, payload: 9000, vlans: 1}} {
		pkt, _, payload, _ := build(t, spec)
		bufs := chain(pkt, 4096)
		h, ok := InferOffload(bufs, 1500)
		if !ok || h.GSO() != spec.gso {
			t.Fatalf("InferOffload = %+v, %v; want GSO type %d", h, ok, spec.gso)
		}
		pl, err := NewPlan(h, bufs)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for k := 0; k < pl.Segments(); k++ {
			seg := make([]byte, pl.SegmentLen(k))
			n, err := pl.WriteSegment(seg, bufs, k)
			if err != nil {
				t.Fatal(err)
			}
			if ip := n - 14 - 4*spec.vlans; ip > 1500 {
				t.Fatalf("segment %d: IP packet of %d bytes, MTU 1500", k, ip)
			}
			got = append(got, seg[pl.HdrLen():n]...)
		}
		if string(got) != string(payload) {
			t.Fatal("segments do not carry the payload")
		}
		// The same packet within the MTU is no GSO packet.
		if h, _ := InferOffload(bufs, 65000); h.GSO() != GSONone {
			t.Fatalf("within the MTU: %+v", h)
		}
	}
}
