package pktgen

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/mswitch/mswitch/frame"
)

// Frame sizes pktgen builds: the Ethernet minimum without CRC, and the
// largest frame whose IPv4 total length still fits 16 bits.
const (
	MinSize = 60
	MaxSize = 65535
)

// MaxFlows is the most flows (and streams) pktgen tells apart: the stream
// number in the payload is 16 bits.
const MaxFlows = 1 << 16

// Header offsets of the untagged frames pktgen builds.
const (
	offIP      = frame.EthHeaderLen
	offUDP     = offIP + 20
	offPayload = offUDP + 8
)

// The payload that follows the UDP header of every frame pktgen builds; 18
// bytes, so it fits a 60-byte frame:
//
//	0  magic "msw"
//	3  kind: KindData, KindSeq, KindPing or KindPong
//	4  stream (uint16, big endian): the sender's flow/queue stream
//	6  sequence number within the stream (uint32, wraps)
//	10 send time, time.Now().UnixNano() (int64), for ping
//
// The rest of the frame, if any, is zero.
const (
	payloadLen = 18
	pMagic     = 0
	pKind      = 3
	pStream    = 4
	pSeq       = 6
	pTime      = 10
)

var magic = [3]byte{'m', 's', 'w'}

// Payload kinds.
const (
	KindData = 'D' // tx without sequence numbers (replayed template)
	KindSeq  = 'S' // tx with a sequence number per stream
	KindPing = 'P' // ping request, carries a send time
	KindPong = 'R' // reply from pong
)

// Addrs are the header fields of flow 0. Flow f adds f to the source MAC,
// the source IP and the source port.
type Addrs struct {
	SrcMAC, DstMAC   net.HardwareAddr
	SrcIP, DstIP     netip.Addr
	SrcPort, DstPort uint16
}

// Template builds the frames of one traffic spec: Size bytes, Flows flows.
type Template struct {
	Addrs
	Size  int
	Flows int

	srcMAC uint64
	srcIP  uint32
}

// NewTemplate checks a, size and flows.
func NewTemplate(a Addrs, size, flows int) (*Template, error) {
	if size < MinSize || size > MaxSize {
		return nil, fmt.Errorf("frame size %d outside %d..%d", size, MinSize, MaxSize)
	}
	if flows < 1 || flows > MaxFlows {
		return nil, fmt.Errorf("%d flows outside 1..%d", flows, MaxFlows)
	}
	if len(a.SrcMAC) != 6 || len(a.DstMAC) != 6 {
		return nil, fmt.Errorf("MAC addresses must be 6 bytes")
	}
	if !a.SrcIP.Is4() || !a.DstIP.Is4() {
		return nil, fmt.Errorf("IP addresses must be IPv4")
	}
	ip := a.SrcIP.As4()
	return &Template{
		Addrs:  a,
		Size:   size,
		Flows:  flows,
		srcMAC: mac48(a.SrcMAC),
		srcIP:  binary.BigEndian.Uint32(ip[:]),
	}, nil
}

func mac48(b []byte) uint64 {
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 |
		uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

func putMAC(b []byte, v uint64) {
	b[0], b[1], b[2] = byte(v>>40), byte(v>>32), byte(v>>24)
	b[3], b[4], b[5] = byte(v>>16), byte(v>>8), byte(v)
}

// Build returns a new frame of flow flow, stream stream and the given kind,
// with sequence number 0 and no time.
func (t *Template) Build(flow int, stream uint16, kind byte) []byte {
	b := make([]byte, t.Size)
	copy(b[0:6], t.DstMAC)
	binary.BigEndian.PutUint16(b[12:], frame.TypeIPv4)

	ip := b[offIP:]
	ip[0] = 4<<4 | 5
	binary.BigEndian.PutUint16(ip[2:], uint16(t.Size-offIP))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
	ip[8] = 64
	ip[9] = frame.ProtoUDP
	dst := t.DstIP.As4()
	copy(ip[16:20], dst[:])

	udp := b[offUDP:]
	binary.BigEndian.PutUint16(udp[2:], t.DstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(t.Size-offUDP))
	// UDP checksum 0: none (allowed over IPv4), so that stamping a
	// sequence number or a time costs no checksum update.

	p := b[offPayload:]
	copy(p[pMagic:], magic[:])
	p[pKind] = kind
	binary.BigEndian.PutUint16(p[pStream:], stream)
	t.SetFlow(b, flow)
	return b
}

// SetFlow rewrites the source MAC, IP and port of b, a frame from Build, to
// those of flow f, and updates the IP checksum.
func (t *Template) SetFlow(b []byte, f int) {
	putMAC(b[6:12], t.srcMAC+uint64(f))
	ip := b[offIP : offIP+20]
	binary.BigEndian.PutUint32(ip[12:], t.srcIP+uint32(f))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip))
	binary.BigEndian.PutUint16(b[offUDP:], t.SrcPort+uint16(f))
}

// SetStream writes the stream number into b, a frame from Build.
func SetStream(b []byte, stream uint16) {
	binary.BigEndian.PutUint16(b[offPayload+pStream:], stream)
}

// SetSeq writes the sequence number into b, a frame from Build.
func SetSeq(b []byte, seq uint32) {
	binary.BigEndian.PutUint32(b[offPayload+pSeq:], seq)
}

// SetTime writes the send time into b, a frame from Build.
func SetTime(b []byte, ns int64) {
	binary.BigEndian.PutUint64(b[offPayload+pTime:], uint64(ns))
}

// Checksum is the Internet checksum of b (RFC 1071). Over a header whose
// checksum field is filled in, it is 0.
func Checksum(b []byte) uint16 {
	var s uint64
	for ; len(b) >= 8; b = b[8:] {
		v := binary.BigEndian.Uint64(b)
		s += v>>48 + v>>32&0xffff + v>>16&0xffff + v&0xffff
	}
	for ; len(b) >= 2; b = b[2:] {
		s += uint64(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// Payload is what Parse finds in a frame pktgen built.
type Payload struct {
	Kind   byte
	Stream uint16
	Seq    uint32
	Time   int64
}

// Parse finds the pktgen payload of b: an IPv4/UDP frame, possibly VLAN
// tagged, whose UDP data starts with the magic. ok is false for any other
// frame.
func Parse(b []byte) (p Payload, ok bool) {
	off, ok := payloadOffset(b)
	if !ok {
		return p, false
	}
	d := b[off:]
	return Payload{
		Kind:   d[pKind],
		Stream: binary.BigEndian.Uint16(d[pStream:]),
		Seq:    binary.BigEndian.Uint32(d[pSeq:]),
		Time:   int64(binary.BigEndian.Uint64(d[pTime:])),
	}, true
}

func payloadOffset(b []byte) (int, bool) {
	et, l3, _, ok := frame.L3(b)
	if !ok || et != frame.TypeIPv4 {
		return 0, false
	}
	proto, l4, ok := frame.L4(b, et, l3)
	if !ok || proto != frame.ProtoUDP || len(b) < l4+8+payloadLen {
		return 0, false
	}
	d := b[l4+8:]
	if d[0] != magic[0] || d[1] != magic[1] || d[2] != magic[2] {
		return 0, false
	}
	return l4 + 8, true
}

// Reflect turns the IPv4/UDP frame b into its reply in place, as pong does:
// it swaps the MACs, IP addresses and UDP ports. A multicast destination MAC
// is not made the reply's source: own is used instead. For a pktgen frame
// whose UDP checksum is 0 the kind becomes KindPong. Reflect reports false,
// and leaves b alone, for frames that are not IPv4/UDP.
func Reflect(b []byte, own net.HardwareAddr) bool {
	et, l3, _, ok := frame.L3(b)
	if !ok || et != frame.TypeIPv4 {
		return false
	}
	proto, l4, ok := frame.L4(b, et, l3)
	if !ok || proto != frame.ProtoUDP || len(b) < l4+8 {
		return false
	}
	var src [6]byte
	copy(src[:], b[6:12])
	if b[0]&1 != 0 {
		copy(b[6:12], own)
	} else {
		copy(b[6:12], b[0:6])
	}
	copy(b[0:6], src[:])
	ip := b[l3:]
	for i := 12; i < 16; i++ { // the checksum does not change
		ip[i], ip[i+4] = ip[i+4], ip[i]
	}
	u := b[l4:]
	u[0], u[1], u[2], u[3] = u[2], u[3], u[0], u[1]
	if off, ok := payloadOffset(b); ok && u[6] == 0 && u[7] == 0 {
		b[off+pKind] = KindPong
	}
	return true
}
