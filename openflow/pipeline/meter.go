package pipeline

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// Meters (OpenFlow 1.3.5 §5.7).
//
// A flow's meter instruction runs before its apply-actions: the packet is
// measured against each band of the meter, and the band with the highest
// rate among those the packet exceeds applies: DROP ends the program (the
// packet is dropped from here on), DSCP_REMARK raises the drop precedence
// of the IP DSCP field by the band's prec_level.
//
// Each band is a token bucket written as GCRA (the generic cell rate
// algorithm, RFC 2697's single-rate bucket in its virtual-scheduling form):
// a single atomic word per band, the theoretical arrival time of the next
// conforming packet, updated with compare-and-swap. So every worker meters
// against the same bucket without a lock, and metering allocates nothing.
// Time is the monotonic clock in 1/64 ns ticks. A packet conforms when the
// bucket's time is at most the burst tolerance ahead of now; it then moves
// the time on by its cost (1/rate s for PKTPS, its bytes*8/rate s for
// KBPS, where kb is 1000 bits). The tolerance is the BURST flag's
// burst_size (kb or packets) at the band's rate, or 100 ms by default.

// Meter limits, as METER_FEATURES reports them.
const (
	maxMeters     = 1 << 16
	maxMeterBands = 8
	meterFlags    = ofp.MeterFlagKbps | ofp.MeterFlagPktps | ofp.MeterFlagBurst | ofp.MeterFlagStats
	defaultBurst  = 100 * time.Millisecond
	tickShift     = 6 // ticks per ns: 1 << tickShift
)

// epoch is the origin of the meters' clock.
var epoch = time.Now()

func ticksNow() uint64 { return uint64(time.Since(epoch)) << tickShift }

// A meter is a meter table entry. Its configuration is replaced as a whole
// (under Pipeline.mu held for writing) and read by the forwarding path
// without a lock.
type meter struct {
	id      uint32
	created time.Time
	conf    atomic.Pointer[meterConf]
	counter // packets and bytes that entered the meter
}

type meterConf struct {
	flags uint16
	bands []ofp.MeterBand // as configured, for METER_CONFIG
	b     []band          // the same, in the same order, with their buckets
}

type band struct {
	typ  uint16
	prec uint8
	rate uint32
	kbps bool
	cost uint64 // ticks per packet (PKTPS); for KBPS see costOf
	tol  uint64 // burst tolerance in ticks
	tat  atomic.Uint64
	counter
}

// costOf returns what a packet of n bytes takes from the band's bucket.
func (b *band) costOf(n int) uint64 {
	if b.kbps {
		// n*8 bits at rate*1000 bit/s: n*8e6/rate ns.
		return uint64(n) * (8e6 << tickShift) / uint64(b.rate)
	}
	return b.cost
}

// conform reports whether a packet of the given cost arriving at now
// conforms to the band, and charges the bucket if it does.
func (b *band) conform(now, cost uint64) bool {
	for {
		tat := b.tat.Load()
		t := max(tat, now)
		if t-now > b.tol {
			return false
		}
		if b.tat.CompareAndSwap(tat, t+cost) {
			return true
		}
	}
}

func mmError(code uint16, reason string) *ofp.Error {
	return &ofp.Error{Type: ofp.ETMeterModFailed, Code: code, Reason: reason}
}

// compileMeter validates a METER_MOD's flags and bands.
func compileMeter(mm *ofp.MeterMod) (*meterConf, error) {
	if mm.Flags&^meterFlags != 0 || mm.Flags&(ofp.MeterFlagKbps|ofp.MeterFlagPktps) == ofp.MeterFlagKbps|ofp.MeterFlagPktps {
		return nil, mmError(ofp.MMFCBadFlags, "meter flags "+utoa(uint64(mm.Flags)))
	}
	if len(mm.Bands) > maxMeterBands {
		return nil, mmError(ofp.MMFCOutOfBands, "more than "+utoa(maxMeterBands)+" bands")
	}
	c := &meterConf{flags: mm.Flags, bands: slices.Clone(mm.Bands), b: make([]band, len(mm.Bands))}
	kbps := mm.Flags&ofp.MeterFlagPktps == 0
	for i, bd := range mm.Bands {
		switch bd.Type {
		case ofp.MeterBandDrop:
		case ofp.MeterBandDSCPRemark:
		default:
			return nil, mmError(ofp.MMFCBadBand, "meter band type "+utoa(uint64(bd.Type)))
		}
		if bd.Rate == 0 {
			return nil, mmError(ofp.MMFCBadRate, "meter band rate 0")
		}
		b := &c.b[i]
		b.typ, b.prec, b.rate, b.kbps = bd.Type, bd.PrecLevel, bd.Rate, kbps
		if !kbps {
			b.cost = (uint64(time.Second) << tickShift) / uint64(bd.Rate)
		}
		tol := float64(defaultBurst << tickShift)
		if mm.Flags&ofp.MeterFlagBurst != 0 {
			if bd.BurstSize == 0 {
				return nil, mmError(ofp.MMFCBadBurst, "burst size 0")
			}
			// burst_size kb (or packets) at rate kb/s (packets/s).
			tol = float64(bd.BurstSize) / float64(bd.Rate) * float64(uint64(time.Second)<<tickShift)
		}
		b.tol = uint64(min(tol, math.MaxInt64))
	}
	return c, nil
}

// MeterMod applies a METER_MOD. A refusal is an *ofp.Error with the spec's
// type and code. Deleting a meter deletes the flows that use it; they are
// returned with reason DELETE. Deleting a meter that does not exist is not
// an error. Control goroutine only.
func (p *Pipeline) MeterMod(mm *ofp.MeterMod) ([]Removed, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.credit()
	switch mm.Command {
	case ofp.MeterAdd, ofp.MeterModify:
		if mm.MeterID == 0 || mm.MeterID > ofp.MeterMax {
			// The virtual meters (SLOWPATH, CONTROLLER) are not supported.
			return nil, mmError(ofp.MMFCInvalidMeter, "meter id "+utoa(uint64(mm.MeterID)))
		}
		old := p.meters[mm.MeterID]
		if mm.Command == ofp.MeterAdd && old != nil {
			return nil, mmError(ofp.MMFCMeterExists, "meter "+utoa(uint64(mm.MeterID))+" exists")
		}
		if mm.Command == ofp.MeterModify && old == nil {
			return nil, mmError(ofp.MMFCUnknownMeter, "no meter "+utoa(uint64(mm.MeterID)))
		}
		if old == nil && len(p.meters) >= maxMeters {
			return nil, mmError(ofp.MMFCOutOfMeters, "meter table full")
		}
		c, err := compileMeter(mm)
		if err != nil {
			return nil, err
		}
		if old == nil {
			old = &meter{id: mm.MeterID, created: p.now()}
			p.meters[mm.MeterID] = old
		}
		// A modified meter keeps its counters and age; its bands (and
		// their buckets and counters) are new.
		old.conf.Store(c)
		p.changed()
		return nil, nil
	case ofp.MeterDelete:
		return p.deleteMeter(mm.MeterID), nil
	}
	return nil, mmError(ofp.MMFCBadCommand, "meter_mod command "+utoa(uint64(mm.Command)))
}

func (p *Pipeline) deleteMeter(id uint32) []Removed {
	if id != ofp.MeterAll && p.meters[id] == nil {
		return nil
	}
	var hit []*flow
	for _, t := range p.tables {
		t.each(func(f *flow) {
			if f.prog.meter != 0 && (id == ofp.MeterAll || f.prog.meter == id) {
				hit = append(hit, f)
			}
		})
	}
	if id == ofp.MeterAll {
		clear(p.meters)
	} else {
		delete(p.meters, id)
	}
	p.changed()
	return p.removeFlows(hit, ofp.RemovedDelete)
}

// runMeter measures the packet with meter mt; false: a drop band applied.
func (m *machine) runMeter(mt *meter) bool {
	n := len(m.pkt)
	mt.add(n)
	c := mt.conf.Load()
	if len(c.b) == 0 {
		return true
	}
	now := ticksNow()
	var hit *band
	for i := range c.b {
		b := &c.b[i]
		if !b.conform(now, b.costOf(n)) && (hit == nil || b.rate > hit.rate) {
			hit = b
		}
	}
	if hit == nil {
		return true
	}
	hit.add(n)
	if hit.typ == ofp.MeterBandDrop {
		m.res.MeterDrop = true
		return false
	}
	m.remark(hit.prec)
	return true
}

// remark raises the drop precedence of an assured-forwarding DSCP (AFxy,
// RFC 2597: class x 1-4, drop precedence y 1-3, DSCP 8x+2y) by prec, up to
// 3. Other code points, and packets without IP, are left alone.
func (m *machine) remark(prec uint8) {
	var dscp uint8
	switch {
	case m.is(ofp.EthTypeIPv4):
		dscp = m.pkt[m.lay.l3+1] >> 2
	case m.is(ofp.EthTypeIPv6):
		dscp = uint8(be.Uint16(m.pkt[m.lay.l3:])>>6) & 0x3f
	default:
		return
	}
	x, y := dscp>>3, dscp>>1&3
	if x < 1 || x > 4 || y < 1 || dscp&1 != 0 {
		return
	}
	y = min(y+prec, 3)
	o := op{kind: opSetField, field: ofp.OXMIPDSCP, n: 1}
	o.val[0] = x<<3 | y<<1
	m.setField(&o)
}

// MeterStats answers a meter statistics request (MeterAll: every meter;
// an unknown meter: an empty reply).
func (p *Pipeline) MeterStats(r *ofp.MeterStatsRequest) *ofp.MeterStatsReply {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.now()
	rep := &ofp.MeterStatsReply{Stats: []ofp.MeterStats{}}
	for _, id := range p.meterIDs(r.MeterID) {
		mt := p.meters[id]
		c := mt.conf.Load()
		sec, nsec := duration(now, mt.created)
		s := ofp.MeterStats{
			MeterID: id, FlowCount: p.meterFlows(id), PacketInCount: mt.packets.Load(), ByteInCount: mt.bytes.Load(),
			DurationSec: sec, DurationNsec: nsec, BandStats: make([]ofp.MeterBandStats, len(c.b)),
		}
		for i := range c.b {
			s.BandStats[i] = ofp.MeterBandStats{PacketBandCount: c.b[i].packets.Load(), ByteBandCount: c.b[i].bytes.Load()}
		}
		rep.Stats = append(rep.Stats, s)
	}
	return rep
}

// MeterConfig answers a meter configuration request.
func (p *Pipeline) MeterConfig(r *ofp.MeterConfigRequest) *ofp.MeterConfigReply {
	p.mu.RLock()
	defer p.mu.RUnlock()
	rep := &ofp.MeterConfigReply{Meters: []ofp.MeterConfig{}}
	for _, id := range p.meterIDs(r.MeterID) {
		c := p.meters[id].conf.Load()
		rep.Meters = append(rep.Meters, ofp.MeterConfig{Flags: c.flags, MeterID: id, Bands: c.bands})
	}
	return rep
}

// MeterFeatures answers a meter features request.
func (p *Pipeline) MeterFeatures() *ofp.MeterFeaturesReply {
	return &ofp.MeterFeaturesReply{
		MaxMeter:     maxMeters,
		BandTypes:    1<<ofp.MeterBandDrop | 1<<ofp.MeterBandDSCPRemark,
		Capabilities: uint32(meterFlags),
		MaxBands:     maxMeterBands,
	}
}

// meterIDs returns id if it is a meter, or every meter for MeterAll, sorted.
func (p *Pipeline) meterIDs(id uint32) []uint32 {
	if id != ofp.MeterAll {
		if p.meters[id] == nil {
			return nil
		}
		return []uint32{id}
	}
	ids := make([]uint32, 0, len(p.meters))
	for id := range p.meters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// meterFlows counts the flows that use meter id.
func (p *Pipeline) meterFlows(id uint32) uint32 {
	n := uint32(0)
	for _, t := range p.tables {
		t.each(func(f *flow) {
			if f.prog.meter == id {
				n++
			}
		})
	}
	return n
}
