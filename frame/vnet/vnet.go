// Package vnet carries the offload state of a packet across the switch, in
// the terms of the virtio-net header (struct virtio_net_hdr in
// <linux/virtio_net.h>) that TAP devices (IFF_VNET_HDR) and AF_PACKET sockets
// (PACKET_VNET_HDR) put in front of every frame: a checksum the sender left
// for the receiver to finish, and a large TCP or UDP packet the receiver is
// to cut into segments (GSO).
//
// A backend that reads such headers puts the decoded Hdr on the first slot of
// the packet (fabric.Slot.Offload); a backend that can hand offloaded packets
// on implements fabric.OffloadQueue. For every other destination the fabric
// finishes the work in software, so no port ever emits a packet with an
// unfinished checksum:
//
//  1. Validate checks a header against the packet length, the way the
//     kernel's virtio_net_hdr_to_skb does, and returns a sentinel error the
//     fabric counts as a drop reason.
//  2. A packet that is not GSO but NeedsCsum gets its checksum completed in
//     place by FinishChecksum (buffer chain) or FinishChecksumFlat.
//  3. A GSO packet is planned with NewPlan, which parses its headers once and
//     tells how many segments it makes and how long each is, so the fabric
//     can reserve output slots; Plan.WriteSegment then writes segment k with
//     its headers fixed and every checksum complete.
//
// None of these allocate; they are meant for the forwarding path.
package vnet

import (
	"encoding/binary"
	"errors"
)

// Len is the length of struct virtio_net_hdr on the wire: what TAP and
// AF_PACKET use unless told otherwise (TUNSETVNETHDRSZ).
const Len = 10

// Flags (virtio_net_hdr.flags).
const (
	// FlagNeedsCsum: the checksum at CsumStart+CsumOffset holds only the
	// pseudo-header sum; the receiver must sum from CsumStart to the end of
	// the packet and store the result there (CHECKSUM_PARTIAL).
	FlagNeedsCsum = 1
	// FlagDataValid: the checksum was verified (CHECKSUM_UNNECESSARY);
	// receive side only.
	FlagDataValid = 2
)

// GSO types (virtio_net_hdr.gso_type).
const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3 // UFO: IPv4/IPv6 fragmentation of a large UDP datagram
	GSOTCPv6 = 4
	GSOUDPL4 = 5 // USO: UDP segmentation (one datagram per segment)
	GSOECN   = 0x80
)

// Hdr is a decoded virtio-net header, in host byte order. The zero Hdr means
// a complete packet with nothing left to do.
type Hdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // length of the headers (Ethernet to L4) of a GSO packet
	GSOSize    uint16 // payload bytes per segment
	CsumStart  uint16 // offset of the first byte to sum, from the Ethernet header
	CsumOffset uint16 // where to store the sum, from CsumStart
}

// IsZero reports whether h asks for nothing.
func (h Hdr) IsZero() bool { return h == Hdr{} }

// Active reports whether h asks for anything: a header with neither flags
// nor a GSO type describes a complete packet whatever its other fields
// hold. It reads two bytes, for hot paths that test every packet.
func (h *Hdr) Active() bool { return h.Flags|h.GSOType != 0 }

// NeedsCsum reports whether the packet's L4 checksum is unfinished.
func (h Hdr) NeedsCsum() bool { return h.Flags&FlagNeedsCsum != 0 }

// GSO returns the GSO type without the ECN bit.
func (h Hdr) GSO() uint8 { return h.GSOType &^ GSOECN }

// ErrShort is returned by Decode for fewer than Len bytes.
var ErrShort = errors.New("vnet: header shorter than 10 bytes")

// Decode reads a little-endian virtio-net header (what the kernel uses for
// TAP and AF_PACKET on little-endian hosts, and for virtio 1.0 everywhere).
// It checks only the length: Validate says whether the fields make sense for
// a packet.
func Decode(b []byte) (Hdr, error) {
	if len(b) < Len {
		return Hdr{}, ErrShort
	}
	return Hdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}, nil
}

// Encode writes h into b[:Len], little-endian. b must hold Len bytes.
func (h Hdr) Encode(b []byte) {
	_ = b[Len-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
}

// Errors, one per drop reason, so the fabric can count them with errors.Is.
var (
	// ErrBadCsum: CsumStart/CsumOffset point outside the packet, or not at
	// the checksum field of the transport header a GSO type implies.
	ErrBadCsum = errors.New("vnet: bad checksum start or offset")
	// ErrBadGSO: unknown GSO type, zero or unusable GSOSize, or a packet
	// that would make too many or too large segments.
	ErrBadGSO = errors.New("vnet: bad GSO type or size")
	// ErrBadHdrLen: HdrLen exceeds the packet.
	ErrBadHdrLen = errors.New("vnet: header length beyond the packet")
	// ErrBadHeaders: the packet's Ethernet, IP or transport headers are
	// truncated, do not match the GSO type, are an IP fragment, or do not
	// fit in the first buffer.
	ErrBadHeaders = errors.New("vnet: headers do not match the GSO type")
	// ErrUnsupported: a valid request this package does not carry out
	// (UFO over IPv6; see NewPlan).
	ErrUnsupported = errors.New("vnet: unsupported offload")
	// ErrShortBuffer: the destination cannot hold the segment.
	ErrShortBuffer = errors.New("vnet: destination buffer too small")
	// ErrSegment: segment index out of range, or the source buffers do
	// not hold the packet NewPlan was given.
	ErrSegment = errors.New("vnet: segment out of range of the packet")
)

// Transport header lengths and checksum field offsets, as the kernel checks
// them.
const (
	tcpHdrLen    = 20
	udpHdrLen    = 8
	tcpCsumField = 16
	udpCsumField = 6
)

// Validate checks h against a packet of pktLen bytes (Ethernet header
// included) the way the kernel's virtio_net_hdr_to_skb and the TAP and
// AF_PACKET write paths do before they accept it:
//
//   - a GSO type other than GSONone must be GSOTCPv4, GSOTCPv6, GSOUDP or
//     GSOUDPL4, optionally with GSOECN (not for GSOUDPL4; GSOECN alone is
//     invalid), and GSOSize must be nonzero (ErrBadGSO);
//   - GSOUDPL4 requires NeedsCsum (ErrBadGSO);
//   - with NeedsCsum, CsumStart+CsumOffset+2 must lie within the packet, as
//     must the minimal transport header at CsumStart for a GSO type, and a
//     GSO packet's CsumOffset must be that of the TCP or UDP checksum field
//     (ErrBadCsum);
//   - HdrLen must not exceed the packet (ErrBadHdrLen). A smaller wrong
//     HdrLen, or 0, is accepted as the kernel does: it is only a hint, and
//     NewPlan computes the real header length from the packet.
//
// Validate reads no packet bytes; NewPlan checks the headers themselves.
func (h Hdr) Validate(pktLen int) error {
	thlen, csumField := 0, -1
	if h.GSOType != GSONone {
		switch h.GSO() {
		case GSOTCPv4, GSOTCPv6:
			thlen, csumField = tcpHdrLen, tcpCsumField
		case GSOUDP:
			thlen = udpHdrLen
		case GSOUDPL4:
			if !h.NeedsCsum() || h.GSOType&GSOECN != 0 {
				return ErrBadGSO
			}
			thlen, csumField = udpHdrLen, udpCsumField
		default:
			return ErrBadGSO
		}
		if h.GSOSize == 0 {
			return ErrBadGSO
		}
	}
	if h.NeedsCsum() {
		if csumField >= 0 && int(h.CsumOffset) != csumField {
			return ErrBadCsum
		}
		if int(h.CsumStart)+max(thlen, int(h.CsumOffset)+2) > pktLen {
			return ErrBadCsum
		}
	}
	if int(h.HdrLen) > pktLen {
		return ErrBadHdrLen
	}
	return nil
}
