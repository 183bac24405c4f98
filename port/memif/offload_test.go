package memif

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
)

// oneShot is an InQueue that lends a fixed list of slots once.
// oneShot is an input queue that lends its slots once, from the moment it
// is armed (after the logic knows where they go).
type oneShot struct {
	slots []fabric.Slot
	lent  int
	armed atomic.Bool
}

func (s *oneShot) Receive(out []fabric.Slot) int {
	if !s.armed.Load() {
		return 0
	}
	return copy(out, s.slots[s.lent:])
}
func (s *oneShot) Release(n int) { s.lent += n }
func (s *oneShot) Wait() error   { time.Sleep(time.Millisecond); return nil }
func (s *oneShot) Interrupt()    {}

type oneShotBackend struct{ in *oneShot }

func (b oneShotBackend) InQueues() []fabric.InQueue   { return []fabric.InQueue{b.in} }
func (b oneShotBackend) OutQueues() []fabric.OutQueue { return []fabric.OutQueue{nowhere{}} }
func (b oneShotBackend) Close() error                 { return nil }

// nowhere is an OutQueue with no room: the source port takes no packets.
type nowhere struct{}

func (nowhere) BufSize() int              { return 2048 }
func (nowhere) Room(uint32) uint32        { return 0 }
func (nowhere) Buffer(uint32) []byte      { return nil }
func (nowhere) SetSlot(uint32, int, bool) {}
func (nowhere) Publish(uint32)            {}
func (nowhere) Notify()                   {}

// partialUDP is Ethernet+IPv4+UDP with payload bytes and the UDP checksum
// left partial (the pseudo-header sum), as a sender with checksum offload
// leaves it, and the header saying so.
func partialUDP(payload int) ([]byte, vnet.Hdr) {
	p := make([]byte, 14+20+8+payload)
	copy(p[0:12], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(p[12:], 0x0800)
	ip := p[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(28+payload))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip[:20])))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], 1000)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], uint16(8+payload))
	for i := range payload {
		u[8+i] = byte(i*7 + 1)
	}
	ps := sum16(0, ip[12:20]) + 17 + uint32(8+payload)
	binary.BigEndian.PutUint16(u[6:], fold(ps))
	return p, vnet.Hdr{Flags: vnet.FlagNeedsCsum, CsumStart: 34, CsumOffset: 6}
}

func sum16(s uint32, b []byte) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// TestPartialChecksumToMemif sends packets with unfinished checksums to a
// memif port: the fabric finishes them in the client's buffers after
// setting the slot's length, and the port must still hand out the buffer
// it validated (it used to take the shortened descriptor for a bad one and
// drop the client).
func TestPartialChecksumToMemif(t *testing.T) {
	tb := newTestbed(t)
	dst, dstID := tb.port(PortConfig{ID: 1, Name: "dst"})
	c := tb.dial(ClientConfig{ID: 1, Name: "client"})
	// The source sends once: the port's side of the link must be up first,
	// or the fabric drops the packets (no room) and the test waits in vain.
	waitFor(t, 5*time.Second, "the port connected", func() bool { return dst.Status().Connected })

	var slots []fabric.Slot
	var want [][]byte
	for _, n := range []int{18, 100, 1400, 5000} { // 5000: a chain of three buffers
		p, h := partialUDP(n)
		slots = append(slots, fabric.Slot{Buf: p, Offload: h})
		w := append([]byte(nil), p...)
		u := w[34:]
		ps := sum16(0, w[26:34]) + 17 + uint32(len(u))
		binary.BigEndian.PutUint16(u[6:], 0)
		binary.BigEndian.PutUint16(u[6:], ^fold(sum16(ps, u)))
		want = append(want, w)
	}
	src := &oneShot{slots: slots}
	srcID, err := tb.sw.Attach(oneShotBackend{in: src}, fabric.PortConfig{Name: "src"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.x.Connect(srcID, dstID); err != nil {
		t.Fatal(err)
	}
	src.armed.Store(true) // not before Connect: the logic would drop them (lookup)

	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 16384)
	}
	sizes := make([]int, 8)
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		n, err := c.Receive(0, bufs, sizes)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for i := range n {
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
		}
		if n == 0 {
			if _, err := c.Wait(0, 20*time.Millisecond); err != nil {
				t.Fatalf("wait: %v (the port dropped the client)", err)
			}
		}
	}
	if len(got) != len(want) {
		for _, st := range tb.sw.Stats() {
			t.Logf("%s: rx %d tx %d drops %v", st.Name, st.RxPackets, st.TxPackets, st.Drops)
		}
		t.Fatalf("received %d packets of %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Errorf("packet %d (%d bytes): checksum %#04x, want %#04x", i, len(want[i]),
				binary.BigEndian.Uint16(got[i][40:]), binary.BigEndian.Uint16(want[i][40:]))
		}
	}
	select {
	case <-c.Done():
		t.Fatalf("client dropped: %v", c.Err())
	default:
	}
}
