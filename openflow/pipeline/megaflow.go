package pipeline

import "slices"

// megaflows is a worker's megaflow cache: tuple space search over the masks
// of the translations, most-hit masks first.
//
// Each mask has its own hash table (a subtable), as OVS's dpcls: open
// addressing over the masked keys, which hashes and compares only the
// words the mask has bits in (a mask of IPv4 addresses and ports has four
// of the key's 16), where a Go map of Keys hashed and compared all 128
// bytes of each probe.
type megaflows struct {
	subs   []*mfSub
	n      int
	probes int
}

type mfSub struct {
	mask  Key
	words []uint8  // the indexes of mask's nonzero words
	slots []mfSlot // a power of two, at most half full
	n     int
	hits  uint64
}

// mfSlot is a subtable entry: prog nil for an empty one.
type mfSlot struct {
	prog *program
	hash uint64
	key  Key // masked
}

// mfSeeds key the words of the subtables' hash, two per word index.
var mfSeeds = func() (s [2 * keyWords]uint64) {
	x := uint64(0x2545f4914f6cdd1d)
	for i := range s {
		// splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		s[i] = z ^ z>>31 | 1
	}
	return s
}()

// hash hashes k masked by s's mask: independent 128-bit products of the
// used words, as Key.hash.
func (s *mfSub) hash(k *Key) uint64 {
	h := uint64(len(s.words))
	for _, i := range s.words {
		h += mum(k[i]&s.mask[i]^mfSeeds[2*i], mfSeeds[2*i+1])
	}
	return mum(h, 0x9e3779b97f4a7c15)
}

// holds reports whether slot e holds the masked key of k.
func (s *mfSub) holds(e *mfSlot, k *Key) bool {
	for _, i := range s.words {
		if e.key[i] != k[i]&s.mask[i] {
			return false
		}
	}
	return true
}

// find returns the slot of k's masked key of hash h: the one holding it, or
// the empty one where it would go.
func (s *mfSub) find(h uint64, k *Key) *mfSlot {
	m := uint64(len(s.slots) - 1)
	for i := h & m; ; i = (i + 1) & m {
		e := &s.slots[i]
		if e.prog == nil || e.hash == h && s.holds(e, k) {
			return e
		}
	}
}

func (c *megaflows) lookup(k *Key) *program {
	for _, s := range c.subs {
		if e := s.find(s.hash(k), k); e.prog != nil {
			s.hits++
			if c.probes++; c.probes&0xfff == 0 {
				c.rank()
			}
			return e.prog
		}
	}
	return nil
}

// rank orders the masks by recent hits, as OVS's dpcls sorts its
// subtables.
func (c *megaflows) rank() {
	slices.SortStableFunc(c.subs, func(a, b *mfSub) int {
		switch {
		case a.hits > b.hits:
			return -1
		case a.hits < b.hits:
			return 1
		}
		return 0
	})
	for _, s := range c.subs {
		s.hits /= 2
	}
}

func (c *megaflows) insert(k, mask *Key, pr *program) {
	var s *mfSub
	for _, t := range c.subs {
		if t.mask == *mask {
			s = t
			break
		}
	}
	if s == nil {
		s = &mfSub{mask: *mask, slots: make([]mfSlot, 8)}
		for i, w := range mask {
			if w != 0 {
				s.words = append(s.words, uint8(i))
			}
		}
		c.subs = append(c.subs, s)
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	h := s.hash(k)
	e := s.find(h, k)
	if e.prog == nil {
		e.hash, e.key = h, k.and(mask)
		s.n++
		c.n++
	}
	e.prog = pr
}

// grow doubles s's table.
func (s *mfSub) grow() {
	old := s.slots
	s.slots = make([]mfSlot, 2*len(old))
	m := uint64(len(s.slots) - 1)
	for i := range old {
		e := &old[i]
		if e.prog == nil {
			continue
		}
		j := e.hash & m
		for s.slots[j].prog != nil {
			j = (j + 1) & m
		}
		s.slots[j] = *e
	}
}

func (c *megaflows) clear() {
	clear(c.subs) // the old tables go now, not when their slot is reused
	c.subs = c.subs[:0]
	c.n = 0
}
