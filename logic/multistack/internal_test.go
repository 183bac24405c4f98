package multistack

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
	"github.com/mswitch/mswitch/logic"
)

// refChecksum is RFC 1071's sum, 16 bits at a time.
func refChecksum(b []byte) bool {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return s == 0xffff
}

// TestChecksum compares checksumOK with the reference on random headers of
// every length, with their checksum set right (and then made wrong), and on
// headers of all ones (the end-around carries at their largest).
func TestChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for ihl := 5; ihl <= 15; ihl++ {
		for range 2000 {
			h := make([]byte, ihl*4)
			for i := range h {
				h[i] = byte(rng.Uint32())
			}
			if got, want := checksumOK(h), refChecksum(h); got != want {
				t.Fatalf("checksumOK(%x) = %v, want %v", h, got, want)
			}
			h[10], h[11] = 0, 0
			var s uint32
			for i := 0; i < len(h); i += 2 {
				s += uint32(binary.BigEndian.Uint16(h[i:]))
			}
			for s > 0xffff {
				s = s>>16 + s&0xffff
			}
			binary.BigEndian.PutUint16(h[10:], ^uint16(s))
			if !checksumOK(h) {
				t.Fatalf("checksumOK(%x) = false for a right checksum", h)
			}
			h[rng.IntN(len(h))] ^= 1 << rng.IntN(8)
			if got, want := checksumOK(h), refChecksum(h); got != want {
				t.Fatalf("checksumOK(%x) = %v, want %v", h, got, want)
			}
		}
		ones := make([]byte, ihl*4)
		for i := range ones {
			ones[i] = 0xff
		}
		if !checksumOK(ones) {
			t.Fatalf("checksumOK(all ones, %d bytes) = false", len(ones))
		}
	}
}

// TestIndex fills indexes of many sizes with keys that differ in one field
// at a time, and checks every hit and some misses against a map.
func TestIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 7, 100, 5000} {
		ref := map[key]logic.PortID{}
		for len(ref) < n {
			a := addr{lo: uint64(rng.IntN(4))}
			if rng.IntN(2) == 0 {
				a.hi = rng.Uint64() & 3
			}
			k := tupleKey(a, a.hi != 0, uint8(6+11*rng.IntN(2)), uint16(rng.IntN(n+1)))
			ref[k] = logic.PortID(rng.IntN(100))
		}
		x := newIndex(len(ref))
		for k, p := range ref {
			x.put(k, p)
		}
		for k, p := range ref {
			if got, ok := x.get(k); !ok || got != p {
				t.Fatalf("n=%d: get(%v) = %d, %v, want %d", n, k, got, ok, p)
			}
		}
		for range 1000 {
			k := tupleKey(addr{lo: rng.Uint64()}, false, 6, uint16(rng.Uint32()))
			got, ok := x.get(k)
			if want, wok := ref[k]; ok != wok || got != want {
				t.Fatalf("n=%d: get(%v) = %d, %v, want %d, %v", n, k, got, ok, want, wok)
			}
		}
	}
}

// parseSeeds are frames for FuzzParseFast and TestParseFast: fast is
// whether parseFast takes them.
var parseSeeds = []struct {
	b    []byte
	fast bool
}{
	{ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP}.Build(ft.UDP(1, 53, make([]byte, 18)))), true},
	{ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoTCP}.Build(ft.TCP(40000, 80))), true},
	{ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP}.Build(ft.UDP(1, 53, nil))), false}, // IP total 28: padding follows
	{ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoTCP, Options: 4}.Build(ft.TCP(1, 80))), false},
	{ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoTCP, More: true}.Build(ft.TCP(1, 80))), false},
	{ft.Frame(ft.Ethernet(frame.TypeIPv4, ft.VLAN{TPID: frame.TypeVLAN, VID: 1}), ft.IPv4{Proto: frame.ProtoTCP}.Build(ft.TCP(1, 80))), false},
	{ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoICMP}.Build(make([]byte, 40))), false},
	{ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv6{Next: frame.ProtoTCP}.Build(ft.TCP(1, 80))), false},
}

// TestParseFast checks that the fast path takes the frames it is for.
func TestParseFast(t *testing.T) {
	for i, s := range parseSeeds {
		var h headers
		if got := h.parseFast(s.b); got != s.fast {
			t.Errorf("seed %d: parseFast = %v, want %v", i, got, s.fast)
		}
	}
}

// FuzzParseFast checks that wherever parseFast takes a frame, parse reads
// the same headers from it.
func FuzzParseFast(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow headers
		if !fast.parseFast(b) {
			return
		}
		if c := slow.parse(b); c != clsL4 || slow != fast {
			t.Fatalf("parseFast: %+v; parse: %v, %+v", fast, c, slow)
		}
	})
}
