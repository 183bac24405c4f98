// Package frametest builds Ethernet frames for tests of parsers and switching
// logics, so that test tables read as the protocol stack they describe:
//
//	b := frametest.Frame(
//		frametest.Ethernet(frame.TypeIPv4, frametest.VLAN{TPID: frame.TypeVLAN, VID: 10}),
//		frametest.IPv4{Proto: frame.ProtoUDP}.Build(frametest.UDP(5353, 53, nil)),
//	)
//
// Headers carry correct lengths (and an IPv4 header checksum) unless a field
// asks otherwise; frames are padded to the 60-byte Ethernet minimum.
package frametest

import "encoding/binary"

// MinFrame is the shortest Ethernet frame without its FCS: Frame pads to it.
const MinFrame = 60

// Default MAC addresses of Ethernet, locally administered unicast.
var (
	DstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	SrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
)

// VLAN is one 802.1Q or 802.1ad tag.
type VLAN struct {
	TPID uint16 // frame.TypeVLAN, frame.TypeQinQ or frame.TypeQinQ1
	VID  uint16
	PCP  uint8
}

// Ethernet returns an Ethernet header from SrcMAC to DstMAC with the given
// tags, outermost first, and etherType as the inner EtherType.
func Ethernet(etherType uint16, tags ...VLAN) []byte {
	b := make([]byte, 0, 14+4*len(tags))
	b = append(b, DstMAC[:]...)
	b = append(b, SrcMAC[:]...)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, t.TPID)
		b = binary.BigEndian.AppendUint16(b, uint16(t.PCP)<<13|t.VID&0x0fff)
	}
	return binary.BigEndian.AppendUint16(b, etherType)
}

// IPv4 describes an IPv4 header.
type IPv4 struct {
	Proto    uint8
	Src, Dst [4]byte // zero means 192.0.2.1 and 192.0.2.2
	// Options is the number of option bytes, written as NOPs (padded up to
	// a multiple of 4): IHL is 5 + Options/4.
	Options int
	// FragOffset is the fragment offset in 8-byte units; More sets MF.
	FragOffset uint16
	More       bool
	// IHL, when not zero, overrides the header length field (in 32-bit
	// words); TotalLen, when not zero, overrides the total length.
	IHL      uint8
	TotalLen uint16
}

// Build returns the header followed by payload.
func (h IPv4) Build(payload []byte) []byte {
	opts := (h.Options + 3) &^ 3
	hl := 20 + opts
	b := make([]byte, hl, hl+len(payload))
	ihl := h.IHL
	if ihl == 0 {
		ihl = uint8(hl / 4)
	}
	b[0] = 4<<4 | ihl&0x0f
	total := h.TotalLen
	if total == 0 {
		total = uint16(hl + len(payload))
	}
	binary.BigEndian.PutUint16(b[2:], total)
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	frag := h.FragOffset & 0x1fff
	if h.More {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = 64
	b[9] = h.Proto
	src, dst := h.Src, h.Dst
	if src == ([4]byte{}) {
		src = [4]byte{192, 0, 2, 1}
	}
	if dst == ([4]byte{}) {
		dst = [4]byte{192, 0, 2, 2}
	}
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	for i := 20; i < hl; i++ {
		b[i] = 1 // NOP
	}
	binary.BigEndian.PutUint16(b[10:], checksum(b))
	return append(b, payload...)
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// IPv6 extension header types.
const (
	HopByHop = 0
	Routing  = 43
	Fragment = 44
	DestOpts = 60
)

// Ext is one IPv6 extension header. For Fragment, FragOffset (in 8-byte
// units) and More fill the fragment header; for the others, Len is the
// header's length field (the header takes 8 + 8*Len bytes, filled with
// padding options).
type Ext struct {
	Type       uint8
	Len        uint8
	FragOffset uint16
	More       bool
}

// IPv6 describes an IPv6 header and its extension headers.
type IPv6 struct {
	Next     uint8    // the protocol after the extension headers
	Src, Dst [16]byte // zero means 2001:db8::1 and 2001:db8::2
	Ext      []Ext
	// PayloadLen, when not zero, overrides the payload length field.
	PayloadLen uint16
}

// Build returns the header and extension headers followed by payload.
func (h IPv6) Build(payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload)+64)
	b[0] = 6 << 4
	first := h.Next
	if len(h.Ext) > 0 {
		first = h.Ext[0].Type
	}
	b[6] = first
	b[7] = 64
	src, dst := h.Src, h.Dst
	if src == ([16]byte{}) {
		src = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	}
	if dst == ([16]byte{}) {
		dst = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}
	}
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	for i, e := range h.Ext {
		next := h.Next
		if i+1 < len(h.Ext) {
			next = h.Ext[i+1].Type
		}
		if e.Type == Fragment {
			off := e.FragOffset << 3
			if e.More {
				off |= 1
			}
			b = append(b, next, 0, byte(off>>8), byte(off), 0, 0, 0x56, 0x78)
			continue
		}
		ext := make([]byte, 8+8*int(e.Len))
		ext[0], ext[1] = next, e.Len
		ext[2], ext[3] = 1, byte(len(ext)-4) // one PadN option
		b = append(b, ext...)
	}
	b = append(b, payload...)
	pl := h.PayloadLen
	if pl == 0 {
		pl = uint16(len(b) - 40)
	}
	binary.BigEndian.PutUint16(b[4:], pl)
	return b
}

// TCP returns a 20-byte TCP header (a SYN) from port src to port dst.
func TCP(src, dst uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	binary.BigEndian.PutUint32(b[4:], 0x01020304)
	b[12] = 5 << 4
	b[13] = 0x02
	binary.BigEndian.PutUint16(b[14:], 0xffff)
	return b
}

// UDP returns a UDP header from port src to port dst followed by payload,
// with the checksum left at zero.
func UDP(src, dst uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

// ARP returns an Ethernet ARP request, padded.
func ARP() []byte {
	b := Ethernet(0x0806)
	b = append(b, 0, 1, 8, 0, 6, 4, 0, 1)
	b = append(b, SrcMAC[:]...)
	b = append(b, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2)
	return Frame(b)
}

// Frame concatenates parts and pads the result with zeros to MinFrame bytes.
func Frame(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	for len(b) < MinFrame {
		b = append(b, 0)
	}
	return b
}
