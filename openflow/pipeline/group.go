package pipeline

import (
	"slices"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// A group is a group table entry. Like flows, its fields change under
// Pipeline.mu held for writing; its counters are updated by the forwarding
// path at any time.
type group struct {
	id      uint32
	typ     uint8
	buckets []bucket
	created time.Time
	counter
}

type bucket struct {
	ofp.Bucket
	*counter
}

func gmError(code uint16, reason string) *ofp.Error {
	return &ofp.Error{Type: ofp.ETGroupModFailed, Code: code, Reason: reason}
}

// reaches reports whether group from is to, or forwards to it through its
// buckets' group actions, directly or along a chain.
func (p *Pipeline) reaches(from, to uint32) bool {
	return p.reachesDepth(from, to, 0)
}

func (p *Pipeline) reachesDepth(from, to uint32, depth int) bool {
	if from == to {
		return true
	}
	g := p.groups[from]
	if g == nil || depth > maxGroupDepth {
		return false
	}
	for _, b := range g.buckets {
		for _, a := range b.Actions {
			if ga, ok := a.(ofp.ActionGroup); ok && p.reachesDepth(ga.GroupID, to, depth+1) {
				return true
			}
		}
	}
	return false
}

// maxGroupDepth bounds group chains (loops are refused, so this only guards
// against pathological chains).
const maxGroupDepth = 32

// GroupMod applies a GROUP_MOD. A refusal is an *ofp.Error with the spec's
// type and code. Deleting a group deletes the flows that forward to it; they
// are returned with reason GROUP_DELETE. Control goroutine only.
func (p *Pipeline) GroupMod(gm *ofp.GroupMod) ([]Removed, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.credit()
	switch gm.Command {
	case ofp.GroupAdd, ofp.GroupModify:
		if gm.GroupID > ofp.GroupMax {
			return nil, gmError(ofp.GMFCInvalidGroup, "group id "+utoa(uint64(gm.GroupID)))
		}
		old := p.groups[gm.GroupID]
		if gm.Command == ofp.GroupAdd && old != nil {
			return nil, gmError(ofp.GMFCGroupExists, "group "+utoa(uint64(gm.GroupID))+" exists")
		}
		if gm.Command == ofp.GroupModify && old == nil {
			return nil, gmError(ofp.GMFCUnknownGroup, "no group "+utoa(uint64(gm.GroupID)))
		}
		if err := p.checkGroup(gm); err != nil {
			return nil, err
		}
		g := &group{id: gm.GroupID, typ: gm.GroupType, created: p.now()}
		if old != nil {
			// A modified group keeps its own counters and age; its buckets
			// are new.
			g = old
			g.typ = gm.GroupType
		}
		g.buckets = make([]bucket, len(gm.Buckets))
		for i, b := range gm.Buckets {
			g.buckets[i] = bucket{Bucket: b, counter: new(counter)}
		}
		p.groups[gm.GroupID] = g
		p.changed()
		return nil, nil
	case ofp.GroupDelete:
		return p.deleteGroup(gm.GroupID)
	}
	return nil, gmError(ofp.GMFCBadCommand, "group_mod command "+utoa(uint64(gm.Command)))
}

func (p *Pipeline) checkGroup(gm *ofp.GroupMod) error {
	switch gm.GroupType {
	case ofp.GroupTypeAll, ofp.GroupTypeSelect:
	case ofp.GroupTypeIndirect:
		if len(gm.Buckets) != 1 {
			return gmError(ofp.GMFCInvalidGroup, "an indirect group has exactly one bucket")
		}
	case ofp.GroupTypeFF:
	default:
		return gmError(ofp.GMFCBadType, "group type "+utoa(uint64(gm.GroupType)))
	}
	for _, b := range gm.Buckets {
		if gm.GroupType == ofp.GroupTypeFF && b.WatchPort == ofp.PortAny && b.WatchGroup == ofp.GroupAny {
			return gmError(ofp.GMFCBadWatch, "a fast-failover bucket needs a watch port or group")
		}
		if gm.GroupType == ofp.GroupTypeFF || gm.GroupType == ofp.GroupTypeSelect {
			if b.WatchPort != ofp.PortAny && (b.WatchPort == 0 || b.WatchPort > ofp.PortMax ||
				(p.opts.PortExists != nil && !p.opts.PortExists(b.WatchPort))) {
				return gmError(ofp.GMFCBadWatch, "watch port "+utoa(uint64(b.WatchPort)))
			}
			if b.WatchGroup != ofp.GroupAny {
				if p.groups[b.WatchGroup] == nil {
					return gmError(ofp.GMFCBadWatch, "watch group "+utoa(uint64(b.WatchGroup)))
				}
				if p.reaches(b.WatchGroup, gm.GroupID) {
					return gmError(ofp.GMFCLoop, "watch group loops")
				}
			}
		}
		if err := p.checkActions(b.Actions, actionCtx{group: gm.GroupID}); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pipeline) deleteGroup(id uint32) ([]Removed, error) {
	var gone []uint32
	if id == ofp.GroupAll {
		for gid := range p.groups {
			gone = append(gone, gid)
		}
	} else if p.groups[id] != nil {
		for gid := range p.groups {
			if gid != id && p.reaches(gid, id) {
				return nil, gmError(ofp.GMFCChainedGroup, "group "+utoa(uint64(gid))+" forwards to group "+utoa(uint64(id)))
			}
		}
		gone = append(gone, id)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	var hit []*flow
	for _, t := range p.tables {
		t.each(func(f *flow) {
			for _, gid := range gone {
				if forwardsTo(f, ofp.PortAny, gid) {
					hit = append(hit, f)
					return
				}
			}
		})
	}
	for _, gid := range gone {
		delete(p.groups, gid)
	}
	p.changed()
	return p.removeFlows(hit, ofp.RemovedGroupDelete), nil
}

// live reports whether bucket b may be used: its watched port is live and
// its watched group has a live bucket.
func (p *Pipeline) live(b *bucket, depth int) bool {
	if b.WatchPort != ofp.PortAny && p.opts.PortLive != nil && !p.opts.PortLive(b.WatchPort) {
		return false
	}
	if b.WatchGroup != ofp.GroupAny {
		g := p.groups[b.WatchGroup]
		if g == nil || depth > maxGroupDepth {
			return false
		}
		return slices.ContainsFunc(g.buckets, func(c bucket) bool { return p.live(&c, depth+1) })
	}
	return true
}
