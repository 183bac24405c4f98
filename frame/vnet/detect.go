package vnet

import (
	"encoding/binary"

	"github.com/mswitch/mswitch/frame"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// DetectPartial recognises a TCP or UDP packet whose sender left the
// checksum to the hardware (CHECKSUM_PARTIAL) when no header says so: a
// packet a veth peer with transmit checksum offload sends into an AF_XDP
// socket, which carries no metadata. Such a packet holds, in its checksum
// field, the folded sum of the pseudo-header alone, not complemented. When
// the field holds exactly that and the packet's full checksum does not
// verify, DetectPartial returns the Hdr that describes the unfinished
// checksum, for the fabric to finish or hand on. A complete checksum that
// happens to equal the pseudo-header sum verifies, and is left alone.
//
// bufs holds the packet (as for FinishChecksum), its headers in bufs[0].
// IPv4 fragments, packets shorter than their IP length says, and UDP over
// IPv4 without a checksum are never partial.
func DetectPartial(bufs [][]byte) (Hdr, bool) { return InferOffload(bufs, 0) }

// InferOffload is DetectPartial, and more: given the MTU of the interface
// the packet came from (0: unknown), it also recognises a TCP packet longer
// than that MTU as a GSO packet (a veth peer with segmentation offload hands
// an XDP program with multi-buffer support its 64 KB TCP packets whole) and
// describes its segmentation into segments that fit the MTU. Such a packet
// gets NeedsCsum whatever its checksum field holds: segmentation computes
// every segment's checksum afresh.
func InferOffload(bufs [][]byte, mtu int) (Hdr, bool) {
	if len(bufs) == 0 {
		return Hdr{}, false
	}
	b := bufs[0]
	et, l3, _, ok := frame.L3(b)
	if !ok || et != frame.TypeIPv4 && et != frame.TypeIPv6 {
		return Hdr{}, false
	}
	proto, l4, ok := frame.L4(b, et, l3)
	if !ok {
		return Hdr{}, false
	}
	var field int
	switch proto {
	case frame.ProtoTCP:
		field = tcpCsumField
	case frame.ProtoUDP:
		field = udpCsumField
	default:
		return Hdr{}, false
	}
	if len(b) < l4+field+2 {
		return Hdr{}, false
	}
	var ipEnd int
	var sum uint16
	if et == frame.TypeIPv4 {
		if binary.BigEndian.Uint16(b[l3+6:])&ipMF != 0 {
			return Hdr{}, false // a first fragment: the sum covers the datagram
		}
		ipEnd = l3 + int(binary.BigEndian.Uint16(b[l3+2:]))
		sum = checksum.Checksum(b[l3+12:l3+20], 0)
	} else {
		ipEnd = l3 + 40 + int(binary.BigEndian.Uint16(b[l3+4:]))
		sum = checksum.Checksum(b[l3+8:l3+40], 0)
	}
	total := 0
	for _, x := range bufs {
		total += len(x)
	}
	if ipEnd > total || ipEnd < l4+field+2 {
		return Hdr{}, false
	}
	l4len := ipEnd - l4
	if mtu > 0 && ipEnd-l3 > mtu && proto == frame.ProtoTCP && len(b) >= l4+tcpHdrLen {
		hdrLen := l4 + int(b[l4+12]>>4)*4
		gsoType := uint8(GSOTCPv4)
		if et == frame.TypeIPv6 {
			gsoType = GSOTCPv6
		}
		if size := mtu - (hdrLen - l3); hdrLen <= len(b) && size > 0 && hdrLen-l4 >= tcpHdrLen {
			return Hdr{Flags: FlagNeedsCsum, GSOType: gsoType, HdrLen: uint16(hdrLen), GSOSize: uint16(size),
				CsumStart: uint16(l4), CsumOffset: tcpCsumField}, true
		}
		return Hdr{}, false
	}
	sum = checksum.Combine(sum, uint16(proto))
	sum = checksum.Combine(sum, uint16(l4len))
	got := binary.BigEndian.Uint16(b[l4+field:])
	if got != sum || proto == frame.ProtoUDP && got == 0 && et == frame.TypeIPv4 {
		return Hdr{}, false
	}
	// The field looks partial; a complete checksum would verify.
	var c checksum.Checksumer
	sumRange(&c, bufs, l4, ipEnd)
	if checksum.Combine(c.Checksum(), sum) == 0xffff {
		return Hdr{}, false
	}
	return Hdr{Flags: FlagNeedsCsum, CsumStart: uint16(l4), CsumOffset: uint16(field)}, true
}

// sumRange adds the packet bytes [from, to) to c.
func sumRange(c *checksum.Checksumer, bufs [][]byte, from, to int) {
	for _, b := range bufs {
		if from >= len(b) {
			from -= len(b)
			to -= len(b)
			continue
		}
		end := min(len(b), to)
		c.Add(b[from:end])
		to -= len(b)
		from = 0
		if to <= 0 {
			return
		}
	}
}
