package pipeline

import (
	"cmp"
	"math/bits"
	"slices"
	"sync/atomic"
)

// A table is one OpenFlow flow table, organised for tuple space search as
// OVS's classifier is: flows are grouped by mask into subtables, each a hash
// table from masked key to the flows with that masked value. A lookup visits
// subtables in decreasing order of the highest priority they hold and stops
// as soon as no remaining subtable can beat the best match, and it reports
// the masks of the subtables it visited: those are the only key bits the
// result depends on, which is what a megaflow needs.
//
// Tables are read by the slow path under Pipeline.mu held for reading and
// changed under it held for writing.
type table struct {
	id     uint8
	subs   []*subtable // by maxPri, highest first
	byMask map[Key]*subtable
	n      int

	lookups atomic.Uint64
	matched atomic.Uint64
}

// A subtable holds the flows of one mask. It keeps only the words of the
// key its mask has bits in (nw of them, usually two to four of sixteen), so
// hashing and comparing a packet costs a few words, not a whole Key.
//
// Flows with the same masked value form a rule: the rule's flows are chained
// by flow.next, highest priority first. (Two flows of one rule cannot have
// the same priority: they would have the same match, and an add replaces.)
// Rules are numbered densely; rule r's masked value is vals[r*nw:(r+1)*nw]
// and its first flow heads[r]. The index is open addressing with linear
// probing, kept at most half full, in two arrays: tags, 16 bits of each
// rule's hash (0: empty slot), and ents, the rule's number (low 32 bits)
// and the priority of its first flow (the 16 above). A probe that misses
// (most of them) reads only tags, 2 bytes a slot, so the tags of every
// subtable of a large rule set stay in the CPU's caches; a hit reads the
// rule's entry and value, and its flow only if it beats the best so far.
// The fields a lookup reads come first in the struct.
type subtable struct {
	maxPri int32
	nw     int32
	words  [keyWords]uint8 // the mask's nonzero words, ascending
	tags   []uint16
	ents   []uint64
	vals   []uint64
	heads  []*flow
	mw     [keyWords]uint64 // the masks of words

	mask Key
	pris map[uint16]int // how many flows have each priority
}

func newTable(id uint8) *table {
	return &table{id: id, byMask: make(map[Key]*subtable)}
}

func newSubtable(mask *Key) *subtable {
	st := &subtable{mask: *mask, pris: make(map[uint16]int), maxPri: -1,
		tags: make([]uint16, 8), ents: make([]uint64, 8)}
	for i, m := range mask {
		if m != 0 {
			st.words[st.nw], st.mw[st.nw] = uint8(i), m
			st.nw++
		}
	}
	return st
}

// hashWords hashes a compact masked key.
func hashWords(v []uint64) uint64 {
	h := uint64(0x9E3779B97F4A7C15)
	for _, w := range v {
		h = bits.RotateLeft64((h^w)*0xbf58476d1ce4e5b9, 31)
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 29
	return h
}

// tagOf is the index tag of hash h: never 0, which marks an empty slot.
func tagOf(h uint64) uint16 { return uint16(h>>48) | 1 }

// compact writes the masked words of k into cv and returns them.
func (st *subtable) compact(k *Key, cv *[keyWords]uint64) []uint64 {
	for i := range st.nw {
		cv[i] = k[st.words[i]] & st.mw[i]
	}
	return cv[:st.nw]
}

// val returns rule r's masked value.
func (st *subtable) val(r int) []uint64 {
	n := int(st.nw)
	return st.vals[r*n : r*n+n]
}

// find returns the rule whose masked value is cv, or -1; slot is where it
// was found, or the empty slot where it would go.
func (st *subtable) find(cv []uint64, h uint64) (rule, slot int) {
	mask := len(st.tags) - 1
	tag := tagOf(h)
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch st.tags[i] {
		case 0:
			return -1, i
		case tag:
			if r := int(uint32(st.ents[i])); slices.Equal(st.val(r), cv) {
				return r, i
			}
		}
	}
}

// entry makes the index entry of rule r.
func (st *subtable) entry(r int) uint64 {
	return uint64(st.heads[r].priority)<<32 | uint64(r)
}

// lookup returns the highest-priority flow of the subtable that matches k.
func (st *subtable) lookup(k *Key) *flow {
	var cv [keyWords]uint64
	v := st.compact(k, &cv)
	if r, _ := st.find(v, hashWords(v)); r >= 0 {
		return st.heads[r]
	}
	return nil
}

// lookup returns the highest-priority flow matching k, or nil, and ORs into
// seen the masks of the subtables it looked in.
func (t *table) lookup(k *Key, seen *Key) *flow {
	var best *flow
	bestPri := int32(-1)
	var cv [keyWords]uint64
	for _, st := range t.subs {
		if bestPri >= st.maxPri {
			break
		}
		for i := range st.nw {
			w, m := st.words[i], st.mw[i]
			seen[w] |= m
			cv[i] = k[w] & m
		}
		v := cv[:st.nw]
		if r, slot := st.find(v, hashWords(v)); r >= 0 && int32(st.ents[slot]>>32) > bestPri {
			bestPri, best = int32(st.ents[slot]>>32), st.heads[r]
		}
	}
	return best
}

// find returns the flow with exactly this match and priority.
func (t *table) find(val, mask *Key, pri uint16) *flow {
	st := t.byMask[*mask]
	if st == nil {
		return nil
	}
	for f := st.lookup(val); f != nil; f = f.next {
		if f.priority == pri {
			return f
		}
	}
	return nil
}

// insert adds f, which must not be in the table with the same match and
// priority.
func (t *table) insert(f *flow) {
	st := t.byMask[f.mask]
	if st == nil {
		st = newSubtable(&f.mask)
		t.byMask[f.mask] = st
		t.subs = append(t.subs, st)
	}
	st.insert(f)
	st.pris[f.priority]++
	t.n++
	if int32(f.priority) > st.maxPri {
		st.maxPri = int32(f.priority)
		t.sort()
	}
}

func (st *subtable) insert(f *flow) {
	var cv [keyWords]uint64
	v := st.compact(&f.val, &cv)
	h := hashWords(v)
	r, slot := st.find(v, h)
	if r >= 0 {
		p := &st.heads[r]
		for *p != nil && (*p).priority > f.priority {
			p = &(*p).next
		}
		f.next, *p = *p, f
		st.ents[slot] = st.entry(r)
		return
	}
	if 2*(len(st.heads)+1) > len(st.tags) {
		st.resize(2 * len(st.tags))
		_, slot = st.find(v, h)
	}
	st.vals = append(st.vals, v...)
	f.next = nil
	st.heads = append(st.heads, f)
	st.tags[slot], st.ents[slot] = tagOf(h), st.entry(len(st.heads)-1)
}

// resize rebuilds the index with n slots, a power of 2.
func (st *subtable) resize(n int) {
	st.tags, st.ents = make([]uint16, n), make([]uint64, n)
	for r := range st.heads {
		h := hashWords(st.val(r))
		i := int(h) & (n - 1)
		for st.tags[i] != 0 {
			i = (i + 1) & (n - 1)
		}
		st.tags[i], st.ents[i] = tagOf(h), st.entry(r)
	}
}

// remove deletes f from the table.
func (t *table) remove(f *flow) {
	st := t.byMask[f.mask]
	if st == nil || !st.remove(f) {
		return
	}
	t.n--
	if st.pris[f.priority]--; st.pris[f.priority] == 0 {
		delete(st.pris, f.priority)
	}
	if len(st.heads) == 0 {
		delete(t.byMask, f.mask)
		t.subs = slices.DeleteFunc(t.subs, func(s *subtable) bool { return s == st })
		return
	}
	if int32(f.priority) == st.maxPri && st.pris[f.priority] == 0 {
		st.maxPri = -1
		for p := range st.pris {
			st.maxPri = max(st.maxPri, int32(p))
		}
		t.sort()
	}
}

// remove unlinks f and reports whether it was there.
func (st *subtable) remove(f *flow) bool {
	var cv [keyWords]uint64
	v := st.compact(&f.val, &cv)
	r, slot := st.find(v, hashWords(v))
	if r < 0 {
		return false
	}
	p := &st.heads[r]
	for *p != nil && *p != f {
		p = &(*p).next
	}
	if *p == nil {
		return false
	}
	*p, f.next = f.next, nil
	if st.heads[r] == nil {
		st.drop(r, slot)
	} else {
		st.ents[slot] = st.entry(r)
	}
	return true
}

// drop deletes empty rule r, found at slot: the slots after it move back
// so that no probe sequence has a hole, and the last rule takes number r.
func (st *subtable) drop(r, slot int) {
	mask := len(st.tags) - 1
	hole := slot
	for i := (hole + 1) & mask; st.tags[i] != 0; i = (i + 1) & mask {
		// The entry at i may fill the hole unless its home slot lies
		// cyclically in (hole, i].
		home := int(hashWords(st.val(int(uint32(st.ents[i]))))) & mask
		if (i-home)&mask >= (i-hole)&mask {
			st.tags[hole], st.ents[hole] = st.tags[i], st.ents[i]
			hole = i
		}
	}
	st.tags[hole] = 0
	last := len(st.heads) - 1
	if r != last {
		v := st.val(last)
		_, ls := st.find(v, hashWords(v))
		st.ents[ls] = st.ents[ls]>>32<<32 | uint64(r)
		copy(st.val(r), v)
		st.heads[r] = st.heads[last]
	}
	st.heads[last] = nil
	st.heads = st.heads[:last]
	st.vals = st.vals[:last*int(st.nw)]
	if len(st.tags) > 8 && 8*len(st.heads) < len(st.tags) {
		// A subtable that lost most of its rules gives the memory back.
		st.resize(len(st.tags) / 2)
		st.heads = slices.Clone(st.heads)
		st.vals = slices.Clone(st.vals)
	}
}

func (t *table) sort() {
	slices.SortStableFunc(t.subs, func(a, b *subtable) int { return int(b.maxPri - a.maxPri) })
}

// each calls fn for every flow of the table, in no particular order; fn must
// not change the table.
func (t *table) each(fn func(f *flow)) {
	for _, st := range t.subs {
		for _, h := range st.heads {
			for f := h; f != nil; f = f.next {
				fn(f)
			}
		}
	}
}

// flows returns the table's flows by priority (highest first), then age.
func (t *table) flows() []*flow {
	out := make([]*flow, 0, t.n)
	t.each(func(f *flow) { out = append(out, f) })
	slices.SortFunc(out, func(a, b *flow) int {
		if a.priority != b.priority {
			return int(b.priority) - int(a.priority)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	return out
}
