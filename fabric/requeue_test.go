package fabric_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/port/pipe"
)

// relinking is a backend whose output side moves from pipe to pipe, as a
// memif port's does when its client reconnects.
type relinking struct {
	*pipe.Pipe // input side and Close
	mu         sync.Mutex
	cur        *guarded
	requeue    func() error
}

func (r *relinking) SetRequeue(f func() error) { r.requeue = f }

func (r *relinking) OutQueues() []fabric.OutQueue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.OutQueues()
}

// relink moves the output side to a new pipe and retires the old one.
func (r *relinking) relink(t *testing.T) {
	next, _ := pipe.New(pipe.Options{Slots: 64, DrainForFree: true})
	r.mu.Lock()
	old := r.cur
	r.cur = &guarded{Pipe: next}
	r.mu.Unlock()
	if err := r.requeue(); err != nil {
		t.Fatal(err)
	}
	old.detached.Store(true) // from now on, any use of the old queues is a bug
}

// TestRequeueDuringTraffic replaces a port's output queues again and again
// while two senders forward to it: after requeue returns the old queues are
// never touched, and the port's counters survive the replacements.
func TestRequeueDuringTraffic(t *testing.T) {
	checkNoLeak(t)
	sw, _ := fabric.New("requeue", fabric.Options{Batch: 32, Logic: codedLogic})
	in, _ := pipe.New(pipe.Options{})
	first, _ := pipe.New(pipe.Options{Slots: 64, DrainForFree: true})
	r := &relinking{Pipe: in, cur: &guarded{Pipe: first}}
	var retired []*guarded
	id, err := sw.Attach(r, fabric.PortConfig{Name: "relinking"})
	if err != nil {
		t.Fatal(err)
	}
	var srcs []*testPort
	for i := 0; i < 2; i++ {
		srcs = append(srcs, attachPipe(t, sw, pipe.Options{Slots: 256}, fabric.PortConfig{}))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Uint64
	for _, s := range srcs {
		wg.Add(1)
		go func(s *testPort) {
			defer wg.Done()
			frames := [][]byte{makeFrame(0, s.id, uint16(id), nil, 60), makeFrame(1, s.id, uint16(id), nil, 5000)}
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, _ := s.end.Send(0, frames)
				sent.Add(uint64(n))
			}
		}(s)
	}
	for i := 0; i < 200; i++ {
		retired = append(retired, r.cur)
		r.relink(t)
	}
	close(stop)
	wg.Wait()
	waitStats(t, sw, func(st []fabric.PortStats) bool {
		var rx uint64
		for _, s := range st {
			rx += s.RxPackets
		}
		return rx == sent.Load()
	})
	st, _ := sw.PortStats(id)
	if st.TxPackets+st.Drops[fabric.DropQueueFull] != sent.Load() {
		t.Fatalf("port counted %d sent + %d queue-full, want %d in all", st.TxPackets, st.Drops[fabric.DropQueueFull], sent.Load())
	}
	for _, g := range retired {
		if v := g.violations.Load(); v != 0 {
			t.Fatalf("%d calls on output queues after requeue retired them", v)
		}
	}
	if err := sw.Detach(id); err != nil {
		t.Fatal(err)
	}
	if err := r.requeue(); !errors.Is(err, fabric.ErrNoPort) {
		t.Fatalf("requeue after detach: %v", err)
	}
	sw.Close()
	t.Logf("%d packets, %d delivered, across %d output queue sets", sent.Load(), st.TxPackets, len(retired)+1)
}

// tapRecorder collects what a Tap sees.
type tapRecorder struct {
	mu   sync.Mutex
	seen map[fabric.Direction][]int // sizes
}

func (r *tapRecorder) Packet(dir fabric.Direction, _ logic.PortID, first []byte, rest []fabric.Slot) {
	n := len(first)
	for _, s := range rest {
		n += len(s.Buf)
	}
	r.mu.Lock()
	r.seen[dir] = append(r.seen[dir], n)
	r.mu.Unlock()
}

// TestTap: a tap sees packets in and out of its port, chains whole, and
// nothing once removed.
func TestTap(t *testing.T) {
	sw, _ := fabric.New("tap", fabric.Options{Logic: codedLogic})
	defer sw.Close()
	a := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Inline: true})
	b := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Inline: true})
	rec := &tapRecorder{seen: map[fabric.Direction][]int{}}
	if err := sw.SetTap(b.id, rec); err != nil {
		t.Fatal(err)
	}
	a.end.Send(0, [][]byte{makeFrame(1, a.id, uint16(b.id), nil, 60), makeFrame(2, a.id, uint16(b.id), nil, 9000)})
	sw.Forward(a.id, 0)
	b.end.Send(0, [][]byte{makeFrame(3, b.id, uint16(a.id), nil, 100)})
	sw.Forward(b.id, 0)
	if got := rec.seen[fabric.Out]; len(got) != 2 || got[0] != 60 || got[1] != 9000 {
		t.Fatalf("out: %v", got)
	}
	if got := rec.seen[fabric.In]; len(got) != 1 || got[0] != 100 {
		t.Fatalf("in: %v", got)
	}
	sw.SetTap(b.id, nil)
	a.end.Send(0, [][]byte{makeFrame(4, a.id, uint16(b.id), nil, 60)})
	sw.Forward(a.id, 0)
	if len(rec.seen[fabric.Out]) != 2 {
		t.Fatal("a removed tap still sees packets")
	}
}
