package pipeline

import (
	"math/rand/v2"
	"testing"
)

// TestMegaflows checks the subtables against a map of masked keys: lookups
// of keys that differ outside a mask, of keys never inserted, replacement,
// growth, and clear.
func TestMegaflows(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var masks [3]Key
	masks[0][wPort] = ^uint64(0)                         // one word
	masks[1][wEth], masks[1][wIPv4] = 0xffff, ^uint64(0) // two words
	// masks[2] is all zero: every key is the same megaflow.
	randKey := func() (k Key) {
		for i := range k {
			k[i] = r.Uint64() & 0x3 // few values: repeats under a mask
		}
		return k
	}
	var c megaflows
	want := map[[2]Key]*program{} // mask, masked key
	for i := 0; i < 2000; i++ {
		m := &masks[r.IntN(len(masks))]
		k := randKey()
		pr := &program{}
		c.insert(&k, m, pr)
		want[[2]Key{*m, k.and(m)}] = pr
	}
	if c.n != len(want) {
		t.Fatalf("%d megaflows, want %d", c.n, len(want))
	}
	for i := 0; i < 5000; i++ {
		k := randKey()
		got := c.lookup(&k)
		var match []*program
		for j := range masks {
			if pr := want[[2]Key{masks[j], k.and(&masks[j])}]; pr != nil {
				match = append(match, pr)
			}
		}
		if got == nil && len(match) > 0 || got != nil && !contains(match, got) {
			t.Fatalf("lookup %x: %p, want one of %v", k, got, match)
		}
	}
	c.clear()
	if k := randKey(); c.lookup(&k) != nil || c.n != 0 {
		t.Fatal("not empty after clear")
	}
}

func contains(ps []*program, p *program) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
