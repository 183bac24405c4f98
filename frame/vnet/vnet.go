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
// finishes the work in software (Checksum, Segment), so no port ever emits a
// packet with an unfinished checksum.
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
