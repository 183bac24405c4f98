package pipeline

import (
	"slices"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// Multipart answers the multipart requests the pipeline owns: flow,
// aggregate, table, group, group description, group features, meter,
// meter configuration, meter features and table features statistics. For
// other bodies it returns (nil, nil): the caller answers them (description,
// ports, queues). A bad request is an
// *ofp.Error. Safe from any goroutine.
func (p *Pipeline) Multipart(body ofp.MultipartBody) (ofp.MultipartBody, error) {
	switch b := body.(type) {
	case *ofp.FlowStatsRequest:
		return p.FlowStats(b)
	case *ofp.AggregateStatsRequest:
		return p.AggregateStats(b)
	case *ofp.TableStatsRequest:
		return p.TableStats(), nil
	case *ofp.GroupStatsRequest:
		return p.GroupStats(b), nil
	case *ofp.GroupDescRequest:
		return p.GroupDesc(), nil
	case *ofp.GroupFeaturesRequest:
		return p.GroupFeatures(), nil
	case *ofp.TableFeaturesRequest:
		return p.TableFeatures(b)
	case *ofp.MeterStatsRequest:
		return p.MeterStats(b), nil
	case *ofp.MeterConfigRequest:
		return p.MeterConfig(b), nil
	case *ofp.MeterFeaturesRequest:
		return p.MeterFeatures(), nil
	}
	return nil, nil
}

// selectFlows returns the flows a statistics request names, by table, then
// priority.
func (p *Pipeline) selectFlows(r *ofp.FlowStatsRequest) ([]*flow, error) {
	if int(r.TableID) >= len(p.tables) && r.TableID != ofp.TableAll {
		return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadTableID, Reason: "table " + utoa(uint64(r.TableID))}
	}
	val, mask, err := compileMatch(&r.Match)
	if err != nil {
		return nil, err
	}
	var out []*flow
	for _, t := range p.tables {
		if r.TableID != ofp.TableAll && t.id != r.TableID {
			continue
		}
		for _, f := range t.flows() {
			if covers(&val, &mask, f) && f.cookie&r.CookieMask == r.Cookie&r.CookieMask &&
				forwardsTo(f, r.OutPort, r.OutGroup) {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

func duration(now, since time.Time) (sec, nsec uint32) {
	d := now.Sub(since)
	if d < 0 {
		d = 0
	}
	return uint32(d / time.Second), uint32(d % time.Second)
}

// FlowStats answers a flow statistics request.
func (p *Pipeline) FlowStats(r *ofp.FlowStatsRequest) (*ofp.FlowStatsReply, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.credit()
	fs, err := p.selectFlows(r)
	if err != nil {
		return nil, err
	}
	now := p.now()
	rep := &ofp.FlowStatsReply{Stats: make([]ofp.FlowStats, 0, len(fs))}
	for _, f := range fs {
		sec, nsec := duration(now, f.created)
		rep.Stats = append(rep.Stats, ofp.FlowStats{
			TableID: f.table, DurationSec: sec, DurationNsec: nsec, Priority: f.priority,
			IdleTimeout: f.idle, HardTimeout: f.hard, Flags: f.flags, Cookie: f.cookie,
			PacketCount: f.packets.Load(), ByteCount: f.bytes.Load(),
			Match: f.match, Instructions: f.insts,
		})
	}
	return rep, nil
}

// AggregateStats answers an aggregate statistics request.
func (p *Pipeline) AggregateStats(r *ofp.AggregateStatsRequest) (*ofp.AggregateStatsReply, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.credit()
	fs, err := p.selectFlows((*ofp.FlowStatsRequest)(r))
	if err != nil {
		return nil, err
	}
	rep := &ofp.AggregateStatsReply{FlowCount: uint32(len(fs))}
	for _, f := range fs {
		rep.PacketCount += f.packets.Load()
		rep.ByteCount += f.bytes.Load()
	}
	return rep, nil
}

// TableStats answers a table statistics request: every table, with its
// active flows, lookups and matches (packets that hit a flow, the table-miss
// flow entry included).
func (p *Pipeline) TableStats() *ofp.TableStatsReply {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.credit()
	rep := &ofp.TableStatsReply{Stats: make([]ofp.TableStats, 0, len(p.tables))}
	for _, t := range p.tables {
		rep.Stats = append(rep.Stats, ofp.TableStats{
			TableID: t.id, ActiveCount: uint32(t.n), LookupCount: t.lookups.Load(), MatchedCount: t.matched.Load(),
		})
	}
	return rep
}

func (p *Pipeline) groupIDs() []uint32 {
	ids := make([]uint32, 0, len(p.groups))
	for id := range p.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// refCount counts the flows and groups that forward to group id.
func (p *Pipeline) refCount(id uint32) uint32 {
	n := uint32(0)
	for _, t := range p.tables {
		t.each(func(f *flow) {
			if forwardsTo(f, ofp.PortAny, id) {
				n++
			}
		})
	}
	for gid, g := range p.groups {
		if gid == id {
			continue
		}
	buckets:
		for _, b := range g.buckets {
			for _, a := range b.Actions {
				if ga, ok := a.(ofp.ActionGroup); ok && ga.GroupID == id {
					n++
					break buckets
				}
			}
		}
	}
	return n
}

// GroupStats answers a group statistics request (GroupAll: every group;
// an unknown group: an empty reply).
func (p *Pipeline) GroupStats(r *ofp.GroupStatsRequest) *ofp.GroupStatsReply {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.credit()
	now := p.now()
	rep := &ofp.GroupStatsReply{}
	for _, id := range p.groupIDs() {
		if r.GroupID != ofp.GroupAll && r.GroupID != id {
			continue
		}
		g := p.groups[id]
		sec, nsec := duration(now, g.created)
		s := ofp.GroupStats{
			GroupID: id, RefCount: p.refCount(id), PacketCount: g.packets.Load(), ByteCount: g.bytes.Load(),
			DurationSec: sec, DurationNsec: nsec, BucketStats: make([]ofp.BucketCounter, len(g.buckets)),
		}
		for i, b := range g.buckets {
			s.BucketStats[i] = ofp.BucketCounter{PacketCount: b.packets.Load(), ByteCount: b.bytes.Load()}
		}
		rep.Stats = append(rep.Stats, s)
	}
	return rep
}

// GroupDesc answers a group description request.
func (p *Pipeline) GroupDesc() *ofp.GroupDescReply {
	p.mu.RLock()
	defer p.mu.RUnlock()
	rep := &ofp.GroupDescReply{}
	for _, id := range p.groupIDs() {
		g := p.groups[id]
		d := ofp.GroupDesc{GroupType: g.typ, GroupID: id, Buckets: make([]ofp.Bucket, len(g.buckets))}
		for i, b := range g.buckets {
			d.Buckets[i] = b.Bucket
		}
		rep.Groups = append(rep.Groups, d)
	}
	return rep
}

// supportedActions is the bitmap of the action types the pipeline executes.
const supportedActions = 1<<ofp.ActOutput | 1<<ofp.ActCopyTTLOut | 1<<ofp.ActCopyTTLIn |
	1<<ofp.ActSetMPLSTTL | 1<<ofp.ActDecMPLSTTL | 1<<ofp.ActPushVLAN | 1<<ofp.ActPopVLAN |
	1<<ofp.ActPushMPLS | 1<<ofp.ActPopMPLS | 1<<ofp.ActSetQueue | 1<<ofp.ActGroup |
	1<<ofp.ActSetNWTTL | 1<<ofp.ActDecNWTTL | 1<<ofp.ActSetField | 1<<ofp.ActPushPBB | 1<<ofp.ActPopPBB

// GroupFeatures answers a group features request.
func (p *Pipeline) GroupFeatures() *ofp.GroupFeaturesReply {
	const n = 1 << 16
	return &ofp.GroupFeaturesReply{
		Types: 1<<ofp.GroupTypeAll | 1<<ofp.GroupTypeSelect | 1<<ofp.GroupTypeIndirect | 1<<ofp.GroupTypeFF,
		Capabilities: ofp.GroupCapSelectWeight | ofp.GroupCapSelectLiveness |
			ofp.GroupCapChaining | ofp.GroupCapChainingChecks,
		MaxGroups: [4]uint32{n, n, n, n},
		Actions:   [4]uint32{supportedActions, supportedActions, supportedActions, supportedActions},
	}
}

// TableFeatures answers a table features request with what every table
// supports. A request that sets features is refused
// (TABLE_FEATURES_FAILED/EPERM): the tables are fixed.
func (p *Pipeline) TableFeatures(r *ofp.TableFeaturesRequest) (*ofp.TableFeaturesReply, error) {
	if len(r.Tables) > 0 {
		return nil, &ofp.Error{Type: ofp.ETTableFeaturesFail, Code: ofp.TFFCEperm, Reason: "table features are fixed"}
	}
	var insts []ofp.FeatureID
	for _, t := range []ofp.InstructionType{ofp.InstGotoTable, ofp.InstWriteMetadata, ofp.InstWriteActions,
		ofp.InstApplyActions, ofp.InstClearActions, ofp.InstMeter} {
		insts = append(insts, ofp.FeatureID{Type: uint16(t)})
	}
	var acts []ofp.FeatureID
	for t := 0; t < 32; t++ {
		if supportedActions&(1<<t) != 0 {
			acts = append(acts, ofp.FeatureID{Type: uint16(t)})
		}
	}
	var match, wild, set []ofp.OXMID
	for f := ofp.OXMField(0); int(f) < len(fields); f++ {
		if !supported(f) {
			continue
		}
		size := f.Size()
		h := uint32(ofp.OXMClassBasic)<<16 | uint32(f)<<9 | uint32(size)
		if f.Maskable() {
			match = append(match, ofp.OXMID{Header: h&^0xff | 1<<8 | uint32(2*size)})
		} else {
			match = append(match, ofp.OXMID{Header: h})
		}
		wild = append(wild, ofp.OXMID{Header: h})
		if fields[f].set {
			set = append(set, ofp.OXMID{Header: h})
		}
	}
	rep := &ofp.TableFeaturesReply{}
	for _, t := range p.tables {
		var next []uint8
		for n := int(t.id) + 1; n < len(p.tables); n++ {
			next = append(next, uint8(n))
		}
		props := []ofp.TableFeatureProp{
			{Type: ofp.TFPInstructions, IDs: insts},
			{Type: ofp.TFPInstructionsMiss, IDs: insts},
			{Type: ofp.TFPNextTables, NextTables: next},
			{Type: ofp.TFPNextTablesMiss, NextTables: next},
			{Type: ofp.TFPWriteActions, IDs: acts},
			{Type: ofp.TFPWriteActionsMiss, IDs: acts},
			{Type: ofp.TFPApplyActions, IDs: acts},
			{Type: ofp.TFPApplyActionsMiss, IDs: acts},
			{Type: ofp.TFPMatch, OXMs: match},
			{Type: ofp.TFPWildcards, OXMs: wild},
			{Type: ofp.TFPWriteSetField, OXMs: set},
			{Type: ofp.TFPWriteSetFieldMiss, OXMs: set},
			{Type: ofp.TFPApplySetField, OXMs: set},
			{Type: ofp.TFPApplySetFieldMiss, OXMs: set},
		}
		rep.Tables = append(rep.Tables, ofp.TableFeatures{
			TableID: t.id, Name: "table" + utoa(uint64(t.id)),
			MetadataMatch: ^uint64(0), MetadataWrite: ^uint64(0), MaxEntries: 1 << 20, Properties: props,
		})
	}
	return rep, nil
}

// PacketOut runs the actions of a PACKET_OUT on pkt, as if it had arrived
// on inPort (ofp.PortController for none): output to ofp.PortTable sends
// it through the flow tables from table 0. The actions are validated first
// (an *ofp.Error for a bad one). Results are reported as by Process.
func (w *Worker) PacketOut(pkt []byte, inPort uint32, actions []ofp.Action, res *Result) ([]byte, error) {
	p := w.p
	res.reset()
	res.tunnelIn = 0
	if inPort != ofp.PortController && inPort != ofp.PortAny && inPort != ofp.PortLocal &&
		(inPort == 0 || inPort > ofp.PortMax) {
		return pkt, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadPort, Reason: "packet-out in_port " + utoa(uint64(inPort))}
	}
	var k Key
	var lay layout
	if !extract(pkt, inPort, &k, &lay) {
		res.Malformed = true
		return pkt, nil
	}
	p.mu.RLock()
	if err := p.checkActions(actions, actionCtx{packetOut: true, group: ofp.GroupAny}); err != nil {
		p.mu.RUnlock()
		return pkt, err
	}
	x := &w.x
	x.reset(p, w, &k, pkt, inPort)
	x.actions(actions)
	p.mu.RUnlock()
	x.prog.count(len(pkt))
	return w.exec(x.prog.ops, pkt, &lay, inPort, res, false), nil
}
