package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// BICDupInst is the code of a flow entry with two instructions of one type.
// OpenFlow 1.3.5 has no code for this; 9 is OFPBIC_DUP_INST of OpenFlow 1.4,
// under OFPET_BAD_INSTRUCTION.
const BICDupInst uint16 = 9

// counter counts packets and bytes; it is updated by the forwarding path
// with atomic adds and read by statistics.
type counter struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
}

func (c *counter) add(n int) {
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
}

func (c *counter) reset() {
	c.packets.Store(0)
	c.bytes.Store(0)
}

// A flow is a flow entry. Its fields are written under Pipeline.mu held for
// writing and read by the slow path under it held for reading; its counter
// is updated by the forwarding path at any time. What a translation reads
// of the flow that won a table lookup comes first: in a large rule set each
// flow is a cache miss of its own, and the match (val, mask, match) would
// spread those fields over more lines. The counter, which forwarding
// goroutines write, is kept away from them.
type flow struct {
	priority uint16
	table    uint8
	miss     bool // the table-miss flow entry: priority 0, every field wildcarded
	cookie   uint64
	prog     instructions

	val, mask Key
	next      *flow // the next flow with the same match and a lower priority (classifier.go)
	match     ofp.Match
	insts     []ofp.Instruction
	idle      uint16
	hard      uint16
	flags     uint16
	created   time.Time
	seq       uint64
	counter

	// For idle timeouts: the packet count seen by the last Expire and when
	// it last changed (a flow hit through the caches never reads a clock).
	lastUsed    time.Time
	lastPackets uint64
}

// instructions is a flow's instructions sorted out by kind, in the order the
// pipeline applies them (spec 1.3.5 §5.9).
type instructions struct {
	apply     []ofp.Action
	clear     bool
	write     []ofp.Action
	hasWrite  bool
	meta      uint64
	metaMask  uint64
	meter     uint32 // 0: none
	gotoTable int    // -1: none
}

// tableMiss reports whether f is its table's table-miss flow entry: priority
// 0 and every field wildcarded.
func (f *flow) tableMiss() bool { return f.miss }

func matchError(code uint16, reason string) *ofp.Error {
	return &ofp.Error{Type: ofp.ETBadMatch, Code: code, Reason: reason}
}

func fmError(code uint16, reason string) *ofp.Error {
	return &ofp.Error{Type: ofp.ETFlowModFailed, Code: code, Reason: reason}
}

func actError(code uint16, reason string) *ofp.Error {
	return &ofp.Error{Type: ofp.ETBadAction, Code: code, Reason: reason}
}

func instError(code uint16, reason string) *ofp.Error {
	return &ofp.Error{Type: ofp.ETBadInstruction, Code: code, Reason: reason}
}

// compileMatch turns m into a masked key. Unsupported fields are
// (BAD_MATCH, BAD_FIELD), missing prerequisites (BAD_MATCH, BAD_PREREQ).
func compileMatch(m *ofp.Match) (val, mask Key, err error) {
	for _, o := range m.Fields {
		if o.Class != ofp.OXMClassBasic || !supported(o.Field) {
			return val, mask, matchError(ofp.BMCBadField, "unsupported match field "+o.Field.String())
		}
		d := fields[o.Field]
		if d.bits == 128 {
			for i := 0; i < 2; i++ {
				v, mk := be.Uint64(o.Value[8*i:]), ^uint64(0)
				if o.Mask != nil {
					mk = be.Uint64(o.Mask[8*i:])
				}
				val[int(d.word)+i] |= v & mk
				mask[int(d.word)+i] |= mk
			}
			continue
		}
		w := ones(d.bits)
		mk := o.MaskUint() & w
		val[d.word] |= (o.Uint() & mk) << d.shift
		mask[d.word] |= mk << d.shift
	}
	if err := m.CheckPrereqs(); err != nil {
		return val, mask, err
	}
	return val, mask, nil
}

// covers reports whether every packet f matches is matched by (val, mask),
// the non-strict selection of MODIFY, DELETE and the statistics requests.
func covers(val, mask *Key, f *flow) bool {
	for i := range mask {
		if mask[i]&^f.mask[i] != 0 || f.val[i]&mask[i] != val[i] {
			return false
		}
	}
	return true
}

// overlaps reports whether some packet could match both masked keys.
func overlaps(v1, m1, v2, m2 *Key) bool {
	for i := range m1 {
		if (v1[i]^v2[i])&m1[i]&m2[i] != 0 {
			return false
		}
	}
	return true
}

// actionCtx is what validating an action list needs to know.
type actionCtx struct {
	match     *ofp.Match // the flow's match, for set-field prerequisites
	packetOut bool       // OFPP_TABLE is allowed
	group     uint32     // the group whose buckets these are (GroupAny: none)
}

// checkActions validates an action list (of an apply-actions or
// write-actions instruction, a bucket or a packet-out).
func (p *Pipeline) checkActions(acts []ofp.Action, c actionCtx) error {
	// The prerequisites of a set-field are checked against the flow's
	// match as the actions before it changed it (a push-VLAN makes
	// VLAN_PCP settable, a pop-MPLS sets the EtherType).
	// Buckets and packet-outs have no match to check against: their
	// set-fields apply where the header exists.
	m := c.match
	if m == nil {
		m = &ofp.Match{}
	}
	changed := false
	update := func(f ofp.OXMField, v uint64) {
		if !changed {
			m = &ofp.Match{Fields: append([]ofp.OXM(nil), m.Fields...)}
			changed = true
		}
		o := ofp.NewOXMUint(f, v)
		for i := range m.Fields {
			if m.Fields[i].Class == ofp.OXMClassBasic && m.Fields[i].Field == f {
				m.Fields[i] = o
				return
			}
		}
		m.Fields = append(m.Fields, o)
	}
	for _, a := range acts {
		switch a := a.(type) {
		case ofp.ActionOutput:
			if err := p.checkOutPort(a.Port, c.packetOut); err != nil {
				return err
			}
		case ofp.ActionGroup:
			if c.group != ofp.GroupAny && p.reaches(a.GroupID, c.group) {
				return &ofp.Error{Type: ofp.ETGroupModFailed, Code: ofp.GMFCLoop, Reason: "group chain loops"}
			}
			if p.groups[a.GroupID] == nil {
				return actError(ofp.BACBadOutGroup, "no group "+utoa(uint64(a.GroupID)))
			}
		case ofp.ActionPushVLAN:
			if a.EtherType != ofp.EthTypeVLAN && a.EtherType != ofp.EthTypeQinQ {
				return actError(ofp.BACBadArgument, "push_vlan ethertype")
			}
			update(ofp.OXMVlanVID, uint64(ofp.VIDPresent))
		case ofp.ActionPushMPLS:
			if a.EtherType != ofp.EthTypeMPLS && a.EtherType != ofp.EthTypeMPLSMC {
				return actError(ofp.BACBadArgument, "push_mpls ethertype")
			}
			update(ofp.OXMEthType, uint64(a.EtherType))
		case ofp.ActionPopMPLS:
			update(ofp.OXMEthType, uint64(a.EtherType))
		case ofp.ActionPushPBB:
			if a.EtherType != ofp.EthTypePBB {
				return actError(ofp.BACBadArgument, "push_pbb ethertype")
			}
			update(ofp.OXMEthType, uint64(a.EtherType))
		case ofp.ActionPopPBB:
		case ofp.ActionSetField:
			f := a.Field
			if f.Class != ofp.OXMClassBasic || !supported(f.Field) || !fields[f.Field].set {
				return actError(ofp.BACBadSetType, "cannot set "+f.Field.String())
			}
			if c.match != nil && !m.PrereqMet(f.Field) {
				return actError(ofp.BACMatchInconsistent, "set_field "+f.Field.String()+" without its prerequisite in the match")
			}
		case ofp.ActionPopVLAN, ofp.ActionSetQueue, ofp.ActionSetNWTTL, ofp.ActionDecNWTTL,
			ofp.ActionCopyTTLIn, ofp.ActionCopyTTLOut, ofp.ActionSetMPLSTTL, ofp.ActionDecMPLSTTL:
		case ofp.ActionExperimenter:
			return actError(ofp.BACBadExperimenter, "experimenter actions are not supported")
		default:
			return actError(ofp.BACBadType, "unsupported action type "+utoa(uint64(a.ActionType())))
		}
	}
	return nil
}

// checkOutPort validates the port of an output action.
func (p *Pipeline) checkOutPort(port uint32, packetOut bool) error {
	switch port {
	case ofp.PortInPort, ofp.PortFlood, ofp.PortAll, ofp.PortController, ofp.PortLocal:
		return nil
	case ofp.PortTable:
		if packetOut {
			return nil
		}
	}
	if port == 0 || port > ofp.PortMax || (p.opts.PortExists != nil && !p.opts.PortExists(port)) {
		return actError(ofp.BACBadOutPort, "bad output port "+utoa(uint64(port)))
	}
	return nil
}

// compileInstructions validates a flow's instructions for table t.
func (p *Pipeline) compileInstructions(insts []ofp.Instruction, t uint8, m *ofp.Match) (instructions, error) {
	in := instructions{gotoTable: -1}
	var seen uint32
	for _, i := range insts {
		typ := i.InstructionType()
		if typ < 32 {
			if seen&(1<<typ) != 0 {
				return in, instError(BICDupInst, "duplicate instruction "+utoa(uint64(typ)))
			}
			seen |= 1 << typ
		}
		c := actionCtx{match: m, group: ofp.GroupAny}
		switch i := i.(type) {
		case ofp.InstructionGotoTable:
			if i.TableID <= t || int(i.TableID) >= len(p.tables) {
				return in, instError(ofp.BICBadTableID, "goto_table "+utoa(uint64(i.TableID))+" from table "+utoa(uint64(t)))
			}
			in.gotoTable = int(i.TableID)
		case ofp.InstructionWriteMetadata:
			in.meta, in.metaMask = i.Metadata&i.Mask, i.Mask
		case ofp.InstructionApplyActions:
			if err := p.checkActions(i.Actions, c); err != nil {
				return in, err
			}
			in.apply = i.Actions
		case ofp.InstructionWriteActions:
			if err := p.checkActions(i.Actions, c); err != nil {
				return in, err
			}
			in.write, in.hasWrite = i.Actions, true
		case ofp.InstructionClearActions:
			in.clear = true
		case ofp.InstructionMeter:
			if i.MeterID == 0 || p.meters[i.MeterID] == nil {
				return in, mmError(ofp.MMFCUnknownMeter, "no meter "+utoa(uint64(i.MeterID)))
			}
			in.meter = i.MeterID
		default:
			return in, instError(ofp.BICUnsupInst, "unsupported instruction "+utoa(uint64(typ)))
		}
	}
	return in, nil
}

// Removed describes a flow entry the pipeline removed, as a FLOW_REMOVED
// message would. Notify is set when the flow had OFPFF_SEND_FLOW_REM, that
// is when the controller wants the message.
type Removed struct {
	ofp.FlowRemoved
	Notify bool
}

func (p *Pipeline) removed(f *flow, reason uint8, now time.Time) Removed {
	d := now.Sub(f.created)
	if d < 0 {
		d = 0
	}
	return Removed{
		FlowRemoved: ofp.FlowRemoved{
			Cookie: f.cookie, Priority: f.priority, Reason: reason, TableID: f.table,
			DurationSec: uint32(d / time.Second), DurationNsec: uint32(d % time.Second),
			IdleTimeout: f.idle, HardTimeout: f.hard,
			PacketCount: f.packets.Load(), ByteCount: f.bytes.Load(), Match: f.match,
		},
		Notify: f.flags&ofp.FlowSendFlowRem != 0,
	}
}

// FlowMod applies a FLOW_MOD. A refusal is an *ofp.Error with the spec's
// type and code. It returns the flows a DELETE removed (Notify set on those
// that asked for FLOW_REMOVED). The pipeline does not hold packet buffers:
// the caller applies a BufferID itself. FlowMod must be called from the
// control goroutine (see the package doc).
func (p *Pipeline) FlowMod(fm *ofp.FlowMod) ([]Removed, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.credit()
	switch fm.Command {
	case ofp.FlowAdd:
		return nil, p.addFlow(fm)
	case ofp.FlowModify, ofp.FlowModifyStrict:
		return nil, p.modifyFlows(fm, fm.Command == ofp.FlowModifyStrict)
	case ofp.FlowDelete, ofp.FlowDeleteStrict:
		return p.deleteFlows(fm, fm.Command == ofp.FlowDeleteStrict)
	}
	return nil, fmError(ofp.FMFCBadCommand, "flow_mod command "+utoa(uint64(fm.Command)))
}

const knownFlowFlags = ofp.FlowSendFlowRem | ofp.FlowCheckOverlap | ofp.FlowResetCounts |
	ofp.FlowNoPktCounts | ofp.FlowNoBytCounts

func (p *Pipeline) addFlow(fm *ofp.FlowMod) error {
	if int(fm.TableID) >= len(p.tables) {
		return fmError(ofp.FMFCBadTableID, "table "+utoa(uint64(fm.TableID)))
	}
	if fm.Flags&^knownFlowFlags != 0 {
		return fmError(ofp.FMFCBadFlags, "unknown flow_mod flags")
	}
	val, mask, err := compileMatch(&fm.Match)
	if err != nil {
		return err
	}
	prog, err := p.compileInstructions(fm.Instructions, fm.TableID, &fm.Match)
	if err != nil {
		return err
	}
	t := p.tables[fm.TableID]
	if fm.Flags&ofp.FlowCheckOverlap != 0 {
		overlap := false
		t.each(func(f *flow) {
			if f.priority == fm.Priority && overlaps(&val, &mask, &f.val, &f.mask) {
				overlap = true
			}
		})
		if overlap {
			return fmError(ofp.FMFCOverlap, "overlaps a flow of the same priority")
		}
	}
	if p.opts.MaxFlows > 0 && p.nflows >= p.opts.MaxFlows && t.find(&val, &mask, fm.Priority) == nil {
		return fmError(ofp.FMFCTableFull, "flow limit reached")
	}
	now := p.now()
	p.seq++
	f := &flow{
		table: fm.TableID, priority: fm.Priority, val: val, mask: mask,
		match: cloneMatch(fm.Match), insts: fm.Instructions, prog: prog,
		cookie: fm.Cookie, idle: fm.IdleTimeout, hard: fm.HardTimeout, flags: fm.Flags,
		created: now, lastUsed: now, seq: p.seq,
		miss: fm.Priority == 0 && mask == (Key{}),
	}
	// An identical flow (match and priority) is replaced, its counters and
	// duration cleared with it (spec 1.3.5 §6.4).
	if old := t.find(&val, &mask, fm.Priority); old != nil {
		p.unlink(old)
	}
	t.insert(f)
	p.nflows++
	if f.idle != 0 || f.hard != 0 {
		p.timed[f] = struct{}{}
	}
	p.changed()
	return nil
}

// unlink removes f from its table and the timeout set.
func (p *Pipeline) unlink(f *flow) {
	p.tables[f.table].remove(f)
	delete(p.timed, f)
	p.nflows--
}

func cookieMatches(fm *ofp.FlowMod, f *flow) bool {
	return f.cookie&fm.CookieMask == fm.Cookie&fm.CookieMask
}

func (p *Pipeline) modifyFlows(fm *ofp.FlowMod, strict bool) error {
	if int(fm.TableID) >= len(p.tables) {
		return fmError(ofp.FMFCBadTableID, "table "+utoa(uint64(fm.TableID)))
	}
	val, mask, err := compileMatch(&fm.Match)
	if err != nil {
		return err
	}
	prog, err := p.compileInstructions(fm.Instructions, fm.TableID, &fm.Match)
	if err != nil {
		return err
	}
	t := p.tables[fm.TableID]
	var hit []*flow
	if strict {
		if f := t.find(&val, &mask, fm.Priority); f != nil && cookieMatches(fm, f) {
			hit = append(hit, f)
		}
	} else {
		t.each(func(f *flow) {
			if covers(&val, &mask, f) && cookieMatches(fm, f) {
				hit = append(hit, f)
			}
		})
	}
	for _, f := range hit {
		f.insts, f.prog = fm.Instructions, prog
		if fm.Flags&ofp.FlowResetCounts != 0 {
			f.reset()
			f.lastPackets = 0
		}
	}
	if len(hit) > 0 {
		p.changed()
	}
	return nil
}

// forwardsTo reports whether f's instructions output to port (PortAny: any)
// and to group (GroupAny: any), the out_port and out_group filters.
func forwardsTo(f *flow, port, group uint32) bool {
	if port == ofp.PortAny && group == ofp.GroupAny {
		return true
	}
	okPort, okGroup := port == ofp.PortAny, group == ofp.GroupAny
	for _, acts := range [][]ofp.Action{f.prog.apply, f.prog.write} {
		for _, a := range acts {
			switch a := a.(type) {
			case ofp.ActionOutput:
				okPort = okPort || a.Port == port
			case ofp.ActionGroup:
				okGroup = okGroup || a.GroupID == group
			}
		}
	}
	return okPort && okGroup
}

func (p *Pipeline) deleteFlows(fm *ofp.FlowMod, strict bool) ([]Removed, error) {
	if int(fm.TableID) >= len(p.tables) && fm.TableID != ofp.TableAll {
		return nil, fmError(ofp.FMFCBadTableID, "table "+utoa(uint64(fm.TableID)))
	}
	val, mask, err := compileMatch(&fm.Match)
	if err != nil {
		return nil, err
	}
	var hit []*flow
	for _, t := range p.tables {
		if fm.TableID != ofp.TableAll && t.id != fm.TableID {
			continue
		}
		keep := func(f *flow) bool { return cookieMatches(fm, f) && forwardsTo(f, fm.OutPort, fm.OutGroup) }
		if strict {
			if f := t.find(&val, &mask, fm.Priority); f != nil && keep(f) {
				hit = append(hit, f)
			}
			continue
		}
		t.each(func(f *flow) {
			if covers(&val, &mask, f) && keep(f) {
				hit = append(hit, f)
			}
		})
	}
	return p.removeFlows(hit, ofp.RemovedDelete), nil
}

// removeFlows unlinks flows and describes them.
func (p *Pipeline) removeFlows(hit []*flow, reason uint8) []Removed {
	if len(hit) == 0 {
		return nil
	}
	now := p.now()
	out := make([]Removed, 0, len(hit))
	for _, f := range hit {
		p.unlink(f)
		out = append(out, p.removed(f, reason, now))
	}
	p.changed()
	return out
}

// Expire removes the flows whose idle or hard timeout has passed at now and
// returns them (reason IDLE_TIMEOUT or HARD_TIMEOUT). Idle time is measured
// between calls: a flow whose packet count changed since the previous call
// was used at this call's now, so Expire should run at least once a second.
// Control goroutine only.
func (p *Pipeline) Expire(now time.Time) []Removed {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.credit()
	var out []Removed
	var hit []*flow
	var reasons []uint8
	for f := range p.timed {
		if n := f.packets.Load(); n != f.lastPackets {
			f.lastPackets, f.lastUsed = n, now
		}
		switch {
		case f.hard != 0 && now.Sub(f.created) >= time.Duration(f.hard)*time.Second:
			hit, reasons = append(hit, f), append(reasons, ofp.RemovedHardTimeout)
		case f.idle != 0 && now.Sub(f.lastUsed) >= time.Duration(f.idle)*time.Second:
			hit, reasons = append(hit, f), append(reasons, ofp.RemovedIdleTimeout)
		}
	}
	for i, f := range hit {
		p.unlink(f)
		out = append(out, p.removed(f, reasons[i], now))
	}
	if len(hit) > 0 {
		p.changed()
	}
	return out
}

func cloneMatch(m ofp.Match) ofp.Match {
	return ofp.Match{Fields: append([]ofp.OXM(nil), m.Fields...)}
}

func utoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}
