package pipeline

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// The executor runs a program on a packet, in place.
//
// Outputs do not copy the packet. An output records that the packet's
// current bytes go to a port; only when a later step is about to change
// those bytes are they copied, once, into a buffer of the Result (a
// "version"), and the outputs recorded so far point at it. Group buckets
// work on clones the same way: opSave only marks the packet, and the bytes
// are saved when a bucket first changes them, so a group of plain outputs
// copies nothing.

// pending marks an output whose bytes are the packet's current ones.
const pending = -2

// saved is one level of the clone stack of group buckets.
type saved struct {
	buf   []byte
	lay   layout
	tun   uint64
	queue uint32
	done  bool // buf holds the packet as it was at opSave
	dirty bool // the packet changed since opSave or the last opRestore
}

// machine is the state of one program run.
type machine struct {
	w      *Worker
	pkt    []byte
	lay    layout
	res    *Result
	dry    bool // no outputs: rewriting only (for rekeying)
	inPort uint32
	tun    uint64
	queue  uint32
	pend   int // res.Outputs[pend:] show the packet's current bytes
	sp     int // depth of the clone stack
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// exec runs ops on pkt (laid out as lay) and returns the packet, which may
// have grown into its capacity or shrunk.
func (w *Worker) exec(ops []op, pkt []byte, lay *layout, inPort uint32, res *Result, dry bool) []byte {
	if dry {
		return w.run(ops, pkt, lay, inPort, res, true, 0)
	}
	// The outputs in front of the first operation that can change the
	// packet or the output state (most programs are only that: one output,
	// or a few) need no machine: they show the packet as it arrived, with
	// the initial queue and tunnel ID.
	start := len(res.Outputs)
	i := 0
	for ; i < len(ops) && ops[i].kind == opOutput; i++ {
		o := &ops[i]
		if o.port == inPort && o.port <= ofp.PortMax {
			continue // as in step
		}
		out := res.add()
		out.Port, out.Version, out.TunnelID = o.port, -1, res.tunnelIn
		out.MaxLen, out.Reason, out.TableID, out.Cookie, out.Metadata = o.maxLen, o.reason, o.table, o.cookie, o.meta
	}
	if i == len(ops) {
		return pkt
	}
	for k := start; k < len(res.Outputs); k++ {
		res.Outputs[k].Version = pending
	}
	return w.run(ops[i:], pkt, lay, inPort, res, false, start)
}

// run is exec's machine: it runs ops with res.Outputs[pend:] showing the
// packet's current bytes.
func (w *Worker) run(ops []op, pkt []byte, lay *layout, inPort uint32, res *Result, dry bool, pend int) []byte {
	m := machine{w: w, pkt: pkt, lay: *lay, res: res, dry: dry, inPort: inPort, tun: res.tunnelIn, pend: pend}
	for i := range ops {
		if !m.step(&ops[i]) {
			break
		}
	}
	if !dry {
		for i := m.pend; i < len(res.Outputs); i++ {
			res.Outputs[i].Version = -1
		}
	}
	return m.pkt
}

// touch is called before the packet's bytes change: outputs that show the
// current bytes get a copy, and clone levels that have not saved them yet
// do.
func (m *machine) touch() {
	if !m.dry && m.pend < len(m.res.Outputs) {
		k := m.res.snapshot(m.pkt)
		for i := m.pend; i < len(m.res.Outputs); i++ {
			m.res.Outputs[i].Version = k
		}
		m.pend = len(m.res.Outputs)
	}
	for i := m.sp - 1; i >= 0; i-- {
		s := &m.w.saves[i]
		if !s.done {
			s.buf = append(s.buf[:0], m.pkt...)
			s.lay, s.done = m.lay, true
		}
		s.dirty = true
	}
}

// step runs one operation; false stops the program (the packet is dropped
// from here on).
func (m *machine) step(o *op) bool {
	switch o.kind {
	case opOutput:
		if m.dry || (o.port == m.inPort && o.port <= ofp.PortMax) {
			// Output to the input port needs OFPP_IN_PORT (spec 1.3.5 §4.5).
			return true
		}
		out := m.res.add()
		out.Port, out.Version, out.Queue, out.TunnelID = o.port, pending, m.queue, m.tun
		out.MaxLen, out.Reason, out.TableID, out.Cookie, out.Metadata = o.maxLen, o.reason, o.table, o.cookie, o.meta
	case opSetField:
		m.setField(o)
	case opSetQueue:
		m.queue = o.port
	case opMeter:
		if !m.dry {
			return m.runMeter(o.meter)
		}
	case opPushVLAN:
		return m.pushVLAN(o.ethType)
	case opPopVLAN:
		m.popVLAN()
	case opPushMPLS:
		return m.pushMPLS(o.ethType)
	case opPopMPLS:
		m.popMPLS(o.ethType)
	case opPushPBB:
		return m.pushPBB(o.ethType)
	case opPopPBB:
		m.popPBB()
	case opSetNWTTL, opDecNWTTL:
		return m.nwTTL(o)
	case opSetMPLSTTL, opDecMPLSTTL:
		return m.mplsTTL(o)
	case opCopyTTLIn, opCopyTTLOut:
		m.copyTTL(o.kind == opCopyTTLIn)
	case opSave:
		if m.sp == len(m.w.saves) {
			m.w.saves = append(m.w.saves, saved{})
		}
		s := &m.w.saves[m.sp]
		s.done, s.dirty, s.tun, s.queue = false, false, m.tun, m.queue
		m.sp++
	case opRestore:
		s := &m.w.saves[m.sp-1]
		if s.dirty {
			if !m.dry && m.pend < len(m.res.Outputs) {
				k := m.res.snapshot(m.pkt)
				for i := m.pend; i < len(m.res.Outputs); i++ {
					m.res.Outputs[i].Version = k
				}
				m.pend = len(m.res.Outputs)
			}
			m.pkt = m.pkt[:len(s.buf)]
			copy(m.pkt, s.buf)
			m.lay, s.dirty = s.lay, false
		}
		m.tun, m.queue = s.tun, s.queue
	case opUnsave:
		m.sp--
	}
	return true
}

// invalidTTL ends the program for a TTL that cannot be decremented: the
// packet goes to the controller with reason INVALID_TTL if the switch is so
// configured, and is dropped otherwise.
func (m *machine) invalidTTL(o *op) bool {
	if m.dry {
		return false
	}
	m.res.InvalidTTL = true
	if m.w.p.invalidTTLToController.Load() {
		m.res.Outputs = append(m.res.Outputs, Output{
			Port: ofp.PortController, Version: pending, Queue: m.queue, TunnelID: m.tun,
			MaxLen: ofp.CMLNoBuffer, Reason: ofp.ReasonInvalidTTL, TableID: o.table, Cookie: o.cookie, Metadata: o.meta,
		})
	}
	return false
}

// Checksums are updated incrementally (RFC 1624): the ones'-complement sum
// of the 16-bit words a write touches, before and after, is folded into
// each checksum that covers them. Every header starts at an even offset of
// the frame, so word alignment in the frame is alignment in the header.

// write copies val to pkt[off:] and returns the sums of the covering words
// before and after. The caller checks that val fits.
func write(pkt []byte, off int, val []byte) (old, new uint32) {
	s, e := off&^1, off+len(val)
	if e&1 == 1 {
		e++
	}
	old = sum16(pkt, s, e)
	copy(pkt[off:], val)
	return old, sum16(pkt, s, e)
}

func sum16(b []byte, s, e int) uint32 {
	var sum uint32
	for i := s; i < e; i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		sum += w
	}
	return sum
}

func fold(x uint32) uint16 {
	x = x&0xffff + x>>16
	x = x&0xffff + x>>16
	return uint16(x)
}

// fixsum folds a change of covered words from old to new into the checksum
// at pkt[at:]. udp: a zero checksum means none, and zero is sent as 0xffff.
func fixsum(pkt []byte, at int, old, new uint32, udp bool) {
	if at < 0 || at+2 > len(pkt) {
		return
	}
	cs := be.Uint16(pkt[at:])
	if udp && cs == 0 {
		return
	}
	r := ^fold(uint32(^cs) + uint32(^fold(old)) + uint32(fold(new)))
	if udp && r == 0 {
		r = 0xffff
	}
	be.PutUint16(pkt[at:], r)
}

func (l *layout) shift(d int) {
	l.ethType += d
	if l.l3 >= 0 {
		l.l3 += d
	}
	if l.l4 >= 0 {
		l.l4 += d
	}
	if l.nd >= 0 {
		l.nd += d
	}
}

func (m *machine) reparse() {
	var k Key
	extract(m.pkt, m.inPort, &k, &m.lay)
}

// l4sum returns where the transport checksum that covers the IP
// pseudo-header is, or -1.
func (m *machine) l4sum() (at int, udp bool) {
	l := &m.lay
	if l.l4 < 0 {
		return -1, false
	}
	switch l.proto {
	case ofp.IPProtoTCP:
		return l.l4 + 16, false
	case ofp.IPProtoUDP:
		return l.l4 + 6, true
	case ofp.IPProtoICMPv6:
		return l.l4 + 2, false
	}
	return -1, false
}

// sctpPort writes an SCTP port (at off, val) and updates the checksum, a
// CRC32c over the whole SCTP packet that cannot be updated incrementally.
// As Open vSwitch does, the checksum keeps its error: the stored value is
// XORed with the difference of the correct ones before and after (CRC32c is
// affine, so a correct checksum stays correct and a wrong one stays wrong
// by the same amount).
func (m *machine) sctpPort(off int, val []byte) {
	l4, pkt := m.lay.l4, m.pkt
	if len(pkt) < l4+12 {
		copy(pkt[off:], val)
		return
	}
	cs := binary.LittleEndian.Uint32(pkt[l4+8:])
	binary.LittleEndian.PutUint32(pkt[l4+8:], 0)
	before := crc32.Checksum(pkt[l4:], castagnoli)
	copy(pkt[off:], val)
	after := crc32.Checksum(pkt[l4:], castagnoli)
	binary.LittleEndian.PutUint32(pkt[l4+8:], cs^before^after)
}

func (m *machine) is(et int) bool { return m.lay.l3Type == et && m.lay.l3 >= 0 }

// setField rewrites one header field. A field whose header the packet does
// not have (or has truncated) is left alone.
func (m *machine) setField(o *op) {
	v := o.val[:o.n]
	pkt, l := m.pkt, &m.lay
	fits := func(off, n int) bool { return off >= 0 && off+n <= len(pkt) }
	var b [8]byte
	switch o.field {
	case ofp.OXMEthDst, ofp.OXMEthSrc:
		off := 0
		if o.field == ofp.OXMEthSrc {
			off = 6
		}
		m.touch()
		copy(pkt[off:off+6], v)
	case ofp.OXMEthType:
		if fits(l.ethType, 2) {
			m.touch()
			copy(pkt[l.ethType:], v)
			m.reparse()
		}
	case ofp.OXMVlanVID, ofp.OXMVlanPCP:
		if l.vlans == 0 {
			return
		}
		m.touch()
		tci := be.Uint16(pkt[14:])
		if o.field == ofp.OXMVlanVID {
			tci = tci&0xf000 | uint16(beUint(v))&0xfff
		} else {
			tci = tci&0x1fff | uint16(v[0]&7)<<13
		}
		be.PutUint16(pkt[14:], tci)
	case ofp.OXMIPDSCP, ofp.OXMIPECN:
		switch {
		case m.is(ofp.EthTypeIPv4):
			tos := pkt[l.l3+1]
			if o.field == ofp.OXMIPDSCP {
				tos = tos&3 | v[0]<<2
			} else {
				tos = tos&^3 | v[0]&3
			}
			m.touch()
			b[0] = tos
			old, new := write(pkt, l.l3+1, b[:1])
			fixsum(pkt, l.l3+10, old, new, false)
		case m.is(ofp.EthTypeIPv6):
			w := be.Uint16(pkt[l.l3:])
			tc := byte(w >> 4)
			if o.field == ofp.OXMIPDSCP {
				tc = tc&3 | v[0]<<2
			} else {
				tc = tc&^3 | v[0]&3
			}
			m.touch()
			be.PutUint16(pkt[l.l3:], w&0xf00f|uint16(tc)<<4)
		}
	case ofp.OXMIPProto:
		// The protocol is in the pseudo-header of the transport checksum:
		// the header that is there (as the old protocol says) gets the
		// change folded in.
		at, udp := m.l4sum()
		if !fits(at, 2) {
			at = -1
		}
		switch {
		case m.is(ofp.EthTypeIPv4):
			m.touch()
			op := pkt[l.l3+9]
			old, new := write(pkt, l.l3+9, v)
			fixsum(pkt, l.l3+10, old, new, false)
			fixsum(pkt, at, uint32(op), uint32(v[0]), udp)
			m.reparse()
		case m.is(ofp.EthTypeIPv6):
			m.touch()
			op := pkt[l.l3+6]
			pkt[l.l3+6] = v[0]
			fixsum(pkt, at, uint32(op), uint32(v[0]), udp)
			m.reparse()
		}
	case ofp.OXMIPv4Src, ofp.OXMIPv4Dst:
		if !m.is(ofp.EthTypeIPv4) {
			return
		}
		off := l.l3 + 12
		if o.field == ofp.OXMIPv4Dst {
			off += 4
		}
		m.touch()
		old, new := write(pkt, off, v)
		fixsum(pkt, l.l3+10, old, new, false)
		at, udp := m.l4sum()
		fixsum(pkt, at, old, new, udp)
	case ofp.OXMIPv6Src, ofp.OXMIPv6Dst:
		if !m.is(ofp.EthTypeIPv6) {
			return
		}
		off := l.l3 + 8
		if o.field == ofp.OXMIPv6Dst {
			off += 16
		}
		m.touch()
		old, new := write(pkt, off, v)
		at, udp := m.l4sum()
		fixsum(pkt, at, old, new, udp)
	case ofp.OXMIPv6FLabel:
		if !m.is(ofp.EthTypeIPv6) {
			return
		}
		m.touch()
		w := be.Uint32(pkt[l.l3:])
		be.PutUint32(pkt[l.l3:], w&^0xfffff|uint32(beUint(v))&0xfffff)
	case ofp.OXMTCPSrc, ofp.OXMTCPDst, ofp.OXMUDPSrc, ofp.OXMUDPDst, ofp.OXMSCTPSrc, ofp.OXMSCTPDst:
		var proto uint8
		switch o.field {
		case ofp.OXMTCPSrc, ofp.OXMTCPDst:
			proto = ofp.IPProtoTCP
		case ofp.OXMUDPSrc, ofp.OXMUDPDst:
			proto = ofp.IPProtoUDP
		default:
			proto = ofp.IPProtoSCTP
		}
		off := l.l4
		if o.field == ofp.OXMTCPDst || o.field == ofp.OXMUDPDst || o.field == ofp.OXMSCTPDst {
			off += 2
		}
		if l.l4 < 0 || l.proto != proto || !fits(off, 2) {
			return
		}
		m.touch()
		if proto == ofp.IPProtoSCTP {
			m.sctpPort(off, v)
			return
		}
		old, new := write(pkt, off, v)
		at, udp := m.l4sum()
		fixsum(pkt, at, old, new, udp)
	case ofp.OXMICMPv4Type, ofp.OXMICMPv4Code, ofp.OXMICMPv6Type, ofp.OXMICMPv6Code:
		proto := uint8(ofp.IPProtoICMP)
		if o.field == ofp.OXMICMPv6Type || o.field == ofp.OXMICMPv6Code {
			proto = ofp.IPProtoICMPv6
		}
		off := l.l4
		if o.field == ofp.OXMICMPv4Code || o.field == ofp.OXMICMPv6Code {
			off++
		}
		if l.l4 < 0 || l.proto != proto || !fits(l.l4, 4) {
			return
		}
		m.touch()
		old, new := write(pkt, off, v)
		fixsum(pkt, l.l4+2, old, new, false)
	case ofp.OXMIPv6NDTarget:
		if l.l4 < 0 || l.proto != ofp.IPProtoICMPv6 || !fits(l.l4, 24) || (pkt[l.l4] != 135 && pkt[l.l4] != 136) {
			return
		}
		m.touch()
		old, new := write(pkt, l.l4+8, v)
		fixsum(pkt, l.l4+2, old, new, false)
	case ofp.OXMIPv6NDSLL, ofp.OXMIPv6NDTLL:
		want := byte(135)
		if o.field == ofp.OXMIPv6NDTLL {
			want = 136
		}
		if l.nd < 0 || !fits(l.nd, 6) || pkt[l.l4] != want {
			return
		}
		m.touch()
		old, new := write(pkt, l.nd, v)
		fixsum(pkt, l.l4+2, old, new, false)
	case ofp.OXMARPOp, ofp.OXMARPSpa, ofp.OXMARPTpa, ofp.OXMARPSha, ofp.OXMARPTha:
		if !m.is(ofp.EthTypeARP) {
			return
		}
		off := 0
		switch o.field {
		case ofp.OXMARPOp:
			off = 6
		case ofp.OXMARPSha:
			off = 8
		case ofp.OXMARPSpa:
			off = 14
		case ofp.OXMARPTha:
			off = 18
		case ofp.OXMARPTpa:
			off = 24
		}
		m.touch()
		copy(pkt[l.l3+off:], v)
	case ofp.OXMMPLSLabel, ofp.OXMMPLSTC, ofp.OXMMPLSBOS:
		if !m.is(ofp.EthTypeMPLS) && !m.is(ofp.EthTypeMPLSMC) {
			return
		}
		lse := be.Uint32(pkt[l.l3:])
		x := uint32(beUint(v))
		switch o.field {
		case ofp.OXMMPLSLabel:
			lse = lse&0xfff | x<<12
		case ofp.OXMMPLSTC:
			lse = lse&^(7<<9) | (x&7)<<9
		default:
			lse = lse&^(1<<8) | (x&1)<<8
		}
		m.touch()
		be.PutUint32(pkt[l.l3:], lse)
	case ofp.OXMPBBISID:
		if !m.is(ofp.EthTypePBB) {
			return
		}
		m.touch()
		copy(pkt[l.l3+1:l.l3+4], v)
	case ofp.OXMTunnelID:
		m.tun = beUint(v)
	}
}

// minFrame is the shortest Ethernet frame without its FCS. A pop that
// leaves a frame shorter is padded with zeros up to it (as a NIC pads a
// short frame on the wire), within the buffer's capacity.
const minFrame = 60

func (m *machine) pad() {
	n := len(m.pkt)
	if n >= minFrame || cap(m.pkt) < minFrame {
		return
	}
	m.pkt = m.pkt[:minFrame]
	clear(m.pkt[n:])
}

// pbbLen is what push_pbb inserts after the MAC addresses: the EtherType
// 0x88e7, the 4-byte I-TAG and the customer's addresses.
const pbbLen = 2 + 4 + 12

// pushPBB encapsulates the frame in 802.1ah (PBB): the I-TAG and the
// customer's MAC addresses go after the MAC addresses, which become the
// backbone's (copies of the customer's until a set-field changes them);
// VLAN tags stay with the customer's frame. The I-SID is copied from an
// outer I-TAG, else zero. Without room in the buffer the packet is dropped.
func (m *machine) pushPBB(et uint16) bool {
	n := len(m.pkt)
	if n < 14 {
		return true
	}
	if cap(m.pkt) < n+pbbLen {
		m.res.NoRoom = true
		return false
	}
	var itag uint32
	if m.is(ofp.EthTypePBB) {
		itag = be.Uint32(m.pkt[m.lay.l3:]) & 0xffffff
	}
	m.touch()
	m.pkt = m.pkt[:n+pbbLen]
	copy(m.pkt[12+pbbLen:], m.pkt[12:n])
	copy(m.pkt[18:30], m.pkt[:12])
	be.PutUint16(m.pkt[12:], et)
	be.PutUint32(m.pkt[14:], itag)
	m.reparse()
	return true
}

// popPBB removes the outer PBB encapsulation: everything in front of the
// customer's MAC addresses (backbone addresses, B-TAG, I-TAG).
func (m *machine) popPBB() {
	if !m.is(ofp.EthTypePBB) || len(m.pkt) < m.lay.l3+4+14 {
		return
	}
	d := m.lay.l3 + 4
	m.touch()
	n := copy(m.pkt, m.pkt[d:])
	m.pkt = m.pkt[:n]
	m.pad()
	m.reparse()
}

// pushVLAN inserts a tag after the MAC addresses; its VID and PCP are those
// of the outer tag if there is one, else zero. Without room in the buffer
// the packet is dropped.
func (m *machine) pushVLAN(tpid uint16) bool {
	n := len(m.pkt)
	if n < 14 {
		return true
	}
	if cap(m.pkt) < n+4 {
		m.res.NoRoom = true
		return false
	}
	var tci uint16
	if m.lay.vlans > 0 {
		tci = be.Uint16(m.pkt[14:])
	}
	m.touch()
	m.pkt = m.pkt[:n+4]
	copy(m.pkt[16:], m.pkt[12:n])
	be.PutUint16(m.pkt[12:], tpid)
	be.PutUint16(m.pkt[14:], tci)
	m.lay.vlans++
	m.lay.shift(4)
	return true
}

func (m *machine) popVLAN() {
	if m.lay.vlans == 0 {
		return
	}
	m.touch()
	copy(m.pkt[12:], m.pkt[16:])
	m.pkt = m.pkt[:len(m.pkt)-4]
	m.lay.vlans--
	m.lay.shift(-4)
	m.pad()
}

// pushMPLS inserts a label stack entry between the L2 header and its
// payload. Over an existing label it copies it (bottom-of-stack clear);
// otherwise the label is 0, bottom of stack, and the TTL the IP TTL.
func (m *machine) pushMPLS(et uint16) bool {
	at := m.lay.ethType + 2
	n := len(m.pkt)
	if m.lay.ethType < 0 || at > n {
		return true
	}
	if cap(m.pkt) < n+4 {
		m.res.NoRoom = true
		return false
	}
	var lse uint32
	switch {
	case m.is(ofp.EthTypeMPLS) || m.is(ofp.EthTypeMPLSMC):
		lse = be.Uint32(m.pkt[m.lay.l3:]) &^ (1 << 8)
	case m.is(ofp.EthTypeIPv4):
		lse = 1<<8 | uint32(m.pkt[m.lay.l3+8])
	case m.is(ofp.EthTypeIPv6):
		lse = 1<<8 | uint32(m.pkt[m.lay.l3+7])
	default:
		lse = 1 << 8
	}
	m.touch()
	m.pkt = m.pkt[:n+4]
	copy(m.pkt[at+4:], m.pkt[at:n])
	be.PutUint32(m.pkt[at:], lse)
	be.PutUint16(m.pkt[m.lay.ethType:], et)
	m.reparse()
	return true
}

func (m *machine) popMPLS(et uint16) {
	if !m.is(ofp.EthTypeMPLS) && !m.is(ofp.EthTypeMPLSMC) {
		return
	}
	l3 := m.lay.l3
	m.touch()
	copy(m.pkt[l3:], m.pkt[l3+4:])
	m.pkt = m.pkt[:len(m.pkt)-4]
	be.PutUint16(m.pkt[m.lay.ethType:], et)
	m.pad()
	m.reparse()
}

// ipTTL returns the offset of the IP TTL (hop limit) and whether it is IPv4.
func (m *machine) ipTTL() (int, bool) {
	switch {
	case m.is(ofp.EthTypeIPv4):
		return m.lay.l3 + 8, true
	case m.is(ofp.EthTypeIPv6):
		return m.lay.l3 + 7, false
	}
	return -1, false
}

func (m *machine) setIPTTL(off int, v4 bool, ttl byte) {
	m.touch()
	b := [1]byte{ttl}
	old, new := write(m.pkt, off, b[:])
	if v4 {
		fixsum(m.pkt, m.lay.l3+10, old, new, false)
	}
}

func (m *machine) nwTTL(o *op) bool {
	off, v4 := m.ipTTL()
	if off < 0 {
		return true
	}
	ttl := o.ttl
	if o.kind == opDecNWTTL {
		if m.pkt[off] <= 1 {
			return m.invalidTTL(o)
		}
		ttl = m.pkt[off] - 1
	}
	m.setIPTTL(off, v4, ttl)
	return true
}

func (m *machine) mplsTTL(o *op) bool {
	if !m.is(ofp.EthTypeMPLS) && !m.is(ofp.EthTypeMPLSMC) {
		return true
	}
	off := m.lay.l3 + 3
	ttl := o.ttl
	if o.kind == opDecMPLSTTL {
		if m.pkt[off] <= 1 {
			return m.invalidTTL(o)
		}
		ttl = m.pkt[off] - 1
	}
	m.touch()
	m.pkt[off] = ttl
	return true
}

// copyTTL copies the TTL between the outer MPLS label and the next header
// (the next label, or the IP header under the bottom of the stack): inward
// (outer to inner) or outward.
func (m *machine) copyTTL(in bool) {
	if !m.is(ofp.EthTypeMPLS) && !m.is(ofp.EthTypeMPLSMC) {
		return
	}
	l3, pkt := m.lay.l3, m.pkt
	outer := l3 + 3
	inner, v4 := -1, false
	next := l3 + 4
	if pkt[l3+2]&1 == 0 {
		if len(pkt) >= next+4 {
			inner = next + 3
		}
	} else if len(pkt) >= next+20 && pkt[next]>>4 == 4 {
		inner, v4 = next+8, true
	} else if len(pkt) >= next+40 && pkt[next]>>4 == 6 {
		inner = next + 7
	}
	if inner < 0 {
		return
	}
	m.touch()
	if !in {
		pkt[outer] = pkt[inner]
		return
	}
	b := [1]byte{pkt[outer]}
	old, new := write(pkt, inner, b[:])
	if v4 {
		fixsum(pkt, next+10, old, new, false)
	}
}
