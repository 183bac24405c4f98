package fabric_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"github.com/mswitch/mswitch/logic"
)

// directRecorder is a recorder that takes direct sends, declining those
// that decline says to, and keeps them in order with the published ones.
type directRecorder struct {
	*recorder
	direct  int
	decline func() bool
}

func (r *directRecorder) SendDirect(bufs [][]byte, h vnet.Hdr) bool {
	if r.decline != nil && r.decline() {
		return false
	}
	r.direct++
	if r.discard {
		return true
	}
	var p []byte
	for _, b := range bufs {
		p = append(p, b...)
	}
	r.pkts = append(r.pkts, p)
	r.hdrs = append(r.hdrs, h)
	return true
}

type directOffloadRecorder struct{ *directRecorder }

func (r directOffloadRecorder) SetOffload(i uint32, h vnet.Hdr) { r.offs[i%1024] = h; r.setOffs++ }

// chainSlots cuts p into slots of at most bs bytes, h on the first.
func chainSlots(p []byte, bs int, h vnet.Hdr) []fabric.Slot {
	var slots []fabric.Slot
	for off := 0; off < len(p) || off == 0; off += bs {
		end := min(off+bs, len(p))
		s := fabric.Slot{Buf: p[off:end:end], More: end < len(p)}
		if off == 0 {
			s.Offload = h
		}
		slots = append(slots, s)
	}
	return slots
}

// TestDirect floods batches of short and long packets to a plain queue and
// to DirectQueues, which decline some direct sends: every queue must get the
// same packets in the same order, the long ones that were not declined
// without a copy into slots, and offloaded ones to the queue without
// offload segmented (never sent directly).
func TestDirect(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { testDirect(t, seed) })
	}
}

func testDirect(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	sw, err := fabric.New("direct", fabric.Options{Batch: 1 + rng.Intn(64),
		Logic: logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Flood })})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	var slots []fabric.Slot
	var want [][]byte
	var wantHdrs []vnet.Hdr
	gsoHdr := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	for range 200 {
		var p []byte
		var h vnet.Hdr
		switch rng.Intn(4) {
		case 0:
			p = ipv4Packet(6, 1000+rng.Intn(30000))
			h = gsoHdr
		case 1:
			p = ipv4Packet(17, 2000+rng.Intn(8000))
		default:
			p = ipv4Packet(17, rng.Intn(1400))
		}
		// Complete the UDP checksum: the packet goes unchanged everywhere.
		if p[23] == 17 {
			p[40], p[41] = 0, 0
			c := csum(pseudo4(p[14:], 17, len(p)-34), p[34:])
			p[40], p[41] = byte(c>>8), byte(c)
		}
		slots = append(slots, chainSlots(p, 2048, h)...)
		want = append(want, p)
		wantHdrs = append(wantHdrs, h)
	}
	src := &slotSource{slots: slots}
	in, err := sw.Attach(sourceBackend{src}, fabric.PortConfig{Name: "in", Inline: true})
	if err != nil {
		t.Fatal(err)
	}
	offRec := &directRecorder{recorder: newRecorder(2048, true), decline: func() bool { return rng.Intn(3) == 0 }}
	off := directOffloadRecorder{offRec}
	plainDirect := &directRecorder{recorder: newRecorder(4096, false), decline: func() bool { return rng.Intn(3) == 0 }}
	plain := offloadRecorder{newRecorder(2048, true)}
	offID, _ := sw.Attach(sinkBackend{off}, fabric.PortConfig{Name: "direct-offload"})
	sw.Attach(sinkBackend{plainDirect}, fabric.PortConfig{Name: "direct"})
	sw.Attach(sinkBackend{plain}, fabric.PortConfig{Name: "copy"})
	for src.lent < len(slots) {
		if _, err := sw.Forward(in, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The offload queues get the packets as they came.
	for _, r := range []*recorder{offRec.recorder, plain.recorder} {
		if len(r.pkts) != len(want) {
			t.Fatalf("%d packets out, want %d", len(r.pkts), len(want))
		}
		for i := range want {
			if !bytes.Equal(r.pkts[i], want[i]) || r.hdrs[i] != wantHdrs[i] {
				t.Fatalf("packet %d: %d bytes, header %+v; want %d bytes, header %+v", i, len(r.pkts[i]), r.hdrs[i], len(want[i]), wantHdrs[i])
			}
		}
	}
	if offRec.direct == 0 {
		t.Error("no direct send to the offload queue")
	}
	// The plain one gets the GSO packets segmented, the others as they came.
	k := 0
	for i, p := range want {
		if wantHdrs[i].GSO() != vnet.GSONone {
			// Its segments: TCP, 1,448 bytes of payload but the last.
			for n := (len(p) - 54 + 1447) / 1448; n > 0; n-- {
				if k >= len(plainDirect.pkts) || plainDirect.pkts[k][23] != 6 || len(plainDirect.pkts[k]) > 54+1448 {
					t.Fatalf("plain direct queue: packet %d is not a segment of packet %d", k, i)
				}
				k++
			}
			continue
		}
		if k >= len(plainDirect.pkts) || !bytes.Equal(plainDirect.pkts[k], p) {
			t.Fatalf("plain direct queue: packet %d is not packet %d of the input, or out of order", k, i)
		}
		k++
	}
	if k != len(plainDirect.pkts) {
		t.Fatalf("plain direct queue: %d packets, %d accounted for", len(plainDirect.pkts), k)
	}
	if plainDirect.direct == 0 {
		t.Error("no direct send to the plain queue")
	}
	st, _ := sw.PortStats(offID)
	if st.TxPackets != uint64(len(want)) || st.TotalDrops() != 0 {
		t.Errorf("direct offload port: %d packets sent, drops %v; want %d, none", st.TxPackets, st.Drops, len(want))
	}
}

func TestDirectZeroAllocs(t *testing.T) {
	sw, err := fabric.New("direct", fabric.Options{Logic: logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Flood })})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	h := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	slots := append(chainSlots(ipv4Packet(6, 30000), 2048, h), fabric.Slot{Buf: ipv4Packet(17, 300)})
	slots = append(slots, chainSlots(ipv4Packet(6, 20000), 2048, h)...)
	src := &slotSource{slots: slots}
	dr := &directRecorder{recorder: newRecorder(2048, true)}
	dr.discard = true
	in, _ := sw.Attach(sourceBackend{src}, fabric.PortConfig{Name: "in", Inline: true})
	sw.Attach(sinkBackend{directOffloadRecorder{dr}}, fabric.PortConfig{Name: "direct"})
	forward := func() {
		src.lent = 0
		if n, err := sw.Forward(in, 0); n != 3 || err != nil {
			t.Fatalf("Forward: %d packets, %v", n, err)
		}
	}
	forward()
	if n := testing.AllocsPerRun(100, forward); n != 0 {
		t.Fatalf("%v allocations per batch with direct sends", n)
	}
	if dr.direct != 2*102 { // forward, and AllocsPerRun's 1+100 calls
		t.Fatalf("%d direct sends, want %d", dr.direct, 2*102)
	}
}
