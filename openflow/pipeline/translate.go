package pipeline

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// The slow path: translation.
//
// A packet that misses the caches is translated, as OVS's ofproto-dpif-xlate
// does: its flow key goes through the flow tables, instructions and groups,
// and what the pipeline decided becomes a program, a flat list of
// operations (output, set field, push VLAN, ...) that the executor then runs
// on the packet. Everything the program depends on is either a key bit the
// table lookups consulted (collected in seen, the megaflow mask) or is
// checked again when the program runs (TTLs, the presence of headers, output
// to the input port). So the program is valid for every packet whose key
// agrees with this one on the seen bits, and is cached for all of them.
//
// Two cases break that rule and make the translation uncacheable: a table
// lookup or a select-group hash after an action that changed the header
// layout (push/pop VLAN, MPLS or PBB), because the key after it depends on bytes
// the original key does not hold (an inner tag, the header under an MPLS
// label). Such packets are translated every time.

// opKind is the operation of a program step.
type opKind uint8

const (
	opOutput opKind = iota
	opSetField
	opPushVLAN
	opPopVLAN
	opPushMPLS
	opPopMPLS
	opPushPBB
	opPopPBB
	opSetNWTTL
	opDecNWTTL
	opSetMPLSTTL
	opDecMPLSTTL
	opCopyTTLIn
	opCopyTTLOut
	opSetQueue
	opMeter   // the meter instruction
	opSave    // a group begins: its buckets work on clones of the packet
	opRestore // a bucket ends: back to the packet as it was at opSave
	opUnsave  // the group ends
)

// op is one program step.
type op struct {
	kind    opKind
	field   ofp.OXMField // opSetField
	n       uint8        // value length of opSetField
	ttl     uint8
	reason  uint8  // opOutput to the controller
	table   uint8  // opOutput to the controller, TTL decrements
	maxLen  uint16 // opOutput to the controller
	ethType uint16 // push/pop
	port    uint32 // opOutput; queue of opSetQueue
	cookie  uint64 // opOutput to the controller, TTL decrements
	meta    uint64 // opOutput to the controller
	meter   *meter // opMeter
	val     [16]byte
}

// A program is the compiled result of a translation: the operations, and the
// counters that every packet running it increments.
//
// A program cached by a worker made with NewWorker counts lazily, as OVS's
// datapath flows do: a hit only bumps the program's own packet and byte
// counts (plain stores: the owning worker is their only writer), and
// Pipeline.credit later adds what is new to the flows', groups' and tables'
// counters. A 40-table translation would otherwise cost 120 atomic
// additions on shared cache lines per packet.
//
// What a cache hit touches comes first, within 64 bytes, and the struct is
// padded to 128 bytes, a size class whose objects start on cache lines.
type program struct {
	deferred bool // counts in pkts/bytes until credited
	// single: ops is one output to port out, not the controller (the most
	// common program), which exec records without reading ops.
	single      bool
	out         uint32
	pkts, bytes ownedCount // written by the owning worker only
	ops         []op

	ctrs []*counter       // flows, groups, buckets: one packet, its bytes
	incs []*atomic.Uint64 // table lookups and matches: one each
	// What credit has passed on; guarded by the owning worker's liveMu.
	creditedPkts, creditedBytes uint64
	_                           [16]byte
}

// count charges one packet of n bytes to the program's counters.
func (pr *program) count(n int) {
	for _, c := range pr.ctrs {
		c.add(n)
	}
	for _, c := range pr.incs {
		c.Add(1)
	}
}

// hit counts one packet of n bytes: lazily for a deferred program, else at
// once. Only the goroutine of the worker owning pr may call it.
func (pr *program) hit(n int) {
	if !pr.deferred {
		pr.count(n)
		return
	}
	pr.pkts.add(1)
	pr.bytes.add(uint64(n))
}

// credit adds the packets pr counted since the last credit to its counters.
//
// Preconditions: the owning worker's liveMu is held.
func (pr *program) credit() {
	pk, by := pr.pkts.Load(), pr.bytes.Load()
	dp, db := pk-pr.creditedPkts, by-pr.creditedBytes
	if dp == 0 && db == 0 {
		return
	}
	pr.creditedPkts, pr.creditedBytes = pk, by
	for _, c := range pr.ctrs {
		c.packets.Add(dp)
		c.bytes.Add(db)
	}
	for _, c := range pr.incs {
		c.Add(dp)
	}
}

// clone returns a copy of pr that owns its slices.
func (pr *program) clone() *program {
	c := &program{
		ops:  append([]op(nil), pr.ops...),
		ctrs: append([]*counter(nil), pr.ctrs...),
		incs: append([]*atomic.Uint64(nil), pr.incs...),
	}
	if len(c.ops) == 1 && c.ops[0].kind == opOutput && c.ops[0].port != ofp.PortController {
		c.single, c.out = true, c.ops[0].port
	}
	return c
}

// Action-set slots in execution order (spec 1.3.5 §5.10); set-fields are
// applied between slotSetNWTTL and slotQueue.
const (
	slotCopyIn = iota
	slotPopVLAN
	slotPopMPLS
	slotPopPBB
	slotPushMPLS
	slotPushPBB
	slotPushVLAN
	slotCopyOut
	slotDecMPLS
	slotDecNW
	slotSetMPLS
	slotSetNW
	slotQueue
	slotGroup
	slotOutput
	numSlots
)

// actionSet is the action set of a packet: at most one action per type and
// one set-field per field.
type actionSet struct {
	slot [numSlots]ofp.Action
	sets []ofp.Action
}

func (s *actionSet) clear() {
	s.slot = [numSlots]ofp.Action{}
	s.sets = s.sets[:0]
}

func (s *actionSet) write(acts []ofp.Action) {
	for _, a := range acts {
		i := -1
		switch a := a.(type) {
		case ofp.ActionCopyTTLIn:
			i = slotCopyIn
		case ofp.ActionPopVLAN:
			i = slotPopVLAN
		case ofp.ActionPopMPLS:
			i = slotPopMPLS
		case ofp.ActionPopPBB:
			i = slotPopPBB
		case ofp.ActionPushMPLS:
			i = slotPushMPLS
		case ofp.ActionPushPBB:
			i = slotPushPBB
		case ofp.ActionPushVLAN:
			i = slotPushVLAN
		case ofp.ActionCopyTTLOut:
			i = slotCopyOut
		case ofp.ActionDecMPLSTTL:
			i = slotDecMPLS
		case ofp.ActionDecNWTTL:
			i = slotDecNW
		case ofp.ActionSetMPLSTTL:
			i = slotSetMPLS
		case ofp.ActionSetNWTTL:
			i = slotSetNW
		case ofp.ActionSetQueue:
			i = slotQueue
		case ofp.ActionGroup:
			i = slotGroup
		case ofp.ActionOutput:
			i = slotOutput
		case ofp.ActionSetField:
			replaced := false
			for j, b := range s.sets {
				if b.(ofp.ActionSetField).Field.Field == a.Field.Field {
					s.sets[j], replaced = a, true
				}
			}
			if !replaced {
				s.sets = append(s.sets, a)
			}
		}
		if i >= 0 {
			s.slot[i] = a
		}
	}
}

// xlate is the state of one translation. A Worker reuses one.
type xlate struct {
	p      *Pipeline
	w      *Worker
	key    Key
	seen   Key
	inPort uint32
	orig   []byte // the packet being translated, unchanged

	prog        program
	set         actionSet
	relayout    bool // a push/pop since the key was last derived from the packet
	uncacheable bool
	inBucket    int

	// The flow whose instructions are being applied, for packet-ins.
	table  uint8
	cookie uint64
	miss   bool

	tr *strings.Builder // trace output, or nil
}

func (x *xlate) reset(p *Pipeline, w *Worker, k *Key, pkt []byte, inPort uint32) {
	x.p, x.w, x.key, x.seen, x.inPort, x.orig = p, w, *k, Key{}, inPort, pkt
	x.prog.ops, x.prog.ctrs, x.prog.incs = x.prog.ops[:0], x.prog.ctrs[:0], x.prog.incs[:0]
	x.set.clear()
	x.relayout, x.uncacheable, x.inBucket = false, false, 0
	x.table, x.cookie, x.miss = 0, 0, false
}

func (x *xlate) tracef(format string, args ...any) {
	if x.tr != nil {
		fmt.Fprintf(x.tr, format, args...)
	}
}

// rekey derives the key again from the packet as the program so far has
// changed it; the result is uncacheable (see above).
func (x *xlate) rekey() {
	x.uncacheable = true
	x.relayout = false
	w := x.w
	w.scratch = append(w.scratch[:0], x.orig...)
	w.scratch = append(w.scratch, make([]byte, 64)...)[:len(x.orig)]
	var lay layout
	var k Key
	extract(w.scratch, x.inPort, &k, &lay)
	var res Result
	pkt := w.exec(x.prog.ops, w.scratch, &lay, x.inPort, &res, true)
	extract(pkt, x.inPort, &k, &lay)
	k[wMeta], k[wTun] = x.key[wMeta], x.key[wTun]
	x.key = k
	if x.tr != nil {
		x.tracef("  (key derived again from the rewritten packet; not cached)\n")
	}
}

// run sends the packet through the tables from table start, then executes
// the action set.
func (x *xlate) run(start int) {
	t := start
	for {
		if x.relayout {
			x.rekey()
		}
		tb := x.p.tables[t]
		x.prog.incs = append(x.prog.incs, &tb.lookups)
		f := tb.lookup(&x.key, &x.seen)
		if f == nil {
			if x.tr != nil {
				x.tracef("table %d: no match: drop (table-miss without a miss flow entry)\n", t)
			}
			return
		}
		x.prog.incs = append(x.prog.incs, &tb.matched)
		x.prog.ctrs = append(x.prog.ctrs, &f.counter)
		x.table, x.cookie, x.miss = uint8(t), f.cookie, f.tableMiss()
		if x.tr != nil {
			if x.tr != nil {
				x.tracef("table %d: priority %d %s cookie %#x\n", t, f.priority, formatMatch(&f.match), f.cookie)
			}
		}
		in := &f.prog
		if in.meter != 0 {
			if mt := x.p.meters[in.meter]; mt != nil {
				if x.tr != nil {
					x.tracef("  meter:%d\n", in.meter)
				}
				x.prog.ops = append(x.prog.ops, op{kind: opMeter, meter: mt})
			}
		}
		if len(in.apply) > 0 {
			if x.tr != nil {
				x.tracef("  apply_actions(%s)\n", formatActions(in.apply))
			}
			x.actions(in.apply)
		}
		if in.clear {
			if x.tr != nil {
				x.tracef("  clear_actions\n")
			}
			x.set.clear()
		}
		if in.hasWrite {
			if x.tr != nil {
				x.tracef("  write_actions(%s)\n", formatActions(in.write))
			}
			x.set.write(in.write)
		}
		if in.metaMask != 0 {
			x.key[wMeta] = x.key[wMeta]&^in.metaMask | in.meta
			if x.tr != nil {
				x.tracef("  write_metadata:%#x/%#x -> metadata=%#x\n", in.meta, in.metaMask, x.key[wMeta])
			}
		}
		if in.gotoTable < 0 {
			break
		}
		if x.tr != nil {
			x.tracef("  goto_table:%d\n", in.gotoTable)
		}
		t = in.gotoTable
	}
	x.executeSet()
}

// executeSet appends the action set's actions in the spec's order.
func (x *xlate) executeSet() {
	s := &x.set
	var list [numSlots + 40]ofp.Action
	acts := list[:0]
	for i := slotCopyIn; i <= slotSetNW; i++ {
		if s.slot[i] != nil {
			acts = append(acts, s.slot[i])
		}
	}
	acts = append(acts, s.sets...)
	if s.slot[slotQueue] != nil {
		acts = append(acts, s.slot[slotQueue])
	}
	if s.slot[slotGroup] != nil {
		acts = append(acts, s.slot[slotGroup]) // a group overrides the output
	} else if s.slot[slotOutput] != nil {
		acts = append(acts, s.slot[slotOutput])
	}
	if len(acts) > 0 {
		if x.tr != nil {
			x.tracef("action set: %s\n", formatActions(acts))
		}
		x.actions(acts)
	}
}

// actions compiles an action list.
func (x *xlate) actions(acts []ofp.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case ofp.ActionOutput:
			o := op{kind: opOutput, port: a.Port}
			if a.Port == ofp.PortController {
				o.maxLen, o.table, o.cookie, o.meta = a.MaxLen, x.table, x.cookie, x.key[wMeta]
				o.reason = ofp.ReasonAction
				if x.miss && x.inBucket == 0 {
					o.reason = ofp.ReasonNoMatch
				}
			}
			if a.Port == ofp.PortTable && x.inBucket == 0 {
				x.resubmit()
				continue
			}
			x.prog.ops = append(x.prog.ops, o)
		case ofp.ActionGroup:
			x.group(a.GroupID)
		case ofp.ActionSetField:
			o := op{kind: opSetField, field: a.Field.Field}
			o.n = uint8(copy(o.val[:], a.Field.Value))
			if supported(a.Field.Field) {
				x.key.put(a.Field.Field, a.Field.Value)
			}
			x.prog.ops = append(x.prog.ops, o)
		case ofp.ActionPushVLAN:
			x.layoutOp(op{kind: opPushVLAN, ethType: a.EtherType})
		case ofp.ActionPopVLAN:
			x.layoutOp(op{kind: opPopVLAN})
		case ofp.ActionPushMPLS:
			x.layoutOp(op{kind: opPushMPLS, ethType: a.EtherType})
		case ofp.ActionPopMPLS:
			x.layoutOp(op{kind: opPopMPLS, ethType: a.EtherType})
		case ofp.ActionPushPBB:
			x.layoutOp(op{kind: opPushPBB, ethType: a.EtherType})
		case ofp.ActionPopPBB:
			x.layoutOp(op{kind: opPopPBB})
		case ofp.ActionSetNWTTL:
			x.prog.ops = append(x.prog.ops, op{kind: opSetNWTTL, ttl: a.TTL})
		case ofp.ActionDecNWTTL:
			x.prog.ops = append(x.prog.ops, op{kind: opDecNWTTL, table: x.table, cookie: x.cookie, meta: x.key[wMeta]})
		case ofp.ActionSetMPLSTTL:
			x.prog.ops = append(x.prog.ops, op{kind: opSetMPLSTTL, ttl: a.TTL})
		case ofp.ActionDecMPLSTTL:
			x.prog.ops = append(x.prog.ops, op{kind: opDecMPLSTTL, table: x.table, cookie: x.cookie, meta: x.key[wMeta]})
		case ofp.ActionCopyTTLIn:
			x.prog.ops = append(x.prog.ops, op{kind: opCopyTTLIn})
		case ofp.ActionCopyTTLOut:
			x.prog.ops = append(x.prog.ops, op{kind: opCopyTTLOut})
		case ofp.ActionSetQueue:
			x.prog.ops = append(x.prog.ops, op{kind: opSetQueue, port: a.QueueID})
		}
	}
}

func (x *xlate) layoutOp(o op) {
	x.prog.ops = append(x.prog.ops, o)
	x.relayout = true
}

// resubmit handles output to OFPP_TABLE in a packet-out: the packet as it is
// now goes through the pipeline from table 0 (on a clone: the actions after
// it see the packet as it was).
func (x *xlate) resubmit() {
	if x.tr != nil {
		x.tracef("output:TABLE -> pipeline from table 0\n")
	}
	x.uncacheable = true
	saved, savedSet := x.key, x.set
	x.set = actionSet{}
	x.prog.ops = append(x.prog.ops, op{kind: opSave})
	x.rekey()
	x.key[wMeta] = 0
	x.run(0)
	x.prog.ops = append(x.prog.ops, op{kind: opRestore}, op{kind: opUnsave})
	x.key, x.set = saved, savedSet
	x.relayout = false
}

// group compiles the group action of group id.
func (x *xlate) group(id uint32) {
	g := x.p.groups[id]
	if g == nil || x.inBucket > maxGroupDepth {
		return
	}
	x.prog.ctrs = append(x.prog.ctrs, &g.counter)
	var chosen []bucket
	switch g.typ {
	case ofp.GroupTypeAll:
		chosen = g.buckets
	case ofp.GroupTypeIndirect:
		chosen = g.buckets[:min(1, len(g.buckets))]
	case ofp.GroupTypeSelect:
		if i := x.selectBucket(g); i >= 0 {
			chosen = g.buckets[i : i+1]
		}
	case ofp.GroupTypeFF:
		for i := range g.buckets {
			if x.p.live(&g.buckets[i], 0) {
				chosen = g.buckets[i : i+1]
				break
			}
		}
	}
	if x.tr != nil {
		x.tracef("  group %d (%s): %d bucket(s)\n", id, groupTypeName(g.typ), len(chosen))
	}
	if len(chosen) == 0 {
		return
	}
	x.prog.ops = append(x.prog.ops, op{kind: opSave})
	x.inBucket++
	for i := range chosen {
		b := &chosen[i]
		x.prog.ctrs = append(x.prog.ctrs, b.counter)
		key, relayout := x.key, x.relayout
		if x.tr != nil {
			x.tracef("    bucket: %s\n", formatActions(b.Actions))
		}
		x.actions(b.Actions)
		x.prog.ops = append(x.prog.ops, op{kind: opRestore})
		x.key, x.relayout = key, relayout
	}
	x.inBucket--
	x.prog.ops = append(x.prog.ops, op{kind: opUnsave})
}

// hashFields is the part of the key a select group hashes: Ethernet
// addresses and type, IP protocol and addresses, transport ports.
var hashFields = func() (m Key) {
	m[wEth] = ^uint64(0)
	m[wSrc] = ^uint64(0) &^ 0xffff
	m[wIP] = 0xff<<56 | tpMask
	m[wIPv4] = ^uint64(0)
	m[7], m[8], m[9], m[10] = ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)
	return m
}()

// selectBucket picks a live bucket of select group g by a hash of the
// packet's fields, in proportion to the weights; -1 if none is live.
func (x *xlate) selectBucket(g *group) int {
	if x.relayout {
		x.uncacheable = true
	}
	x.seen.or(&hashFields)
	k := x.key.and(&hashFields)
	h := k.hash()
	// Weights of zero everywhere mean equal shares.
	total, live := uint64(0), uint64(0)
	for i := range g.buckets {
		if x.p.live(&g.buckets[i], 0) {
			total += uint64(g.buckets[i].Weight)
			live++
		}
	}
	if live == 0 {
		return -1
	}
	equal := total == 0
	if equal {
		total = live
	}
	pick := h % total
	for i := range g.buckets {
		b := &g.buckets[i]
		if !x.p.live(b, 0) {
			continue
		}
		w := uint64(b.Weight)
		if equal {
			w = 1
		}
		if pick < w {
			return i
		}
		pick -= w
	}
	return -1
}

func groupTypeName(t uint8) string {
	switch t {
	case ofp.GroupTypeAll:
		return "all"
	case ofp.GroupTypeSelect:
		return "select"
	case ofp.GroupTypeIndirect:
		return "indirect"
	case ofp.GroupTypeFF:
		return "fast_failover"
	}
	return "type " + utoa(uint64(t))
}
