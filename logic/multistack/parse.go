package multistack

import (
	"encoding/binary"
	"math/bits"

	"github.com/mswitch/mswitch/frame"
)

// class is what parse found in a frame.
type class uint8

const (
	// clsL4: TCP or UDP, with addresses and ports.
	clsL4 class = iota
	// clsNeighbour: ARP for IPv4 (src is the sender's IP) or IPv6
	// neighbour discovery, ICMPv6 types 133 to 137 (src is the IPv6
	// source).
	clsNeighbour
	// clsOther: well-formed, but none of the above: other IP protocols,
	// other EtherTypes, ARP for other protocols.
	clsOther
	// clsFragment: an IP fragment other than the first, without ports.
	clsFragment
	// clsBadChecksum: an IPv4 header whose checksum does not verify.
	clsBadChecksum
	// clsMalformed: a header that is cut or inconsistent.
	clsMalformed
)

// headers are the fields of a frame the module decides on.
type headers struct {
	src, dst     addr
	sport, dport uint16
	proto        uint8
	v6           bool
	// frag: a first fragment (IPv4 MF set, or an IPv6 fragment header at
	// offset 0), parsed as far as it goes.
	frag bool
}

// ICMPv6 types of neighbour discovery (RFC 4861): router solicitation and
// advertisement, neighbour solicitation and advertisement, redirect.
const (
	ndFirst = 133
	ndLast  = 137
)

// parseFast reads the headers of the common frame, untagged IPv4 without
// options, not fragmented, carrying TCP or UDP, with a good header checksum
// and room for the transport header, and reports whether b is one. For any
// other frame it returns false, and parse decides; where it returns true,
// parse returns clsL4 and the same headers (a test checks this).
func (h *headers) parseFast(b []byte) bool {
	if len(b) < 14+20+20 {
		return false
	}
	_ = b[53]
	if b[12] != 0x08 || b[13] != 0x00 || b[14] != 0x45 || b[20]&0x3f != 0 || b[21] != 0 {
		return false // not IPv4, options, or a fragment
	}
	p := b[23]
	if total := int(b[16])<<8 | int(b[17]); total < 40 || total > len(b)-14 || (p != frame.ProtoTCP && p != frame.ProtoUDP) {
		return false
	}
	s, c := bits.Add64(binary.LittleEndian.Uint64(b[14:]), binary.LittleEndian.Uint64(b[22:]), 0)
	s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(b[30:])), c)
	if fold(s, c) != 0xffff {
		return false
	}
	h.proto = p
	h.src.lo = uint64(binary.BigEndian.Uint32(b[26:]))
	h.dst.lo = uint64(binary.BigEndian.Uint32(b[30:]))
	h.sport = binary.BigEndian.Uint16(b[34:])
	h.dport = binary.BigEndian.Uint16(b[36:])
	return true
}

// parse reads b's headers in place. IPv4 is parsed here, without a call,
// since it is most of the traffic.
func (h *headers) parse(b []byte) class {
	et, off, _, ok := frame.L3(b)
	if !ok {
		return clsMalformed
	}
	switch et {
	case frame.TypeIPv4:
	case frame.TypeIPv6:
		return h.ipv6(b[off:])
	case frame.TypeARP:
		return h.arp(b[off:])
	default:
		return clsOther
	}
	ip := b[off:]
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return clsMalformed
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl || len(ip) < ihl {
		return clsMalformed
	}
	if !checksumOK(ip[:ihl]) {
		return clsBadChecksum
	}
	// Cut Ethernet padding; a packet longer than the buffer continues in
	// buffers the module does not see.
	ip = ip[:min(total, len(ip))]
	h.src.lo = uint64(binary.BigEndian.Uint32(ip[12:]))
	h.dst.lo = uint64(binary.BigEndian.Uint32(ip[16:]))
	fo := binary.BigEndian.Uint16(ip[6:])
	if fo&0x1fff != 0 {
		return clsFragment
	}
	h.frag = fo&0x2000 != 0 // MF
	h.proto = ip[9]
	need := 20
	switch h.proto {
	case frame.ProtoTCP:
	case frame.ProtoUDP:
		need = 8
	default:
		return clsOther
	}
	if len(ip) < ihl+need {
		return clsMalformed
	}
	h.sport = binary.BigEndian.Uint16(ip[ihl:])
	h.dport = binary.BigEndian.Uint16(ip[ihl+2:])
	return clsL4
}

// arp reads an ARP packet. Only ARP for IPv4 over Ethernet is a neighbour
// packet; its sender protocol address goes in src.
func (h *headers) arp(a []byte) class {
	if len(a) < 8 {
		return clsMalformed
	}
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != frame.TypeIPv4 || a[4] != 6 || a[5] != 4 {
		return clsOther
	}
	if len(a) < 28 {
		return clsMalformed
	}
	h.src.lo = uint64(binary.BigEndian.Uint32(a[14:]))
	h.dst.lo = uint64(binary.BigEndian.Uint32(a[24:]))
	return clsNeighbour
}

func (h *headers) ipv6(ip []byte) class {
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return clsMalformed
	}
	// Cut Ethernet padding, unless the payload length is 0 behind a
	// hop-by-hop header: a jumbogram.
	if pl := int(binary.BigEndian.Uint16(ip[4:])); pl != 0 || ip[6] != 0 {
		ip = ip[:min(40+pl, len(ip))]
	}
	h.v6 = true
	h.src = addr{binary.BigEndian.Uint64(ip[8:]), binary.BigEndian.Uint64(ip[16:])}
	h.dst = addr{binary.BigEndian.Uint64(ip[24:]), binary.BigEndian.Uint64(ip[32:])}
	next, p := ip[6], 40
	for range 8 {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(ip) < p+8 {
				return clsMalformed
			}
			next, p = ip[p], p+8+int(ip[p+1])*8
		case 44: // fragment
			if len(ip) < p+8 {
				return clsMalformed
			}
			fo := binary.BigEndian.Uint16(ip[p+2:])
			if fo&0xfff8 != 0 {
				return clsFragment
			}
			// Even an atomic fragment (offset 0, M clear: RFC 6946) counts.
			h.frag = true
			next, p = ip[p], p+8
		default:
			if p > len(ip) {
				return clsMalformed
			}
			h.proto = next
			return h.transport(ip, p)
		}
	}
	return clsMalformed // more than 8 extension headers
}

// transport reads the TCP or UDP ports, or the ICMPv6 type, of the IPv6
// packet ip whose transport header is at ip[off:].
func (h *headers) transport(ip []byte, off int) class {
	need := 0
	switch h.proto {
	case frame.ProtoTCP:
		need = 20
	case frame.ProtoUDP:
		need = 8
	case frame.ProtoICMPv6:
		if len(ip) < off+4 {
			return clsMalformed
		}
		if t := ip[off]; t >= ndFirst && t <= ndLast {
			return clsNeighbour
		}
		return clsOther
	default:
		return clsOther
	}
	if len(ip) < off+need {
		return clsMalformed
	}
	h.sport = binary.BigEndian.Uint16(ip[off:])
	h.dport = binary.BigEndian.Uint16(ip[off+2:])
	return clsL4
}

// checksumOK verifies an IPv4 header's checksum: the one's complement sum
// of its 16-bit words, checksum included, is 0xffff. The sum is taken over
// 64-bit words with end-around carries and folded (RFC 1071 §2: the sum is
// independent of byte order, and 0xffff is its own byte swap).
//
// Preconditions: len(hdr) is a multiple of 4, at least 20.
func checksumOK(hdr []byte) bool {
	s, c := bits.Add64(binary.LittleEndian.Uint64(hdr[0:]), binary.LittleEndian.Uint64(hdr[8:]), 0)
	s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(hdr[16:])), c)
	for i := 20; i+4 <= len(hdr); i += 4 { // options
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(hdr[i:])), c)
	}
	return fold(s, c) == 0xffff
}

// fold adds the last carry c to the 64-bit one's complement sum s and
// folds it to 16 bits.
func fold(s, c uint64) uint64 {
	s, c = bits.Add64(s, 0, c)
	s += c
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	return s>>16 + s&0xffff
}
