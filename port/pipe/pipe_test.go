package pipe

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
)

func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i)
	}
	return f
}

// TestSendReceiveSwitchSide checks the "to switch" ring as the fabric sees
// it: chains, lending, partial release, ring full.
func TestSendReceiveSwitchSide(t *testing.T) {
	p, err := New(Options{Slots: 8, BufSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	in := p.InQueues()[0]
	end := p.End()
	a, b, c := frame(60, 1), frame(2500, 2), frame(100, 3) // b takes 3 slots
	if n, err := end.Send(0, [][]byte{a, b, c}); n != 3 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
	slots := make([]fabric.Slot, 16)
	n := in.Receive(slots)
	if n != 5 {
		t.Fatalf("lent %d slots, want 5", n)
	}
	wantMore := []bool{false, true, true, false, false}
	for i, s := range slots[:n] {
		if s.More != wantMore[i] || cap(s.Buf) < 1024 {
			t.Fatalf("slot %d: more=%v cap=%d", i, s.More, cap(s.Buf))
		}
	}
	got := append(append(append([]byte(nil), slots[1].Buf...), slots[2].Buf...), slots[3].Buf...)
	if !bytes.Equal(slots[0].Buf, a) || !bytes.Equal(got, b) || !bytes.Equal(slots[4].Buf, c) {
		t.Fatal("lent bytes differ from the frames sent")
	}
	// Only 3 slots are free: a 4-slot frame does not fit, a 1-slot one does.
	if n, _ := end.Send(0, [][]byte{frame(3500, 4)}); n != 0 {
		t.Fatal("sent a frame into a full ring")
	}
	in.Release(1) // a is done; b and c are lent again
	if n := in.Receive(slots); n != 4 || !bytes.Equal(slots[3].Buf, c) {
		t.Fatalf("after partial release: %d slots", n)
	}
	in.Release(4)
	if n := in.Receive(slots); n != 0 {
		t.Fatalf("%d slots after releasing everything", n)
	}
}

// TestSwitchToEnd fills the "from switch" ring as the fabric does and reads
// it back with End.Receive, chains reassembled.
func TestSwitchToEnd(t *testing.T) {
	p, _ := New(Options{Slots: 4, BufSize: 1024})
	out := p.OutQueues()[0]
	if out.Room(0) != 4 || out.BufSize() != 1024 {
		t.Fatalf("room %d bufsize %d", out.Room(0), out.BufSize())
	}
	big := frame(1500, 9)
	copy(out.Buffer(0), big[:1024])
	out.SetSlot(0, 1024, true)
	copy(out.Buffer(1), big[1024:])
	out.SetSlot(1, 476, false)
	copy(out.Buffer(2), "hello")
	out.SetSlot(2, 5, false)
	out.Publish(3)
	out.Notify()
	if out.Room(3) != 1 {
		t.Fatalf("room %d before the reader consumed anything, want 1", out.Room(3))
	}
	bufs := [][]byte{make([]byte, 2000), make([]byte, 3)}
	sizes := make([]int, 2)
	n, err := p.End().Receive(0, bufs, sizes)
	if n != 2 || err != nil || sizes[0] != 1500 || sizes[1] != 5 {
		t.Fatalf("receive: %d %v sizes %v", n, err, sizes)
	}
	if !bytes.Equal(bufs[0][:1500], big) || string(bufs[1]) != "hel" {
		t.Fatal("received bytes differ (a short buffer truncates, sizes has the length)")
	}
	if out.Room(3) != 4 {
		t.Fatalf("room %d after the reader consumed everything, want 4", out.Room(3))
	}
}

// TestWaitAndInterrupt: the fabric side sleeps until a Send or an Interrupt.
func TestWaitAndInterrupt(t *testing.T) {
	p, _ := New(Options{})
	in := p.InQueues()[0]
	woke := make(chan error)
	go func() { woke <- in.Wait() }()
	select {
	case <-woke:
		t.Fatal("Wait returned on an empty queue")
	case <-time.After(20 * time.Millisecond):
	}
	p.End().Send(0, [][]byte{frame(60, 0)})
	if err := <-woke; err != nil {
		t.Fatalf("Wait after Send: %v", err)
	}
	in.Release(in.Receive(make([]fabric.Slot, 4)))
	go func() { woke <- in.Wait() }()
	time.Sleep(10 * time.Millisecond)
	in.Interrupt()
	if err := <-woke; !errors.Is(err, fabric.ErrInterrupted) {
		t.Fatalf("Wait after Interrupt: %v", err)
	}
	if err := in.Wait(); !errors.Is(err, fabric.ErrInterrupted) {
		t.Fatalf("Interrupt is not sticky: %v", err)
	}
}

// TestEndWaitAndClose: the application side waits for deliveries and sees
// the pipe close.
func TestEndWaitAndClose(t *testing.T) {
	p, _ := New(Options{})
	end := p.End()
	if ok, err := end.Wait(0, 10*time.Millisecond); ok || err != nil {
		t.Fatalf("Wait on an empty pipe: %v %v", ok, err)
	}
	out := p.OutQueues()[0]
	go func() {
		time.Sleep(10 * time.Millisecond)
		out.SetSlot(0, 60, false)
		out.Publish(1)
		out.Notify()
	}()
	if ok, err := end.Wait(0, 5*time.Second); !ok || err != nil {
		t.Fatalf("Wait for a delivery: %v %v", ok, err)
	}
	go func() { time.Sleep(10 * time.Millisecond); p.Close() }()
	end.Receive(0, [][]byte{make([]byte, 64)}, []int{0})
	if _, err := end.Wait(0, 5*time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Wait on a closed pipe: %v", err)
	}
	if _, err := end.Send(0, [][]byte{frame(60, 0)}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send on a closed pipe: %v", err)
	}
	if _, err := end.Send(3, nil); err == nil {
		t.Fatal("Send to a queue that does not exist")
	}
}

// TestReplay: replayed packets point at the template, chained when large,
// and cost no copy.
func TestReplay(t *testing.T) {
	p, _ := New(Options{Slots: 16, BufSize: 1024})
	end := p.End()
	if _, err := end.Replay(0, 1); err == nil {
		t.Fatal("Replay before Prefill")
	}
	f := frame(2100, 5) // 3 slots
	end.Prefill(0, f)
	if n, _ := end.Replay(0, 10); n != 5 {
		t.Fatalf("replayed %d, want 5 (16 slots / 3)", n)
	}
	slots := make([]fabric.Slot, 16)
	in := p.InQueues()[0]
	if n := in.Receive(slots); n != 15 {
		t.Fatalf("lent %d slots", n)
	}
	if &slots[0].Buf[0] != &slots[3].Buf[0] || !slots[0].More || slots[2].More {
		t.Fatal("replayed packets do not share the template")
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{Slots: 3}, {Slots: 1 << 17}, {BufSize: 100}, {Queues: 65}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	p, err := New(Options{Queues: 3})
	if err != nil || len(p.InQueues()) != 3 || len(p.OutQueues()) != 3 || p.End().Queues() != 3 {
		t.Fatalf("3 queues: %v", err)
	}
}
