package pipeline

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// clsGen makes random flows for a bare table: a few masks over prefixes of
// the IPv4 and IPv6 addresses, in_port, metadata (arbitrary masks) and the
// transport ports, over small value domains so that flows overlap and
// packets hit them, with few priorities so that ties happen.
type clsGen struct{ r *rand.Rand }

func (g *clsGen) value(word int) uint64 {
	r := g.r
	switch word {
	case wIPv4:
		return uint64(0x0a000000|r.Uint32N(4)<<8|r.Uint32N(3))<<32 | uint64(0xc0a80000|r.Uint32N(2)<<12|r.Uint32N(3))
	case 7, 9:
		return 0x20010db8<<32 | uint64(r.IntN(3))<<60>>32
	case 8, 10:
		return uint64(r.IntN(3))<<63 | uint64(r.IntN(3))
	case wPort:
		return uint64(1+r.IntN(3))<<32 | uint64(1+r.IntN(3))
	case wMeta:
		return uint64(r.IntN(8)) * 0x0101010101010101
	case wIP:
		return uint64(6+11*r.IntN(2))<<56 | uint64(53+r.IntN(2))<<32 | uint64(80+r.IntN(2))<<16
	}
	return uint64(r.IntN(2))
}

func prefixMask(plen int) uint64 {
	if plen == 0 {
		return 0
	}
	return ^uint64(0) << (64 - plen)
}

func (g *clsGen) mask() Key {
	r := g.r
	var m Key
	if r.IntN(3) == 0 {
		m[wPort] = 0xffffffff << 32
	}
	if r.IntN(4) == 0 {
		m[wMeta] = []uint64{3, 0xff00, 0x0f0f}[r.IntN(3)]
	}
	if r.IntN(2) == 0 {
		m[wEth] = 0xffff
		m[wIPv4] = prefixMask([]int{0, 8, 16, 22, 24, 32}[r.IntN(6)]) | prefixMask([]int{0, 16, 24, 30, 32}[r.IntN(5)])>>32
	} else if r.IntN(2) == 0 {
		m[wEth] = 0xffff
		p := []int{0, 32, 48, 64, 65, 96, 128}[r.IntN(7)]
		m[7], m[8] = prefixMask(min(p, 64)), prefixMask(max(p-64, 0))
	}
	if r.IntN(2) == 0 {
		m[wIP] = 0xff<<56 | []uint64{0, 0xffff << 32, 0xffff << 16, 0xff00 << 16}[r.IntN(4)]
	}
	return m
}

func (g *clsGen) key() Key {
	var k Key
	for _, w := range []int{wPort, wMeta, wEth, wIP, wIPv4, 7, 8, 9, 10} {
		k[w] = g.value(w)
	}
	k[wEth] = 0x800 | uint64(g.r.IntN(2))<<16
	return k
}

// bestOf is the priority of the best flow of fs matching k, or -1.
func bestOf(fs map[*flow]bool, k *Key) int {
	best := -1
	for f := range fs {
		if k.and(&f.mask) == f.val {
			best = max(best, int(f.priority))
		}
	}
	return best
}

// TestClassifier checks table lookups against a linear search while flows
// come and go, and the mask a lookup reports: every key that agrees with
// the looked-up one on it must find the same flow (else a megaflow would
// forward by the wrong rule).
func TestClassifier(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		g := &clsGen{r: rand.New(rand.NewPCG(seed, 11))}
		tb := newTable(0)
		live := map[*flow]bool{}
		masks := make([]Key, 12)
		for i := range masks {
			masks[i] = g.mask()
		}
		check := func(round int) {
			for i := 0; i < 300; i++ {
				k := g.key()
				var seen Key
				f := tb.lookup(&k, &seen)
				want := bestOf(live, &k)
				if got := -1; f != nil {
					got = int(f.priority)
					if !live[f] || k.and(&f.mask) != f.val {
						t.Fatalf("seed %d round %d: lookup returned a flow that is gone or does not match", seed, round)
					}
					if got != want {
						t.Fatalf("seed %d round %d: priority %d, want %d", seed, round, got, want)
					}
				} else if want != -1 {
					t.Fatalf("seed %d round %d: no match, want priority %d", seed, round, want)
				}
				for j := 0; j < 8; j++ {
					k2 := g.key()
					for w := range k2 {
						k2[w] = k2[w]&^seen[w] | k[w]&seen[w]
					}
					var seen2 Key
					if f2 := tb.lookup(&k2, &seen2); f2 != f {
						t.Fatalf("seed %d round %d: a key that agrees on the reported mask %x finds another flow", seed, round, seen)
					}
				}
			}
		}
		for round := 0; round < 30; round++ {
			for i := 0; i < 40; i++ {
				m := masks[g.r.IntN(len(masks))]
				v := g.key()
				v = v.and(&m)
				pri := uint16(g.r.IntN(6))
				if old := tb.find(&v, &m, pri); old != nil {
					tb.remove(old)
					delete(live, old)
				}
				f := &flow{priority: pri, val: v, mask: m}
				tb.insert(f)
				live[f] = true
			}
			check(round)
			// Remove a third of the flows, in no particular order.
			for f := range live {
				if g.r.IntN(3) == 0 {
					tb.remove(f)
					delete(live, f)
				}
			}
			check(round)
			n := 0
			tb.each(func(f *flow) {
				if !live[f] || tb.find(&f.val, &f.mask, f.priority) != f {
					t.Fatalf("seed %d round %d: each visits a flow that is gone or cannot be found", seed, round)
				}
				n++
			})
			if n != len(live) || tb.n != len(live) {
				t.Fatalf("seed %d round %d: %d flows visited, n %d, want %d", seed, round, n, tb.n, len(live))
			}
		}
		for f := range live {
			tb.remove(f)
		}
		if len(tb.subs) != 0 || len(tb.byMask) != 0 || tb.n != 0 {
			t.Fatalf("seed %d: table not empty after removing everything", seed)
		}
	}
}

// TestSubtableIndex fills one subtable past several growths and empties it
// in random order, which moves entries back over the holes.
func TestSubtableIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var m Key
	m[wIPv4] = 0xff
	tb := newTable(0)
	var fs []*flow
	for v := range 256 {
		var val Key
		val[wIPv4] = uint64(v)
		f := &flow{priority: uint16(r.IntN(3)), val: val, mask: m}
		tb.insert(f)
		fs = append(fs, f)
	}
	r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	for i, f := range fs {
		tb.remove(f)
		for _, g := range fs[i+1:] {
			var seen Key
			if got := tb.lookup(&g.val, &seen); got != g {
				t.Fatalf("after %d removals: value %d not found", i+1, g.val[wIPv4])
			}
		}
		var seen Key
		if got := tb.lookup(&f.val, &seen); got != nil {
			t.Fatalf("removed value %d still found", f.val[wIPv4])
		}
	}
}

// FuzzClassifier puts a table through the adds, removes and lookups its
// input chooses (three bytes an operation) and checks each lookup as
// TestClassifier does.
func FuzzClassifier(f *testing.F) {
	f.Add([]byte{0, 1, 2, 4, 1, 3, 3, 1, 2, 2, 0, 0, 3, 1, 3})
	f.Add([]byte{8, 5, 5, 12, 5, 1, 1, 5, 4, 3, 5, 5, 2, 1, 1, 3, 5, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		g := &clsGen{r: rand.New(rand.NewPCG(1, 11))}
		masks := make([]Key, 12)
		for i := range masks {
			masks[i] = g.mask()
		}
		tb := newTable(0)
		live := map[*flow]bool{}
		var fs []*flow // live, in the order they came
		for ; len(ops) >= 3; ops = ops[3:] {
			op, a, c := ops[0], ops[1], ops[2]
			kg := &clsGen{r: rand.New(rand.NewPCG(uint64(a), uint64(c)))}
			k := kg.key()
			switch op % 4 {
			case 0, 1:
				m := masks[int(op/4)%len(masks)]
				v := k.and(&m)
				pri := uint16(c % 6)
				if old := tb.find(&v, &m, pri); old != nil {
					tb.remove(old)
					delete(live, old)
					fs = slices.DeleteFunc(fs, func(f *flow) bool { return f == old })
				}
				nf := &flow{priority: pri, val: v, mask: m}
				tb.insert(nf)
				live[nf] = true
				fs = append(fs, nf)
			case 2:
				if len(fs) > 0 {
					i := int(a) % len(fs)
					tb.remove(fs[i])
					delete(live, fs[i])
					fs = slices.Delete(fs, i, i+1)
				}
			case 3:
				var seen Key
				got := tb.lookup(&k, &seen)
				want := bestOf(live, &k)
				if got == nil && want != -1 || got != nil && (!live[got] || int(got.priority) != want || k.and(&got.mask) != got.val) {
					t.Fatalf("lookup does not find the best flow (want priority %d)", want)
				}
				for j := 0; j < 4; j++ {
					k2 := kg.key()
					for w := range k2 {
						k2[w] = k2[w]&^seen[w] | k[w]&seen[w]
					}
					var seen2 Key
					if tb.lookup(&k2, &seen2) != got {
						t.Fatalf("a key that agrees on the reported mask %x finds another flow", seen)
					}
				}
			}
			if tb.n != len(fs) {
				t.Fatalf("table has %d flows, want %d", tb.n, len(fs))
			}
		}
	})
}
