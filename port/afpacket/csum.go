package afpacket

import (
	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/frame/vnet"
)

// partialCsum describes the unfinished checksum of a frame the kernel marked
// TP_STATUS_CSUMNOTREADY, for sockets without virtio-net headers: the
// checksum field of its TCP or UDP header holds only the pseudo-header sum.
// It returns the zero Hdr when the frame is not TCP or UDP over IP, which
// leaves its checksum as it is.
func partialCsum(b []byte) vnet.Hdr {
	et, off, _, ok := frame.L3(b)
	if !ok {
		return vnet.Hdr{}
	}
	proto, l4, ok := frame.L4(b, et, off)
	if !ok || l4 > 0xffff {
		return vnet.Hdr{}
	}
	switch proto {
	case 6: // TCP
		return vnet.Hdr{Flags: vnet.FlagNeedsCsum, CsumStart: uint16(l4), CsumOffset: 16}
	case 17: // UDP
		return vnet.Hdr{Flags: vnet.FlagNeedsCsum, CsumStart: uint16(l4), CsumOffset: 6}
	}
	return vnet.Hdr{}
}
