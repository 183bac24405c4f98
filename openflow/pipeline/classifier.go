package pipeline

import (
	"cmp"
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

type subtable struct {
	mask   Key
	flows  map[Key][]*flow // by masked value; each slice by priority, highest first
	pris   map[uint16]int  // how many flows have each priority
	maxPri int
}

func newTable(id uint8) *table {
	return &table{id: id, byMask: make(map[Key]*subtable)}
}

// lookup returns the highest-priority flow matching k, or nil, and ORs into
// seen the masks of the subtables it looked in.
func (t *table) lookup(k *Key, seen *Key) *flow {
	var best *flow
	for _, st := range t.subs {
		if best != nil && int(best.priority) >= st.maxPri {
			break
		}
		seen.or(&st.mask)
		if fs := st.flows[k.and(&st.mask)]; len(fs) > 0 && (best == nil || fs[0].priority > best.priority) {
			best = fs[0]
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
	for _, f := range st.flows[*val] {
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
		st = &subtable{mask: f.mask, flows: make(map[Key][]*flow), pris: make(map[uint16]int), maxPri: -1}
		t.byMask[f.mask] = st
		t.subs = append(t.subs, st)
	}
	fs := st.flows[f.val]
	i := 0
	for i < len(fs) && fs[i].priority > f.priority {
		i++
	}
	st.flows[f.val] = slices.Insert(fs, i, f)
	st.pris[f.priority]++
	t.n++
	if int(f.priority) > st.maxPri {
		st.maxPri = int(f.priority)
		t.sort()
	}
}

// remove deletes f from the table.
func (t *table) remove(f *flow) {
	st := t.byMask[f.mask]
	if st == nil {
		return
	}
	fs := st.flows[f.val]
	i := slices.Index(fs, f)
	if i < 0 {
		return
	}
	fs = slices.Delete(fs, i, i+1)
	if len(fs) == 0 {
		delete(st.flows, f.val)
	} else {
		st.flows[f.val] = fs
	}
	t.n--
	if st.pris[f.priority]--; st.pris[f.priority] == 0 {
		delete(st.pris, f.priority)
	}
	if len(st.flows) == 0 {
		delete(t.byMask, f.mask)
		t.subs = slices.DeleteFunc(t.subs, func(s *subtable) bool { return s == st })
		return
	}
	if int(f.priority) == st.maxPri && st.pris[f.priority] == 0 {
		st.maxPri = -1
		for p := range st.pris {
			st.maxPri = max(st.maxPri, int(p))
		}
		t.sort()
	}
}

func (t *table) sort() {
	slices.SortStableFunc(t.subs, func(a, b *subtable) int { return b.maxPri - a.maxPri })
}

// each calls fn for every flow of the table, in no particular order; fn must
// not change the table.
func (t *table) each(fn func(f *flow)) {
	for _, st := range t.subs {
		for _, fs := range st.flows {
			for _, f := range fs {
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
