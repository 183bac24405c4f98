package fabric_test

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/port/pipe"
)

// TestPollGroup runs two switches' busy-polled ports on one poll thread:
// every frame arrives, the thread lists exactly the polled queues, a
// detached port leaves it, and the group stops once the switches are
// closed.
func TestPollGroup(t *testing.T) {
	checkNoLeak(t)
	g, err := fabric.NewPollGroup(fabric.PollGroupOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	type pair struct {
		sw       *fabric.Switch
		src, dst *testPort
	}
	var pairs []pair
	for _, name := range []string{"a", "b"} {
		sw, err := fabric.New(name, fabric.Options{Batch: 64, Logic: codedLogic, Polls: g})
		if err != nil {
			t.Fatal(err)
		}
		src := attachPipe(t, sw, pipe.Options{BusyPoll: true}, fabric.PortConfig{Name: "src"})
		dst := attachPipe(t, sw, pipe.Options{Slots: 4096}, fabric.PortConfig{Name: "dst"})
		pairs = append(pairs, pair{sw, src, dst})
	}
	st := g.Stats()
	if len(st) != 1 || !slices.Equal(st[0].Queues, []string{"a/src/0", "b/src/0"}) {
		t.Fatalf("poll threads: %+v, want one serving a/src/0 and b/src/0", st)
	}

	const n = 3000
	for _, p := range pairs {
		var frames [][]byte
		for i := 0; i < n; i++ {
			frames = append(frames, makeFrame(uint32(i), p.src.id, uint16(p.dst.id), nil, 60+i%1400))
		}
		sendAll(t, p.src.end, frames, 10*time.Second)
	}
	for _, p := range pairs {
		got := 0
		for deadline := time.Now().Add(10 * time.Second); got < n && time.Now().Before(deadline); {
			k := len(p.dst.drain(t))
			if k == 0 {
				time.Sleep(time.Millisecond)
			}
			got += k
		}
		if got != n {
			t.Fatalf("switch %s: %d of %d frames arrived", p.sw.Name(), got, n)
		}
	}
	st = g.Stats()
	if st[0].Packets != 2*n {
		t.Errorf("poll thread forwarded %d packets, want %d", st[0].Packets, 2*n)
	}

	if err := pairs[0].sw.Detach(pairs[0].src.id); err != nil {
		t.Fatal(err)
	}
	if q := g.Stats()[0].Queues; !slices.Equal(q, []string{"b/src/0"}) {
		t.Fatalf("after detaching a/src: thread serves %v", q)
	}
	for _, p := range pairs {
		if err := p.sw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if q := g.Stats()[0].Queues; len(q) != 0 {
		t.Fatalf("after closing the switches: thread serves %v", q)
	}
	g.Close()
}

// TestPollGroupSpreads gives queues to the thread with the fewest.
func TestPollGroupSpreads(t *testing.T) {
	checkNoLeak(t)
	g, err := fabric.NewPollGroup(fabric.PollGroupOptions{Threads: 2, NoSleep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sw, _ := fabric.New("s", fabric.Options{Polls: g})
	defer sw.Close()
	attachPipe(t, sw, pipe.Options{BusyPoll: true, Queues: 3}, fabric.PortConfig{Name: "p"})
	attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Name: "interrupt"})
	st := g.Stats()
	if !slices.Equal(st[0].Queues, []string{"s/p/0", "s/p/2"}) || !slices.Equal(st[1].Queues, []string{"s/p/1"}) {
		t.Fatalf("poll threads: %+v", st)
	}
}

// TestPollGroupPins pins its thread to a CPU and says so.
func TestPollGroupPins(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	want := 0
	for !set.IsSet(want) {
		want++
	}
	g, err := fabric.NewPollGroup(fabric.PollGroupOptions{CPUs: []int{want}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if cpu := g.Stats()[0].CPU; cpu != want {
		t.Fatalf("thread on CPU %d, want %d", cpu, want)
	}
	if _, err := fabric.NewPollGroup(fabric.PollGroupOptions{CPUs: []int{4096}}); err == nil {
		t.Fatal("CPU 4096 accepted")
	}
}

// TestPollGroupRaisesProcs raises GOMAXPROCS when the first polled queue
// comes, not before.
func TestPollGroupRaisesProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var from, to int
	g, err := fabric.NewPollGroup(fabric.PollGroupOptions{RaiseProcs: true, Raised: func(f, t int) { from, to = f, t }})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sw, _ := fabric.New("s", fabric.Options{Polls: g})
	defer sw.Close()
	attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Name: "interrupt"})
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS %d with no polled queue", n)
	}
	attachPipe(t, sw, pipe.Options{BusyPoll: true}, fabric.PortConfig{Name: "polled"})
	if n := runtime.GOMAXPROCS(0); n != 2 || from != 1 || to != 2 {
		t.Fatalf("GOMAXPROCS %d (raised from %d to %d), want 2", n, from, to)
	}
}

// TestPollThreadStaysAwake checks that a poll thread that has forwarded a
// packet sleeps again only after fabric.AwakeFor without packets: traffic
// with short gaps (a ping every few ms) never waits for the end of a sleep.
func TestPollThreadStaysAwake(t *testing.T) {
	checkNoLeak(t)
	g, err := fabric.NewPollGroup(fabric.PollGroupOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sw, err := fabric.New("s", fabric.Options{Logic: codedLogic, Polls: g})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	src := attachPipe(t, sw, pipe.Options{BusyPoll: true}, fabric.PortConfig{Name: "src"})
	dst := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Name: "dst"})

	before := time.Now() // the pass that forwards the frame comes after
	sendAll(t, src.end, [][]byte{makeFrame(1, src.id, uint16(dst.id), nil, 60)}, 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); len(dst.drain(t)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the frame did not arrive")
		}
		time.Sleep(100 * time.Microsecond)
	}
	sleeps := g.Stats()[0].Sleeps // read after the busy pass
	for deadline := time.Now().Add(20 * time.Second); ; {
		s := g.Stats()[0].Sleeps
		if s != sleeps {
			// The thread slept after its busy pass, which came after
			// before: at least AwakeFor ago.
			if d := time.Since(before); d < fabric.AwakeFor {
				t.Fatalf("the poll thread slept %v after it forwarded a frame, want %v or more", d, fabric.AwakeFor)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the idle poll thread did not sleep in 20 s (%d passes)", g.Stats()[0].Passes)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
