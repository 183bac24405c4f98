package afxdp

import (
	"testing"
	"time"

	"github.com/mswitch/mswitch/internal/busypoll"
	"github.com/mswitch/mswitch/internal/coalesce"

	"github.com/mswitch/mswitch/fabric"
	"golang.org/x/sys/unix"
)

// fakeSocket is a socket whose rings live in Go memory, with nobody on the
// kernel's side: the tests play the kernel.
func fakeSocket(rxFrames, ringSize int, sg bool) *socket {
	const fs = 2048
	s := &socket{fd: -1, frameSize: fs, rxFrames: rxFrames, sg: sg, needWakeup: true}
	s.umem = make([]byte, (rxFrames+ringSize)*fs)
	mk := func(r *ring) {
		idx := make([]uint32, 3)
		r.prod, r.cons, r.flags = &idx[0], &idx[1], &idx[2]
		r.mask = uint32(ringSize - 1)
	}
	mk(&s.rx.ring)
	mk(&s.tx.ring)
	mk(&s.fill.ring)
	mk(&s.comp.ring)
	s.rx.desc = make([]unix.XDPDesc, ringSize)
	s.tx.desc = make([]unix.XDPDesc, ringSize)
	s.fill.addr = make([]uint64, ringSize)
	s.comp.addr = make([]uint64, ringSize)
	return s
}

// sent returns the TX descriptors the queue published and not yet taken,
// and takes them: the kernel sends them and completes their frames.
func takeTx(s *socket) []unix.XDPDesc {
	var ds []unix.XDPDesc
	for c := s.tx.consumer(); c != s.tx.producer(); c++ {
		d := s.tx.desc[c&s.tx.mask]
		ds = append(ds, d)
		s.comp.addr[s.comp.producer()&s.comp.mask] = d.Addr
		s.comp.setProducer(s.comp.producer() + 1)
		s.tx.setConsumer(c + 1)
	}
	return ds
}

func TestOutQueuePublish(t *testing.T) {
	s := fakeSocket(64, 64, true)
	q := newOutQueue(s, 64)
	if room := q.Room(0); room != 64 {
		t.Fatalf("Room(0) = %d, want 64", room)
	}
	// One packet, a chain of three, an empty slot, a chain ending in an
	// empty slot, a chain of 19 (more than the kernel takes).
	type slot struct {
		n    int
		more bool
	}
	plan := []slot{{100, false}, {2048, true}, {2048, true}, {10, false}, {0, false}, {2048, true}, {0, false}}
	for i := 0; i < txMaxFrags; i++ {
		plan = append(plan, slot{2048, true})
	}
	plan = append(plan, slot{5, false}, slot{60, false})
	for i, sl := range plan {
		if len(q.Buffer(uint32(i))) != 2048 {
			t.Fatalf("Buffer(%d) is %d bytes", i, len(q.Buffer(uint32(i))))
		}
		q.SetSlot(uint32(i), sl.n, sl.more)
	}
	q.Publish(uint32(len(plan)))
	ds := takeTx(s)
	want := []unix.XDPDesc{
		{Len: 100}, {Len: 2048, Options: unix.XDP_PKT_CONTD}, {Len: 2048, Options: unix.XDP_PKT_CONTD}, {Len: 10},
		{Len: 2048}, // the chain's empty end dropped, the chain ends here
		{Len: 60},
	}
	if len(ds) != len(want) {
		t.Fatalf("published %d descriptors, want %d: %+v", len(ds), len(want), ds)
	}
	for i := range ds {
		if ds[i].Len != want[i].Len || ds[i].Options != want[i].Options {
			t.Errorf("descriptor %d: %+v, want len %d options %d", i, ds[i], want[i].Len, want[i].Options)
		}
	}
	if q.packets.Load() != 4 || q.oversize.Load() != 1 {
		t.Errorf("packets %d, oversize %d; want 4, 1", q.packets.Load(), q.oversize.Load())
	}
	// Every frame comes back: from the completion ring, or at once for
	// slots that were not sent.
	if room := q.Room(uint32(len(plan))); room != 64 {
		t.Errorf("Room after completion = %d, want 64", room)
	}
	seen := map[uint64]bool{}
	for i := uint32(0); i < 64; i++ {
		a := q.slots[(uint32(len(plan))+i)&q.mask].addr
		if a < 64*2048 || a >= 128*2048 || a%2048 != 0 || seen[a] {
			t.Fatalf("slot %d: frame %#x (a frame twice, or not a TX frame)", i, a)
		}
		seen[a] = true
	}
}

func TestOutQueueNoSG(t *testing.T) {
	s := fakeSocket(64, 64, false)
	q := newOutQueue(s, 64)
	q.Room(0)
	q.SetSlot(0, 2048, true)
	q.SetSlot(1, 1, false)
	q.SetSlot(2, 60, false)
	q.Publish(3)
	if ds := takeTx(s); len(ds) != 1 || ds[0].Len != 60 {
		t.Errorf("published %+v, want only the 60-byte packet", ds)
	}
	if q.oversize.Load() != 1 {
		t.Errorf("oversize %d, want 1", q.oversize.Load())
	}
}

// TestOutQueueRoom checks that Room never offers more than the TX ring
// has space for, nor more frames than are free.
func TestOutQueueRoom(t *testing.T) {
	s := fakeSocket(64, 64, true)
	q := newOutQueue(s, 64)
	if r := q.Room(0); r != 64 {
		t.Fatalf("Room(0) = %d", r)
	}
	if r := q.Room(10); r != 54 {
		t.Fatalf("Room(10) = %d, want 54", r)
	}
	for i := uint32(0); i < 40; i++ {
		q.SetSlot(i, 60, false)
	}
	q.Publish(40)
	// 40 in the TX ring, not taken: room for 24.
	if r := q.Room(40); r != 24 {
		t.Fatalf("Room(40) with 40 descriptors pending = %d, want 24", r)
	}
	takeTx(s)
	if r := q.Room(40); r != 64 {
		t.Fatalf("Room(40) after completion = %d, want 64", r)
	}
	if r := q.Room(104); r != 0 {
		t.Fatalf("Room(104) = %d, want 0", r)
	}
}

// TestInQueueBadDesc checks that a descriptor outside the RX frames is
// lent empty and never reaches the fill ring.
func TestInQueueBadDesc(t *testing.T) {
	s := fakeSocket(64, 64, true)
	q := &inQueue{s: s}
	s.rx.desc[0] = unix.XDPDesc{Addr: 256, Len: 60}
	s.rx.desc[1] = unix.XDPDesc{Addr: 64*2048 + 256, Len: 60} // a TX frame
	s.rx.desc[2] = unix.XDPDesc{Addr: 2048 + 2000, Len: 100}  // crosses into the next frame
	s.rx.desc[3] = unix.XDPDesc{Addr: 2*2048 + 256, Len: 1000, Options: unix.XDP_PKT_CONTD}
	s.rx.desc[4] = unix.XDPDesc{Addr: 3*2048 + 256, Len: 10}
	s.rx.desc[5] = unix.XDPDesc{Addr: ^uint64(0) - 10, Len: 100}
	s.rx.setProducer(6)
	slots := make([]fabric.Slot, 8)
	n := q.Receive(slots)
	if n != 6 {
		t.Fatalf("Receive = %d, want 6", n)
	}
	if len(slots[0].Buf) != 60 || cap(slots[0].Buf) != 2048-256 {
		t.Errorf("slot 0: len %d cap %d, want 60 and %d", len(slots[0].Buf), cap(slots[0].Buf), 2048-256)
	}
	for _, i := range []int{1, 2, 5} {
		if slots[i].Buf != nil {
			t.Errorf("slot %d: %d bytes, want none", i, len(slots[i].Buf))
		}
	}
	if !slots[3].More || slots[4].More {
		t.Errorf("More: %v %v, want true false", slots[3].More, slots[4].More)
	}
	q.Release(n)
	if got := s.fill.producer(); got != 3 {
		t.Fatalf("fill ring got %d frames, want 3", got)
	}
	for i, want := range []uint64{0, 2 * 2048, 3 * 2048} {
		if s.fill.addr[i] != want {
			t.Errorf("fill %d: %#x, want %#x", i, s.fill.addr[i], want)
		}
	}
	if q.badDescs.Load() != 3 || q.packets.Load() != 5 {
		t.Errorf("bad %d packets %d, want 3 and 5", q.badDescs.Load(), q.packets.Load())
	}
}

// arrivals returns a function that makes n packets of 60 bytes arrive in
// the RX ring of a fakeSocket(256, ...).
func arrivals(s *socket) func(n int) {
	prod := uint32(0)
	return func(n int) {
		for i := 0; i < n; i++ {
			s.rx.desc[prod&s.rx.mask] = unix.XDPDesc{Addr: uint64(prod%256)*2048 + 256, Len: 60}
			prod++
		}
		s.rx.setProducer(prod)
	}
}

// TestCoalesce checks Interrupt mode's coalescing: a poll that finds a few
// packets right after one that found some holds them back once, for Wait
// to pause; a packet after an empty poll, a full slot array and a batch of
// coalesce.Batch are taken at once.
func TestCoalesce(t *testing.T) {
	s := fakeSocket(256, 256, false)
	const pause = 200 * time.Microsecond
	q := &inQueue{s: s, mod: coalesce.New(pause)}
	arrive := arrivals(s)
	slots := make([]fabric.Slot, 64)
	take := func(want int, why string) {
		t.Helper()
		if n := q.Receive(slots); n != want {
			t.Fatalf("%s: Receive = %d, want %d", why, n, want)
		} else if n > 0 {
			q.Release(n)
		}
	}
	if q.Receive(slots) != 0 {
		t.Fatal("Receive on an empty ring")
	}
	arrive(1)
	take(1, "a packet after an empty poll")
	arrive(2)
	take(0, "two packets in a stream")
	start := time.Now()
	if err := q.Wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < pause {
		t.Errorf("Wait paused %v, want %v or more", d, pause)
	}
	arrive(1)
	take(3, "after the pause")
	arrive(3)
	take(0, "three more in the stream")
	take(3, "held back once only")
	arrive(coalesce.Batch)
	take(coalesce.Batch, "a full batch")
	arrive(80)
	take(64, "a full slot array")
	take(0, "the rest, a small batch in the stream")
	take(16, "the rest, after the pause")
	take(0, "empty")
	arrive(2)
	take(2, "packets after an empty poll")

	q.mod = coalesce.New(time.Microsecond)
	if a := testing.AllocsPerRun(100, func() {
		arrive(2)
		n := q.Receive(slots)
		if n == 0 {
			q.Wait()
			n = q.Receive(slots)
		}
		q.Release(n)
	}); a != 0 {
		t.Errorf("%.1f allocations per pause, want 0", a)
	}
}

// TestCoalesceAdaptive: an Adaptive-mode queue pauses for a small batch of
// a stream, as an Interrupt-mode one does, rather than poll again, and polls
// (returns from Wait at once) while its last packet is recent.
func TestCoalesceAdaptive(t *testing.T) {
	s := fakeSocket(256, 256, false)
	const pause = 200 * time.Microsecond
	var g busypoll.Group
	q := &inQueue{s: s, mod: coalesce.New(pause)}
	q.bp = g.Join(func() bool { return false }, func() {}, time.Minute)
	defer q.bp.Leave()
	arrive := arrivals(s)
	slots := make([]fabric.Slot, 64)
	arrive(1)
	if n := q.Receive(slots); n != 1 {
		t.Fatalf("a packet after an empty poll: %d", n)
	}
	q.Release(1)
	arrive(2)
	if n := q.Receive(slots); n != 0 {
		t.Fatalf("two packets in a stream: %d, want them held", n)
	}
	start := time.Now()
	if err := q.Wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < pause {
		t.Errorf("Wait returned after %v, want a pause of %v", d, pause)
	}
	if n := q.Receive(slots); n != 2 {
		t.Fatalf("after the pause: %d", n)
	}
	q.Release(2)
	if n := q.Receive(slots); n != 0 {
		t.Fatalf("empty ring: %d", n)
	}
	// The last packet is recent: Wait polls (it would sleep in the
	// netpoller otherwise, which this queue has none of: a panic).
	if err := q.Wait(); err != nil {
		t.Fatal(err)
	}
}
