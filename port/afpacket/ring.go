package afpacket

// The TPACKET_V3 receive ring, as the kernel writes it (<linux/if_packet.h>,
// net/packet/af_packet.c tpacket_rcv and prb_*):
//
//	block:  tpacket_block_desc (48 bytes: version, offset_to_priv, then
//	        tpacket_hdr_v1: block_status, num_pkts, offset_to_first_pkt,
//	        blk_len, seq_num, two timestamps), then num_pkts records
//	record: tpacket3_hdr (48 bytes), sockaddr_ll, padding, the 10-byte
//	        virtio_net_hdr (PACKET_VNET_HDR), then tp_snaplen bytes of frame
//	        at tp_mac; tp_next_offset leads to the next record, 0 on the last
//
// The kernel writes a block while block_status is TP_STATUS_KERNEL and hands
// it over by setting TP_STATUS_USER (after a barrier); it touches the block
// again only once user space stores TP_STATUS_KERNEL back. So a retired block
// is stable, but its contents are the kernel's word: parseBlock checks every
// offset and length against the block before it makes a slice, whatever the
// bytes say.

import (
	"encoding/binary"

	"github.com/mswitch/mswitch/frame/vnet"
)

// Offsets in struct tpacket_block_desc (block header).
const (
	blkStatusOff  = 8
	blkNumPktsOff = 12
	blkFirstOff   = 16
	blkHdrLen     = 48
)

// Offsets in struct tpacket3_hdr (record header).
const (
	pktNextOff     = 0
	pktSnaplenOff  = 12
	pktLenOff      = 16
	pktStatusOff   = 20
	pktMacOff      = 24
	pktVlanTCIOff  = 32
	pktVlanTPIDOff = 36
	pktHdrLen      = 48
)

// Status bits of a record (tp_status).
const (
	tpStatusCsumNotReady = 0x8  // TP_STATUS_CSUMNOTREADY: partial checksum
	tpStatusVlanValid    = 0x10 // TP_STATUS_VLAN_VALID: tp_vlan_tci holds a stripped tag
	tpStatusVlanTPID     = 0x40 // TP_STATUS_VLAN_TPID_VALID
)

// minRecord is the smallest record the kernel writes: header, sockaddr_ll
// and the room it keeps before the network header, aligned to 16.
const minRecord = 64

// rxPkt is one frame of a retired block, as parseBlock found it.
type rxPkt struct {
	off, end, capEnd int // frame bytes blk[off:end], room up to capEnd
	hdr              vnet.Hdr
}

// blockResult counts what parseBlock did with a block's records.
type blockResult struct {
	n         int // frames stored in out
	truncated int // frames cut by the ring (tp_snaplen < tp_len): skipped
	bad       int // records that failed validation: skipped, and the rest of the block with them
}

// parseBlock walks the records of the retired block blk and stores its
// frames in out, at most len(out). vnetLen is the virtio-net header length
// in front of every frame (0 without PACKET_VNET_HDR). A VLAN tag the kernel
// stripped into the record header is put back into the frame, in the record's
// own headroom: the switch forwards what was on the wire. parseBlock never
// reads or writes outside blk.
func parseBlock(blk []byte, vnetLen int, out []rxPkt) blockResult {
	var r blockResult
	if len(blk) < blkHdrLen {
		r.bad++
		return r
	}
	num := int(le32(blk, blkNumPktsOff))
	off := int(le32(blk, blkFirstOff))
	if num == 0 {
		return r
	}
	if num > len(blk)/minRecord {
		r.bad++
		return r
	}
	for i := 0; i < num; i++ {
		if off < blkHdrLen || off > len(blk)-pktHdrLen {
			r.bad++
			return r
		}
		rec := blk[off:]
		next := int(le32(rec, pktNextOff))
		snap := int(le32(rec, pktSnaplenOff))
		wire := int(le32(rec, pktLenOff))
		status := le32(rec, pktStatusOff)
		mac := int(binary.LittleEndian.Uint16(rec[pktMacOff:]))
		// The frame, and the header in front of it, inside the record.
		if mac < pktHdrLen+vnetLen || snap > len(rec)-mac {
			r.bad++
			return r
		}
		if i < num-1 && (next < mac+snap || next > len(rec)) {
			r.bad++
			return r
		}
		switch {
		case snap < wire:
			r.truncated++
		case r.n == len(out):
			r.bad++ // more frames than the block can hold: not the kernel's doing
			return r
		default:
			p := &out[r.n]
			p.off, p.end = off+mac, off+mac+snap
			p.capEnd = min(off+align16(mac+snap), len(blk))
			p.hdr = vnet.Hdr{}
			if vnetLen > 0 {
				p.hdr, _ = vnet.Decode(rec[mac-vnetLen : mac])
			} else if status&tpStatusCsumNotReady != 0 {
				p.hdr = partialCsum(blk[p.off:p.end])
			}
			if status&tpStatusVlanValid != 0 {
				tpid := uint16(0x8100)
				if status&tpStatusVlanTPID != 0 {
					tpid = binary.LittleEndian.Uint16(rec[pktVlanTPIDOff:])
				}
				if !insertVLAN(blk, p, tpid, uint16(le32(rec, pktVlanTCIOff)), off+pktHdrLen) {
					r.bad++
					break
				}
			}
			r.n++
		}
		off += next
	}
	return r
}

// insertVLAN moves the MAC addresses of p four bytes back, into the record's
// headroom (never before floor), and writes an 802.1Q tag after them. The
// offload header's offsets, counted from the start of the frame, move too.
func insertVLAN(blk []byte, p *rxPkt, tpid, tci uint16, floor int) bool {
	if p.end-p.off < 12 || p.off-4 < floor {
		return false
	}
	copy(blk[p.off-4:p.off+8], blk[p.off:p.off+12])
	p.off -= 4
	binary.BigEndian.PutUint16(blk[p.off+12:], tpid)
	binary.BigEndian.PutUint16(blk[p.off+14:], tci)
	if p.hdr.NeedsCsum() {
		p.hdr.CsumStart += 4
	}
	if p.hdr.HdrLen != 0 {
		p.hdr.HdrLen += 4
	}
	return true
}

func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

func align16(n int) int { return (n + 15) &^ 15 }
