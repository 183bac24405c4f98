// Package frame reads packet headers in place, for switching logics that
// must decide without allocating: Ethernet with 802.1Q/802.1ad tags, IPv4,
// IPv6 (with its common extension headers) and the TCP/UDP port pair.
//
// Every function takes the frame as a byte slice starting at the Ethernet
// header, checks each length before it reads, and reports a truncated or
// inconsistent header with ok == false instead of panicking.
package frame

import "encoding/binary"

// EtherType values the parsers know.
const (
	TypeIPv4  = 0x0800
	TypeARP   = 0x0806
	TypeVLAN  = 0x8100 // 802.1Q C-tag
	TypeQinQ  = 0x88a8 // 802.1ad S-tag
	TypeIPv6  = 0x86dd
	TypeQinQ1 = 0x9100 // pre-standard S-tag, still seen in the wild
)

// IP protocol numbers.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// EthHeaderLen is the length of an untagged Ethernet header.
const EthHeaderLen = 14

// MaxVLANTags is how many stacked VLAN tags L3 accepts before it calls a
// frame malformed.
const MaxVLANTags = 2

// Dst returns the destination MAC as a 48-bit integer (first byte most
// significant). b must hold at least 6 bytes.
func Dst(b []byte) uint64 { return mac48(b[0:6]) }

// Src returns the source MAC as a 48-bit integer. b must hold at least 12 bytes.
func Src(b []byte) uint64 { return mac48(b[6:12]) }

func mac48(b []byte) uint64 {
	_ = b[5]
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 |
		uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

// IsMulticast reports whether a 48-bit MAC is a group address (multicast or
// broadcast): the I/G bit of its first byte.
func IsMulticast(mac uint64) bool { return mac&(1<<40) != 0 }

// L3 finds the network header behind the Ethernet header and up to
// MaxVLANTags VLAN tags. It returns the inner EtherType, the offset of the
// network header, and the VLAN ID of the outermost tag (0 if untagged).
func L3(b []byte) (etherType uint16, off int, vid uint16, ok bool) {
	if len(b) < EthHeaderLen {
		return 0, 0, 0, false
	}
	etherType = binary.BigEndian.Uint16(b[12:14])
	off = EthHeaderLen
	for tags := 0; etherType == TypeVLAN || etherType == TypeQinQ || etherType == TypeQinQ1; tags++ {
		if tags == MaxVLANTags || len(b) < off+4 {
			return 0, 0, 0, false
		}
		if tags == 0 {
			vid = binary.BigEndian.Uint16(b[off:]) & 0x0fff
		}
		etherType = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	return etherType, off, vid, true
}

// L4 locates the transport header of an IPv4 or IPv6 packet whose network
// header starts at b[off:]. It returns the IP protocol and the offset of the
// transport header. It fails on truncated or inconsistent headers and on
// packets that carry no transport header: IPv4 fragments other than the
// first, and IPv6 fragments other than the first.
func L4(b []byte, etherType uint16, off int) (proto uint8, l4off int, ok bool) {
	switch etherType {
	case TypeIPv4:
		if len(b) < off+20 {
			return 0, 0, false
		}
		ip := b[off:]
		if ip[0]>>4 != 4 {
			return 0, 0, false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if ihl < 20 || total < ihl || len(ip) < ihl {
			return 0, 0, false
		}
		if binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 { // fragment offset
			return 0, 0, false
		}
		return ip[9], off + ihl, true
	case TypeIPv6:
		if len(b) < off+40 {
			return 0, 0, false
		}
		if b[off]>>4 != 6 {
			return 0, 0, false
		}
		next := b[off+6]
		p := off + 40
		// Walk the extension headers that may precede the transport header.
		for i := 0; i < 8; i++ {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(b) < p+8 {
					return 0, 0, false
				}
				next = b[p]
				p += 8 + int(b[p+1])*8
			case 44: // fragment
				if len(b) < p+8 {
					return 0, 0, false
				}
				if binary.BigEndian.Uint16(b[p+2:p+4])&0xfff8 != 0 {
					return 0, 0, false // not the first fragment
				}
				next = b[p]
				p += 8
			default:
				if p > len(b) {
					return 0, 0, false
				}
				return next, p, true
			}
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// Ports returns the source and destination ports of the TCP or UDP header at
// b[l4off:].
func Ports(b []byte, l4off int) (src, dst uint16, ok bool) {
	if l4off < 0 || len(b) < l4off+4 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(b[l4off:]), binary.BigEndian.Uint16(b[l4off+2:]), true
}
