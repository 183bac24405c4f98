package vnet

import (
	"encoding/binary"

	"github.com/mswitch/mswitch/frame"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// Limits from the kernel: USO sends at most UDP_MAX_SEGMENTS datagrams per
// GSO packet, and no IP packet is longer than its 16-bit length field says.
const (
	maxUDPSegments = 64
	maxIPLen       = 0xffff
)

// TCP flags the segmentation rewrites.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// IPv4 fragment field bits.
const (
	ipMF         = 0x2000
	ipOffsetMask = 0x1fff
)

// A Plan says how a GSO packet is cut into segments. NewPlan makes it from
// the packet's headers; WriteSegment writes the segments one by one. A Plan
// is a small value: it holds offsets, not the packet.
//
// Segment k carries the packet's headers (Ethernet, up to two VLAN tags, IP,
// transport) followed by payload bytes [HdrLen()+k*size,
// min(HdrLen()+(k+1)*size, total)), where size is the header's GSOSize, with
// these fixed, as the kernel's tcp4/tcp6 GSO, __udp_gso_segment and UFO do:
//
//   - IPv4: total length, ID (ID+k; UFO: the same ID for all fragments) and
//     header checksum; IPv6: payload length;
//   - TCP (GSOTCPv4, GSOTCPv6): sequence number +k*size, FIN and PSH only on
//     the last segment, CWR only on the first, full checksum;
//   - USO (GSOUDPL4): every segment is a UDP datagram with its own length
//     and full checksum;
//   - UFO (GSOUDP): the datagram is cut into IPv4 fragments (offset in
//     8-byte units, MF on all but the last; the DF bit is cleared as the
//     kernel does); the first carries the UDP header with the checksum of
//     the whole datagram.
//
// The sender's checksum field and the IP length fields are ignored and
// recomputed, so no segment leaves with a partial checksum.
type Plan struct {
	gso    uint8 // GSO type without the ECN bit
	v6     bool
	l3     int // offset of the IP header
	l4     int // offset of the TCP or UDP header
	hdrLen int // bytes copied in front of each segment's payload
	size   int // payload bytes per segment
	total  int // packet length
	n      int // number of segments
}

// NewPlan validates the GSO packet held in src (as for FinishChecksum: the
// packet's bytes in order, src[0] starting at the Ethernet header) against h
// and parses its headers. The headers, up to the end of the TCP or UDP
// header, must lie in src[0]; ErrBadHeaders otherwise.
//
// It returns the errors of Validate, and:
//
//   - ErrBadGSO if h is not a GSO header, if a UFO GSOSize is not a multiple
//     of 8, if USO would make more than 64 datagrams, or if a segment would
//     not fit an IP length field;
//   - ErrBadHeaders if the headers are truncated, are an IP fragment, or are
//     not those of the GSO type (IPv4+TCP, IPv6+TCP, UDP over IPv4 or IPv6);
//   - ErrBadCsum if NeedsCsum and CsumStart is not the transport header;
//   - ErrUnsupported for UFO over IPv6, which the kernel carries out by
//     inserting a fragment header whose identification it draws from
//     per-destination state; a switch has no such state and would have to
//     grow the headers, so such packets are refused.
//
// A packet whose payload fits one segment gives a one-segment Plan: the
// packet itself with lengths and checksums completed.
func NewPlan(h Hdr, src [][]byte) (Plan, error) {
	total := 0
	for _, b := range src {
		total += len(b)
	}
	if err := h.Validate(total); err != nil {
		return Plan{}, err
	}
	if h.GSOType == GSONone {
		return Plan{}, ErrBadGSO
	}
	if len(src) == 0 {
		return Plan{}, ErrBadHeaders
	}
	head := src[0]
	et, l3, _, ok := frame.L3(head)
	if !ok {
		return Plan{}, ErrBadHeaders
	}
	proto, l4, ok := frame.L4(head, et, l3)
	if !ok {
		return Plan{}, ErrBadHeaders
	}
	p := Plan{gso: h.GSO(), v6: et == frame.TypeIPv6, l3: l3, l4: l4, size: int(h.GSOSize), total: total}
	if !p.v6 && binary.BigEndian.Uint16(head[l3+6:])&ipMF != 0 {
		return Plan{}, ErrBadHeaders // a first fragment
	}
	switch p.gso {
	case GSOTCPv4, GSOTCPv6:
		if proto != frame.ProtoTCP || p.v6 != (p.gso == GSOTCPv6) || len(head) < l4+tcpHdrLen {
			return Plan{}, ErrBadHeaders
		}
		doff := int(head[l4+12]>>4) * 4
		if doff < tcpHdrLen {
			return Plan{}, ErrBadHeaders
		}
		p.hdrLen = l4 + doff
	case GSOUDPL4:
		p.hdrLen = l4 + udpHdrLen
	case GSOUDP:
		if p.v6 {
			return Plan{}, ErrUnsupported
		}
		if p.size%8 != 0 {
			return Plan{}, ErrBadGSO
		}
		p.hdrLen = l4 // the UDP header travels in the first fragment's payload
	}
	if p.gso == GSOUDPL4 || p.gso == GSOUDP {
		if proto != frame.ProtoUDP || len(head) < l4+udpHdrLen {
			return Plan{}, ErrBadHeaders
		}
	}
	if p.hdrLen > len(head) {
		return Plan{}, ErrBadHeaders
	}
	if h.NeedsCsum() && int(h.CsumStart) != l4 {
		return Plan{}, ErrBadCsum
	}
	payload := total - p.hdrLen
	p.n = max(1, (payload+p.size-1)/p.size)
	if p.gso == GSOUDPL4 && p.n > maxUDPSegments {
		return Plan{}, ErrBadGSO
	}
	// The longest IP packet written: the largest segment, or for UFO the
	// reassembled datagram, whose UDP length field must hold it too.
	ipLen := p.SegmentLen(0) - l3
	if p.v6 {
		ipLen -= 40
	}
	if p.gso == GSOUDP {
		ipLen = total - l3
	}
	if ipLen > maxIPLen {
		return Plan{}, ErrBadGSO
	}
	return p, nil
}

// Segments returns the number of segments.
func (p *Plan) Segments() int { return p.n }

// HdrLen returns the length of the headers copied in front of every
// segment's payload: the real one, computed from the packet (for UFO it ends
// at the IP header; the UDP header is payload of the first fragment).
func (p *Plan) HdrLen() int { return p.hdrLen }

// SegmentLen returns the length of segment k, 0 <= k < Segments().
func (p *Plan) SegmentLen(k int) int {
	return p.hdrLen + min(p.size, max(0, p.total-p.hdrLen-k*p.size))
}

// MaxSegmentLen returns the length of the longest segment (the first).
func (p *Plan) MaxSegmentLen() int { return p.SegmentLen(0) }

// WriteSegment writes segment k of the packet held in src, which must be
// the src given to NewPlan, into dst and returns its length. dst must hold
// SegmentLen(k) bytes (ErrShortBuffer otherwise) and must not overlap src.
// It returns ErrSegment for k out of range or a src that no longer holds the
// planned packet.
func (p *Plan) WriteSegment(dst []byte, src [][]byte, k int) (int, error) {
	if k < 0 || k >= p.n || len(src) == 0 || len(src[0]) < p.hdrLen {
		return 0, ErrSegment
	}
	n := p.SegmentLen(k)
	if len(dst) < n {
		return 0, ErrShortBuffer
	}
	dst = dst[:n]
	copy(dst, src[0][:p.hdrLen])
	off := p.hdrLen + k*p.size
	if gather(dst[p.hdrLen:], src, off) != n-p.hdrLen {
		return 0, ErrSegment
	}
	last := k == p.n-1
	ip := dst[p.l3:]
	if p.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n-p.l3-40))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(n-p.l3))
		if p.gso == GSOUDP {
			frag := uint16(k * p.size / 8)
			if !last {
				frag |= ipMF
			}
			binary.BigEndian.PutUint16(ip[6:], frag)
		} else {
			binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+uint16(k))
		}
		ihl := int(ip[0]&0x0f) * 4
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^checksum.Checksum(ip[:ihl], 0))
	}
	l4 := dst[p.l4:]
	switch p.gso {
	case GSOTCPv4, GSOTCPv6:
		seq := binary.BigEndian.Uint32(l4[4:]) + uint32(k*p.size)
		binary.BigEndian.PutUint32(l4[4:], seq)
		if !last {
			l4[13] &^= tcpFIN | tcpPSH
		}
		if k > 0 {
			l4[13] &^= tcpCWR
		}
		l4[16], l4[17] = 0, 0
		sum := checksum.Checksum(l4, p.pseudo(ip, frame.ProtoTCP, len(l4)))
		binary.BigEndian.PutUint16(l4[16:], ^sum)
	case GSOUDPL4:
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		l4[6], l4[7] = 0, 0
		sum := checksum.Checksum(l4, p.pseudo(ip, frame.ProtoUDP, len(l4)))
		binary.BigEndian.PutUint16(l4[6:], finish(sum))
	case GSOUDP:
		if k == 0 {
			// The checksum covers the whole datagram: this fragment's
			// bytes, then the rest of the packet.
			dgram := p.total - p.l4
			binary.BigEndian.PutUint16(l4[4:], uint16(dgram))
			l4[6], l4[7] = 0, 0
			var c checksum.Checksumer
			c.Add(l4)
			sumFrom(&c, src, n)
			sum := checksum.Combine(c.Checksum(), p.pseudo(ip, frame.ProtoUDP, dgram))
			binary.BigEndian.PutUint16(l4[6:], finish(sum))
		}
	}
	return n, nil
}

// pseudo returns the sum of the pseudo-header of a transport header of
// length l4len behind the IP header ip.
func (p *Plan) pseudo(ip []byte, proto uint8, l4len int) uint16 {
	var sum uint16
	if p.v6 {
		sum = checksum.Checksum(ip[8:40], 0)
	} else {
		sum = checksum.Checksum(ip[12:20], 0)
	}
	return checksum.Combine(checksum.Combine(sum, uint16(proto)), uint16(l4len))
}
