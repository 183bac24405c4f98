package afpacket

// The TPACKET_V2 receive ring, as the kernel writes it (<linux/if_packet.h>,
// net/packet/af_packet.c tpacket_rcv):
//
//	frame:  tpacket2_hdr (32 bytes: tp_status, tp_len, tp_snaplen, tp_mac,
//	        tp_net, timestamps, tp_vlan_tci, tp_vlan_tpid), sockaddr_ll,
//	        padding, the 10-byte virtio_net_hdr (PACKET_VNET_HDR), then
//	        tp_snaplen bytes of frame at tp_mac
//
// Frames have one fixed size and follow each other without gaps (the block
// size is a multiple of the frame size). The kernel fills the frame at its
// head while its tp_status is TP_STATUS_KERNEL, sets TP_STATUS_USER (after a
// barrier) and wakes the socket: every frame is handed over on its own, at
// once. It touches the frame again only once user space stores
// TP_STATUS_KERNEL back. A packet longer than a frame is cut to the frame;
// with PACKET_COPY_THRESH the kernel also queues the whole packet on the
// socket, in ring order, and marks the frame TP_STATUS_COPY, and recvmsg
// fetches it. So a handed-over frame is stable, but its contents are the
// kernel's word: parseFrame checks every offset and length against the frame
// before it makes a slice, whatever the bytes say.

import (
	"encoding/binary"

	"github.com/mswitch/mswitch/frame/vnet"
)

// Offsets in struct tpacket2_hdr.
const (
	frStatusOff   = 0
	frLenOff      = 4
	frSnaplenOff  = 8
	frMacOff      = 12
	frVlanTCIOff  = 24
	frVlanTPIDOff = 26
	frHdrLen      = 32
)

// Status bits of a frame (tp_status).
const (
	tpStatusUser         = 0x1  // TP_STATUS_USER: the frame is user space's
	tpStatusCopy         = 0x2  // TP_STATUS_COPY: the whole packet is queued on the socket
	tpStatusCsumNotReady = 0x8  // TP_STATUS_CSUMNOTREADY: partial checksum
	tpStatusVlanValid    = 0x10 // TP_STATUS_VLAN_VALID: tp_vlan_tci holds a stripped tag
	tpStatusVlanTPID     = 0x40 // TP_STATUS_VLAN_TPID_VALID
)

// frameMacOff is where the kernel puts an Ethernet frame in a ring frame with
// virtio-net headers: TPACKET_ALIGN(32+20 + 16) + 10 − 14.
const frameMacOff = 76

// rxFrame is one ring frame, as parseFrame found it.
type rxFrame struct {
	off, end int // frame bytes f[off:end] (the head of the packet when copied)
	wire     int // the packet's length (tp_len)
	copied   bool
	partial  bool // no virtio-net header, but the checksum is partial (partialCsum)
	hdr      vnet.Hdr
	vlan     bool // a stripped tag to put back: tpid, tci
	tpid     uint16
	tci      uint16
}

// verdict is what parseFrame made of a frame.
type verdict int

const (
	frameOK        verdict = iota
	frameTruncated         // cut by the ring and not queued whole (tp_snaplen < tp_len)
	frameBad               // failed validation
)

// parseFrame reads the ring frame f, handed over by the kernel. vnetLen is
// the virtio-net header length in front of the packet (0 without
// PACKET_VNET_HDR). parseFrame never reads outside f.
func parseFrame(f []byte, vnetLen int) (rxFrame, verdict) {
	var r rxFrame
	if len(f) < frHdrLen {
		return r, frameBad
	}
	status := le32(f, frStatusOff)
	wire := int(le32(f, frLenOff))
	snap := int(le32(f, frSnaplenOff))
	mac := int(binary.LittleEndian.Uint16(f[frMacOff:]))
	if mac < frHdrLen+vnetLen || snap > len(f)-mac || snap > wire {
		return r, frameBad
	}
	r.off, r.end, r.wire = mac, mac+snap, wire
	r.copied = status&tpStatusCopy != 0
	if snap < wire && !r.copied {
		return r, frameTruncated
	}
	if vnetLen > 0 {
		r.hdr, _ = vnet.Decode(f[mac-vnetLen : mac])
	} else {
		r.partial = status&tpStatusCsumNotReady != 0
	}
	if status&tpStatusVlanValid != 0 {
		r.vlan = true
		r.tpid = 0x8100
		if status&tpStatusVlanTPID != 0 {
			r.tpid = binary.LittleEndian.Uint16(f[frVlanTPIDOff:])
		}
		r.tci = binary.LittleEndian.Uint16(f[frVlanTCIOff:])
	}
	return r, frameOK
}

// insertVLAN moves the MAC addresses of the frame b[off:end] four bytes
// back, into its headroom (never before floor), and writes an 802.1Q tag
// after them: the switch forwards what was on the wire. The offload
// header's offsets, counted from the start of the frame, move too. It
// returns the new start of the frame.
func insertVLAN(b []byte, off, end, floor int, tpid, tci uint16, h *vnet.Hdr) (int, bool) {
	if end-off < 12 || off-4 < floor || end > len(b) {
		return off, false
	}
	copy(b[off-4:off+8], b[off:off+12])
	off -= 4
	binary.BigEndian.PutUint16(b[off+12:], tpid)
	binary.BigEndian.PutUint16(b[off+14:], tci)
	if h.NeedsCsum() {
		h.CsumStart += 4
	}
	if h.HdrLen != 0 {
		h.HdrLen += 4
	}
	return off, true
}

func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
