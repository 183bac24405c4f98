package fabric_test

import (
	"encoding/binary"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"github.com/mswitch/mswitch/logic"
)

// slotSource is an InQueue that lends a fixed list of slots once.
type slotSource struct {
	slots []fabric.Slot
	lent  int
}

func (s *slotSource) Receive(out []fabric.Slot) int {
	n := copy(out, s.slots[s.lent:])
	return n
}
func (s *slotSource) Release(n int) { s.lent += n }
func (s *slotSource) Wait() error   { return nil }
func (s *slotSource) Interrupt()    {}

type sourceBackend struct{ in *slotSource }

func (b sourceBackend) InQueues() []fabric.InQueue { return []fabric.InQueue{b.in} }
func (b sourceBackend) OutQueues() []fabric.OutQueue {
	return []fabric.OutQueue{newRecorder(2048, false)}
}
func (b sourceBackend) Close() error { return nil }

// recorder is an OutQueue (and, if offload, an OffloadQueue) that keeps
// every published packet, reassembled from its chain.
type recorder struct {
	bufs    [][]byte
	lens    []int
	more    []bool
	offs    []vnet.Hdr
	setOffs int
	pub     uint32
	offload bool
	pkts    [][]byte
	hdrs    []vnet.Hdr
	discard bool // count nothing, keep nothing (allocation tests)
}

func newRecorder(bs int, offload bool) *recorder {
	r := &recorder{offload: offload}
	for i := 0; i < 1024; i++ {
		r.bufs = append(r.bufs, make([]byte, bs))
	}
	r.lens = make([]int, 1024)
	r.more = make([]bool, 1024)
	r.offs = make([]vnet.Hdr, 1024)
	return r
}

func (r *recorder) BufSize() int                       { return len(r.bufs[0]) }
func (r *recorder) Room(from uint32) uint32            { return 1024 - (from - r.pub) }
func (r *recorder) Buffer(i uint32) []byte             { return r.bufs[i%1024] }
func (r *recorder) SetSlot(i uint32, n int, more bool) { r.lens[i%1024], r.more[i%1024] = n, more }
func (r *recorder) Notify()                            {}
func (r *recorder) Publish(tail uint32) {
	if r.discard {
		r.pub = tail
		return
	}
	var cur []byte
	first := true
	for ; r.pub != tail; r.pub++ {
		i := r.pub % 1024
		if first {
			r.hdrs = append(r.hdrs, r.offs[i])
			r.offs[i] = vnet.Hdr{}
		}
		cur = append(cur, r.bufs[i][:r.lens[i]]...)
		first = !r.more[i]
		if first {
			r.pkts = append(r.pkts, cur)
			cur = nil
		}
	}
}

type offloadRecorder struct{ *recorder }

func (r offloadRecorder) SetOffload(i uint32, h vnet.Hdr) { r.offs[i%1024] = h; r.setOffs++ }

type sinkBackend struct{ q fabric.OutQueue }

func (b sinkBackend) InQueues() []fabric.InQueue   { return nil }
func (b sinkBackend) OutQueues() []fabric.OutQueue { return []fabric.OutQueue{b.q} }
func (b sinkBackend) Close() error                 { return nil }

// csum is the Internet checksum of b with an initial sum.
func csum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func pseudo4(ip []byte, proto byte, l4len int) uint32 {
	return uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:])) +
		uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:])) +
		uint32(proto) + uint32(l4len)
}

// ipv4Packet builds Ethernet+IPv4+(TCP or UDP) with payload bytes, the
// transport checksum left partial (the pseudo-header sum, as a sender
// with checksum offload leaves it).
func ipv4Packet(proto byte, payload int) []byte {
	l4 := 20
	if proto == 17 {
		l4 = 8
	}
	p := make([]byte, 14+20+l4+payload)
	copy(p[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(p[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(p[12:], 0x0800)
	ip := p[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
	binary.BigEndian.PutUint16(ip[4:], 100)
	ip[8], ip[9] = 64, proto
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], csum(0, ip[:20]))
	t := ip[20:]
	binary.BigEndian.PutUint16(t[0:], 1000)
	binary.BigEndian.PutUint16(t[2:], 80)
	ck := 16
	if proto == 6 {
		binary.BigEndian.PutUint32(t[4:], 5000) // seq
		t[12] = 5 << 4
		t[13] = 0x18 // PSH|ACK
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(8+payload))
		ck = 6
	}
	for i := range payload {
		t[l4+i] = byte(i * 7)
	}
	s := pseudo4(ip, proto, l4+payload)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(t[ck:], uint16(s)) // partial: not complemented
	return p
}

// TestOffload sends offloaded packets (a 10,000-byte TCP GSO packet, a UDP
// datagram with a partial checksum, a header pointing outside its packet)
// to two ports: one that takes offload and one that does not.
func TestOffload(t *testing.T) {
	sw, err := fabric.New("off", fabric.Options{Logic: logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Flood })})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	gso := ipv4Packet(6, 10000)
	udp := ipv4Packet(17, 300)
	bad := ipv4Packet(17, 10)
	gsoHdr := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	udpHdr := vnet.Hdr{Flags: vnet.FlagNeedsCsum, CsumStart: 34, CsumOffset: 6}
	badHdr := vnet.Hdr{Flags: vnet.FlagNeedsCsum, CsumStart: 60, CsumOffset: 6}
	var slots []fabric.Slot
	// The GSO packet in 2048-byte buffers, chained.
	for off := 0; off < len(gso); off += 2048 {
		end := min(off+2048, len(gso))
		s := fabric.Slot{Buf: gso[off:end:end], More: end < len(gso)}
		if off == 0 {
			s.Offload = gsoHdr
		}
		slots = append(slots, s)
	}
	slots = append(slots, fabric.Slot{Buf: udp, Offload: udpHdr}, fabric.Slot{Buf: bad, Offload: badHdr})
	src := &slotSource{slots: slots}
	off := offloadRecorder{newRecorder(2048, true)}
	plain := newRecorder(2048, false)
	in, err := sw.Attach(sourceBackend{src}, fabric.PortConfig{Name: "in", Inline: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Attach(sinkBackend{off}, fabric.PortConfig{Name: "offload"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Attach(sinkBackend{plain}, fabric.PortConfig{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Forward(in, 0); err != nil {
		t.Fatal(err)
	}
	// The offload port gets both packets as they were, with their headers.
	if len(off.pkts) != 2 || string(off.pkts[0]) != string(gso) || string(off.pkts[1]) != string(udp) {
		t.Fatalf("offload port got %d packets, want the GSO packet and the UDP datagram unchanged", len(off.pkts))
	}
	if off.hdrs[0] != gsoHdr || off.hdrs[1] != udpHdr || off.setOffs != 2 {
		t.Fatalf("offload port headers %+v (%d SetOffload calls), want %+v, %+v", off.hdrs, off.setOffs, gsoHdr, udpHdr)
	}
	// The plain port gets 7 complete TCP segments and a complete datagram.
	if len(plain.pkts) != 8 {
		t.Fatalf("plain port got %d packets, want 7 segments and 1 datagram", len(plain.pkts))
	}
	var payload []byte
	for k, p := range plain.pkts[:7] {
		ip, tcp := p[14:34], p[34:]
		if csum(0, ip) != 0 {
			t.Errorf("segment %d: bad IPv4 header checksum", k)
		}
		if got := int(binary.BigEndian.Uint16(ip[2:])); got != len(p)-14 {
			t.Errorf("segment %d: IP length %d, frame %d", k, got, len(p))
		}
		if csum(pseudo4(ip, 6, len(tcp)), tcp) != 0 {
			t.Errorf("segment %d: bad TCP checksum", k)
		}
		if seq := binary.BigEndian.Uint32(tcp[4:]); seq != uint32(5000+k*1448) {
			t.Errorf("segment %d: seq %d", k, seq)
		}
		if psh := tcp[13]&0x08 != 0; psh != (k == 6) {
			t.Errorf("segment %d: PSH %v", k, psh)
		}
		payload = append(payload, tcp[20:]...)
	}
	if string(payload) != string(gso[54:]) {
		t.Error("segments' payloads do not add up to the GSO packet's")
	}
	d := plain.pkts[7]
	if string(d[:40]) != string(udp[:40]) || string(d[42:]) != string(udp[42:]) {
		t.Error("the datagram changed beyond its checksum")
	}
	if csum(pseudo4(d[14:], 17, len(d)-34), d[34:]) != 0 {
		t.Error("the datagram's UDP checksum is not complete")
	}
	st, err := sw.PortStats(in)
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops[fabric.DropOffload] != 1 {
		t.Errorf("offload drops %d, want 1 (the header pointing outside its packet)", st.Drops[fabric.DropOffload])
	}
}

func TestOffloadZeroAllocs(t *testing.T) {
	sw, err := fabric.New("off", fabric.Options{Logic: logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Flood })})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	gso := ipv4Packet(6, 30000)
	h := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	var slots []fabric.Slot
	for off := 0; off < len(gso); off += 2048 {
		end := min(off+2048, len(gso))
		s := fabric.Slot{Buf: gso[off:end:end], More: end < len(gso)}
		if off == 0 {
			s.Offload = h
		}
		slots = append(slots, s)
	}
	udp := ipv4Packet(17, 300)
	slots = append(slots, fabric.Slot{Buf: udp, Offload: vnet.Hdr{Flags: vnet.FlagNeedsCsum, CsumStart: 34, CsumOffset: 6}})
	src := &slotSource{slots: slots}
	off := offloadRecorder{newRecorder(2048, true)}
	plain := newRecorder(1024, false) // segments larger than a buffer: built in scratch
	off.discard, plain.discard = true, true
	in, _ := sw.Attach(sourceBackend{src}, fabric.PortConfig{Name: "in", Inline: true})
	sw.Attach(sinkBackend{off}, fabric.PortConfig{Name: "offload"})
	sw.Attach(sinkBackend{plain}, fabric.PortConfig{Name: "plain"})
	forward := func() {
		src.lent = 0
		if n, err := sw.Forward(in, 0); n != 2 || err != nil {
			t.Fatalf("Forward: %d packets, %v", n, err)
		}
	}
	forward() // scratch memory is allocated on first use
	if n := testing.AllocsPerRun(100, forward); n != 0 {
		t.Fatalf("%v allocations per batch with offloaded packets", n)
	}
	st, _ := sw.PortStats(in)
	if st.TotalDrops() != 0 {
		t.Fatalf("drops: %v", st.Drops)
	}
}
