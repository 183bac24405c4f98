package vnet

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pktSpec describes a GSO packet for the tests to build.
type pktSpec struct {
	gso     uint8 // GSOTCPv4, GSOTCPv6, GSOUDPL4, GSOUDP
	v6      bool  // for the UDP types
	vlans   int   // 0, 1 or 2 tags
	payload int   // application bytes
	mss     uint16
	tcpFlag func(*layers.TCP)
}

// build serializes the packet with complete checksums (gopacket's), then
// turns it into what a sender with checksum offload hands over: the L4
// checksum field holds the pseudo-header sum only. It returns the packet,
// its header, the application payload and the offset of the L4 header.
func build(t testing.TB, s pktSpec) (pkt []byte, h Hdr, payload []byte, l4 int) {
	t.Helper()
	payload = make([]byte, s.payload)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	v6 := s.v6 || s.gso == GSOTCPv6
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
	}
	ipType := layers.EthernetTypeIPv4
	if v6 {
		ipType = layers.EthernetTypeIPv6
	}
	ls = append(ls, eth)
	switch s.vlans {
	case 0:
		eth.EthernetType = ipType
	case 1:
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 100, Type: ipType})
	case 2:
		eth.EthernetType = layers.EthernetTypeQinQ
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 200, Type: ipType})
	}
	proto := layers.IPProtocolTCP
	if s.gso == GSOUDP || s.gso == GSOUDPL4 {
		proto = layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, FlowLabel: 0x12345,
			SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		ls, nl = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, Id: 0xfffe,
			Flags: layers.IPv4DontFragment, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
		ls, nl = append(ls, ip), ip
	}
	if proto == layers.IPProtocolTCP {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 0xffffff00, Ack: 77, ACK: true,
			Window: 512, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}}}}
		if s.tcpFlag != nil {
			s.tcpFlag(tcp)
		}
		tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	} else {
		udp := &layers.UDP{SrcPort: 4000, DstPort: 9000}
		udp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	pkt = append([]byte(nil), buf.Bytes()...)

	l4 = 14 + 4*s.vlans + 20
	if v6 {
		l4 = 14 + 4*s.vlans + 40
	}
	csumOff := uint16(16)
	if proto == layers.IPProtocolUDP {
		csumOff = 6
	}
	// The partial checksum: the folded pseudo-header sum, not complemented.
	ipb := pkt[l4-20:]
	addrs := ipb[12:20]
	if v6 {
		ipb = pkt[l4-40:]
		addrs = ipb[8:40]
	}
	ps := refSum(addrs) + uint32(proto) + uint32(len(pkt)-l4)
	binary.BigEndian.PutUint16(pkt[l4+int(csumOff):], fold(ps))
	h = Hdr{Flags: FlagNeedsCsum, GSOType: s.gso, GSOSize: s.mss,
		CsumStart: uint16(l4), CsumOffset: csumOff, HdrLen: uint16(l4 + 8)}
	if proto == layers.IPProtocolTCP {
		h.HdrLen = uint16(l4 + 32)
	}
	return pkt, h, payload, l4
}

// refSum is the plain RFC 1071 sum, one byte at a time: the reference the
// fast code is checked against.
func refSum(b []byte) uint32 {
	var s uint32
	for i, c := range b {
		if i%2 == 0 {
			s += uint32(c) << 8
		} else {
			s += uint32(c)
		}
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// chain copies pkt into buffers of size n, as the fabric holds it.
func chain(pkt []byte, n int) [][]byte {
	var bufs [][]byte
	for len(pkt) > 0 {
		c := min(n, len(pkt))
		bufs = append(bufs, append(make([]byte, 0, n), pkt[:c]...))
		pkt = pkt[c:]
	}
	return bufs
}

// chainAt copies pkt into buffers cut at the given offsets.
func chainAt(pkt []byte, cuts []int) [][]byte {
	var bufs [][]byte
	prev := 0
	for _, c := range cuts {
		if c <= prev || c >= len(pkt) {
			continue
		}
		bufs = append(bufs, append([]byte(nil), pkt[prev:c]...))
		prev = c
	}
	return append(bufs, append([]byte(nil), pkt[prev:]...))
}
