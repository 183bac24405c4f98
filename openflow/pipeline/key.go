package pipeline

import (
	"encoding/binary"
	"math/bits"

	"github.com/mswitch/mswitch/openflow/ofp"
)

var be = binary.BigEndian

// A Key is the flow key of a packet: every field the pipeline can match,
// packed into fixed 64-bit words so that masking, comparing and hashing are
// loops over an array. A Key is also used as a mask (a set bit: the bit
// matters). Fields that cannot occur together share words, as in OVS:
// ipv4_src/arp_spa, ipv4_dst/arp_tpa, arp_sha/nd_sll, arp_tha/nd_tll, and the
// transport ports with the ICMP type and code (the prerequisites keep them
// apart). pbb_isid shares the MPLS bits: a frame is PBB (EtherType 0x88e7)
// or MPLS, not both.
//
//	word  bits 63 .................................................. 0
//	 0    in_port (32)                  | in_phy_port (32)
//	 1    metadata (64)
//	 2    tunnel_id (64)
//	 3    eth_dst (48)                               | eth_type (16)
//	 4    eth_src (48)                               | vlan_vid (13) | pcp (3)
//	 5    ip_proto (8) | dscp (6) ecn (2) | tp_src (16) | tp_dst (16) | 0
//	 6    ipv4_src / arp_spa (32)        | ipv4_dst / arp_tpa (32)
//	 7-8  ipv6_src (128)
//	 9-10 ipv6_dst (128)
//	11    flabel (20) | mpls label (20) tc (3) bos (1) | 0 (4) | arp_op (16)
//	      or         | pbb_isid (24)                 |
//	12-13 ipv6_nd_target (128)
//	14    arp_sha / nd_sll (48)                      | ipv6_exthdr (9)
//	15    arp_tha / nd_tll (48)                      | 0
//
// vlan_vid holds OFPVID_PRESENT|vid for a tagged packet and 0 (OFPVID_NONE)
// for an untagged one, so the spec's VLAN matches are plain masked compares.
type Key [keyWords]uint64

const keyWords = 16

// and returns k & m.
func (k *Key) and(m *Key) (r Key) {
	for i := range k {
		r[i] = k[i] & m[i]
	}
	return r
}

// or sets k |= m.
func (k *Key) or(m *Key) {
	for i := range k {
		k[i] |= m[i]
	}
}

// hash is a fast non-cryptographic hash of the whole key (for the EMC and
// the exact-match probes). The words are multiplied in pairs, each pair
// keyed by its own constants, into 128-bit products whose halves are
// folded: the eight products do not depend on each other, so they run in
// parallel where a word-by-word chain would wait for each multiplication.
// A final multiply spreads every bit into the low ones, which index the
// EMC.
func (k *Key) hash() uint64 {
	h := mum(k[0]^0xa0761d6478bd642f, k[1]^0xe7037ed1a0b428db) ^
		mum(k[2]^0x8ebc6af09c88c6e3, k[3]^0x589965cc75374cc3) ^
		mum(k[4]^0x1d8e4e27c47d124f, k[5]^0x9e3779b97f4a7c15) ^
		mum(k[6]^0xbf58476d1ce4e5b9, k[7]^0x94d049bb133111eb) ^
		mum(k[8]^0xd6e8feb86659fd93, k[9]^0xca5a826395121157) ^
		mum(k[10]^0x2d358dccaa6c78a5, k[11]^0x8bb84b93962eacc9) ^
		mum(k[12]^0x4b33a62ed433d4a3, k[13]^0x4d5a2da51de1aa47) ^
		mum(k[14]^0xc2b2ae3d27d4eb4f, k[15]^0x165667b19e3779f9)
	return mum(h, 0x9e3779b97f4a7c15)
}

// mum multiplies a and b into 128 bits and folds the halves.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// field is where a basic OXM field lives in a Key.
type field struct {
	word  int8  // first word
	shift uint8 // of the field's low bit in its word (≤64-bit fields)
	bits  uint8 // width; 128 for the two-word IPv6 addresses
	set   bool  // may be rewritten by a set-field action
}

// fields maps the supported OpenFlow basic fields; bits == 0 would mark a
// field as not supported.
var fields = [40]field{
	ofp.OXMInPort:       {0, 32, 32, false},
	ofp.OXMInPhyPort:    {0, 0, 32, false},
	ofp.OXMMetadata:     {1, 0, 64, false},
	ofp.OXMEthDst:       {3, 16, 48, true},
	ofp.OXMEthSrc:       {4, 16, 48, true},
	ofp.OXMEthType:      {3, 0, 16, true},
	ofp.OXMVlanVID:      {4, 3, 13, true},
	ofp.OXMVlanPCP:      {4, 0, 3, true},
	ofp.OXMIPDSCP:       {5, 50, 6, true},
	ofp.OXMIPECN:        {5, 48, 2, true},
	ofp.OXMIPProto:      {5, 56, 8, true},
	ofp.OXMIPv4Src:      {6, 32, 32, true},
	ofp.OXMIPv4Dst:      {6, 0, 32, true},
	ofp.OXMTCPSrc:       {5, 32, 16, true},
	ofp.OXMTCPDst:       {5, 16, 16, true},
	ofp.OXMUDPSrc:       {5, 32, 16, true},
	ofp.OXMUDPDst:       {5, 16, 16, true},
	ofp.OXMSCTPSrc:      {5, 32, 16, true},
	ofp.OXMSCTPDst:      {5, 16, 16, true},
	ofp.OXMICMPv4Type:   {5, 32, 8, true},
	ofp.OXMICMPv4Code:   {5, 16, 8, true},
	ofp.OXMARPOp:        {11, 0, 16, true},
	ofp.OXMARPSpa:       {6, 32, 32, true},
	ofp.OXMARPTpa:       {6, 0, 32, true},
	ofp.OXMARPSha:       {14, 16, 48, true},
	ofp.OXMARPTha:       {15, 16, 48, true},
	ofp.OXMIPv6Src:      {7, 0, 128, true},
	ofp.OXMIPv6Dst:      {9, 0, 128, true},
	ofp.OXMIPv6FLabel:   {11, 44, 20, true},
	ofp.OXMICMPv6Type:   {5, 32, 8, true},
	ofp.OXMICMPv6Code:   {5, 16, 8, true},
	ofp.OXMIPv6NDTarget: {12, 0, 128, true},
	ofp.OXMIPv6NDSLL:    {14, 16, 48, true},
	ofp.OXMIPv6NDTLL:    {15, 16, 48, true},
	ofp.OXMMPLSLabel:    {11, 24, 20, true},
	ofp.OXMMPLSTC:       {11, 21, 3, true},
	ofp.OXMMPLSBOS:      {11, 20, 1, true},
	ofp.OXMPBBISID:      {11, 20, 24, true},
	ofp.OXMTunnelID:     {2, 0, 64, true},
	ofp.OXMIPv6ExtHdr:   {14, 0, 9, false},
}

func supported(f ofp.OXMField) bool { return int(f) < len(fields) && fields[f].bits != 0 }

func ones(bits uint8) uint64 {
	if bits >= 64 {
		return ^uint64(0)
	}
	return 1<<bits - 1
}

// get returns field f of k (≤64-bit fields).
func (k *Key) get(f ofp.OXMField) uint64 {
	d := fields[f]
	return k[d.word] >> d.shift & ones(d.bits)
}

// put stores value v (and mask m) of field f given as OXM bytes into k.
func (k *Key) put(f ofp.OXMField, v []byte) {
	d := fields[f]
	if d.bits == 128 {
		k[d.word], k[d.word+1] = be.Uint64(v), be.Uint64(v[8:])
		return
	}
	w := ones(d.bits) << d.shift
	k[d.word] = k[d.word]&^w | beUint(v)<<d.shift&w
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func mac(b []byte) uint64 {
	return uint64(be.Uint16(b))<<32 | uint64(be.Uint32(b[2:]))
}

// Word indexes used directly by the parser and the pipeline.
const (
	wPort  = 0
	wMeta  = 1
	wTun   = 2
	wEth   = 3
	wSrc   = 4
	wIP    = 5
	wIPv4  = 6
	wMisc  = 11
	wSLL   = 14
	wTLL   = 15
	tpMask = 0xffffffff << 16 // tp_src and tp_dst in word 5
)

// layout records where the headers of a parsed packet are, so that actions
// can rewrite fields without parsing again. Offsets are -1 when absent.
type layout struct {
	ethType int   // offset of the innermost EtherType field
	vlans   int   // VLAN tags in front of it
	l3      int   // L3 header (or the first MPLS label stack entry, or the PBB I-TAG)
	l4      int   // L4 header
	nd      int   // link-layer address of an ND SLL/TLL option
	l3Type  int   // EtherType of the L3 header (0x0800, 0x86dd, 0x0806, 0x8847...)
	proto   uint8 // L4 protocol when l4 >= 0
}

// IPv6 extension headers.
const (
	ip6Hop    = 0
	ip6Route  = 43
	ip6Frag   = 44
	ip6ESP    = 50
	ip6Auth   = 51
	ip6NoNext = 59
	ip6Dest   = 60
)

// extract parses pkt into k and l. It never reads outside pkt; a truncated
// header leaves its fields zero. It returns false for a runt frame (shorter
// than an Ethernet header), which the pipeline drops.
func extract(pkt []byte, inPort uint32, k *Key, l *layout) bool {
	*k = Key{}
	*l = layout{ethType: -1, l3: -1, l4: -1, nd: -1}
	k[wPort] = uint64(inPort)<<32 | uint64(inPort)
	if len(pkt) < 14 {
		return false
	}
	k[wEth] = mac(pkt)<<16 | uint64(be.Uint16(pkt[12:]))
	off := 12
	et := be.Uint16(pkt[12:])
	var vlan uint64
	for (et == ofp.EthTypeVLAN || et == ofp.EthTypeQinQ) && len(pkt) >= off+6 {
		if l.vlans == 0 {
			tci := be.Uint16(pkt[off+2:])
			vlan = uint64(ofp.VIDPresent|tci&0xfff)<<3 | uint64(tci>>13)
		}
		l.vlans++
		off += 4
		et = be.Uint16(pkt[off:])
	}
	k[wSrc] = mac(pkt[6:])<<16 | vlan
	k[wEth] = k[wEth]&^0xffff | uint64(et)
	l.ethType = off
	l3 := off + 2
	l.l3Type = int(et)
	switch et {
	case ofp.EthTypeIPv4:
		if len(pkt) < l3+20 || pkt[l3]>>4 != 4 {
			return true
		}
		ihl := int(pkt[l3]&0xf) * 4
		if ihl < 20 || len(pkt) < l3+ihl {
			return true
		}
		l.l3 = l3
		proto := pkt[l3+9]
		k[wIP] = uint64(proto)<<56 | uint64(pkt[l3+1])<<48
		k[wIPv4] = uint64(be.Uint32(pkt[l3+12:]))<<32 | uint64(be.Uint32(pkt[l3+16:]))
		if be.Uint16(pkt[l3+6:])&0x1fff != 0 {
			return true // a later fragment: no transport header
		}
		l.l4, l.proto = l3+ihl, proto
		extractL4(pkt, k, l)
	case ofp.EthTypeIPv6:
		if len(pkt) < l3+40 || pkt[l3]>>4 != 6 {
			return true
		}
		l.l3 = l3
		v := be.Uint32(pkt[l3:])
		k[wMisc] = uint64(v&0xfffff) << 44
		k[7], k[8] = be.Uint64(pkt[l3+8:]), be.Uint64(pkt[l3+16:])
		k[9], k[10] = be.Uint64(pkt[l3+24:]), be.Uint64(pkt[l3+32:])
		nh, p := pkt[l3+6], l3+40
		var ext uint64
		later := false
	walk:
		for i := 0; i < 8; i++ {
			switch nh {
			case ip6Hop, ip6Route, ip6Dest, ip6Auth, ip6Frag:
				if len(pkt) < p+8 {
					break walk
				}
				n := (int(pkt[p+1]) + 1) * 8
				switch nh {
				case ip6Hop:
					ext |= uint64(ofp.IEHHop)
				case ip6Route:
					ext |= uint64(ofp.IEHRouter)
				case ip6Dest:
					ext |= uint64(ofp.IEHDest)
				case ip6Auth:
					ext |= uint64(ofp.IEHAuth)
					n = (int(pkt[p+1]) + 2) * 4
				case ip6Frag:
					ext |= uint64(ofp.IEHFrag)
					n = 8
					later = be.Uint16(pkt[p+2:])&0xfff8 != 0
				}
				nh, p = pkt[p], p+n
			case ip6ESP:
				ext |= uint64(ofp.IEHESP)
				break walk
			case ip6NoNext:
				ext |= uint64(ofp.IEHNoNext)
				break walk
			default:
				break walk
			}
		}
		k[wIP] = uint64(nh)<<56 | uint64(v>>20&0xff)<<48
		k[wSLL] |= ext
		if later || p > len(pkt) {
			return true
		}
		l.l4, l.proto = p, nh
		extractL4(pkt, k, l)
	case ofp.EthTypeARP:
		if len(pkt) < l3+28 || be.Uint16(pkt[l3:]) != 1 || be.Uint16(pkt[l3+2:]) != ofp.EthTypeIPv4 ||
			pkt[l3+4] != 6 || pkt[l3+5] != 4 {
			return true
		}
		l.l3 = l3
		k[wMisc] = uint64(be.Uint16(pkt[l3+6:]))
		k[wSLL] = mac(pkt[l3+8:]) << 16
		k[wIPv4] = uint64(be.Uint32(pkt[l3+14:]))<<32 | uint64(be.Uint32(pkt[l3+24:]))
		k[wTLL] = mac(pkt[l3+18:]) << 16
	case ofp.EthTypeMPLS, ofp.EthTypeMPLSMC:
		if len(pkt) < l3+4 {
			return true
		}
		l.l3 = l3
		lse := be.Uint32(pkt[l3:])
		k[wMisc] = uint64(lse>>12)<<24 | uint64(lse>>9&7)<<21 | uint64(lse>>8&1)<<20
	case ofp.EthTypePBB:
		// 802.1ah I-TAG: PCP (3), DEI, UCA, reserved (3), I-SID (24); the
		// customer's addresses follow it.
		if len(pkt) < l3+4 {
			return true
		}
		l.l3 = l3
		k[wMisc] = uint64(be.Uint32(pkt[l3:])&0xffffff) << 20
	}
	return true
}

// extractL4 fills the transport fields of k from the header at l.l4.
func extractL4(pkt []byte, k *Key, l *layout) {
	p := l.l4
	switch l.proto {
	case ofp.IPProtoTCP, ofp.IPProtoUDP, ofp.IPProtoSCTP:
		if len(pkt) >= p+4 {
			k[wIP] |= uint64(be.Uint32(pkt[p:])) << 16
		}
	case ofp.IPProtoICMP:
		if len(pkt) >= p+2 {
			k[wIP] |= uint64(pkt[p])<<32 | uint64(pkt[p+1])<<16
		}
	case ofp.IPProtoICMPv6:
		if len(pkt) < p+4 {
			return
		}
		t := pkt[p]
		k[wIP] |= uint64(t)<<32 | uint64(pkt[p+1])<<16
		if (t != 135 && t != 136) || pkt[p+1] != 0 || len(pkt) < p+24 {
			return
		}
		k[12], k[13] = be.Uint64(pkt[p+8:]), be.Uint64(pkt[p+16:])
		want := byte(1) // source link-layer address, in a solicitation
		if t == 136 {
			want = 2
		}
		for o := p + 24; len(pkt) >= o+8; {
			n := int(pkt[o+1]) * 8
			if n == 0 {
				return
			}
			if pkt[o] == want && n == 8 {
				l.nd = o + 2
				if t == 135 {
					k[wSLL] |= mac(pkt[o+2:]) << 16
				} else {
					k[wTLL] |= mac(pkt[o+2:]) << 16
				}
				return
			}
			o += n
		}
	}
}
