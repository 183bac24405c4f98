package fabric_test

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/port/pipe"
)

// checkNoLeak fails the test if goroutines started during it are still
// running when it ends.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// sendAll sends frames through queue 0 of end, retrying while the ring is
// full, for at most d.
func sendAll(t testing.TB, end *pipe.End, frames [][]byte, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(frames) > 0 {
		n, err := end.Send(0, frames)
		if err != nil {
			t.Error(err)
			return
		}
		frames = frames[n:]
		if n == 0 {
			if time.Now().After(deadline) {
				t.Errorf("send: ring still full after %v", d)
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// receiveLoop drains queue 0 of end until stop is closed and nothing is
// left, calling fn for each frame.
func receiveLoop(end *pipe.End, stop <-chan struct{}, fn func([]byte)) {
	bufs := make([][]byte, 256)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, len(bufs))
	for {
		n, err := end.Receive(0, bufs, sizes)
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			fn(bufs[i][:sizes[i]])
		}
		if n == 0 {
			select {
			case <-stop:
				if n, _ := end.Receive(0, bufs, sizes); n == 0 {
					return
				}
			default:
				end.Wait(0, 10*time.Millisecond)
			}
		}
	}
}

// TestManySendersOneDestination has several ports, each drained by its own
// fabric goroutine, send into one destination. Per source, frames arrive in
// order and at most once; received + queue-full drops = sent.
func TestManySendersOneDestination(t *testing.T) {
	checkNoLeak(t)
	const senders, perSender = 4, 20000
	sw, _ := fabric.New("incast", fabric.Options{Batch: 64, Logic: codedLogic})
	defer sw.Close()
	dst := attachPipe(t, sw, pipe.Options{Slots: 512}, fabric.PortConfig{})
	var srcs []*testPort
	for i := 0; i < senders; i++ {
		srcs = append(srcs, attachPipe(t, sw, pipe.Options{Slots: 256, BusyPoll: i == 1}, fabric.PortConfig{}))
	}
	last := make([]int64, 256)
	for i := range last {
		last[i] = -1
	}
	var received int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		receiveLoop(dst.end, stop, func(f []byte) {
			src, seq := f[4], int64(binary.BigEndian.Uint32(f))
			if seq <= last[src] {
				t.Errorf("source %d: seq %d after %d", src, seq, last[src])
			}
			last[src] = seq
			received++
		})
	}()
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(1)
		go func(s *testPort) {
			defer wg.Done()
			for seq := 0; seq < perSender; seq += 100 {
				var frames [][]byte
				for k := 0; k < 100; k++ {
					frames = append(frames, makeFrame(uint32(seq+k), s.id, uint16(dst.id), nil, 60+k%3*400))
				}
				sendAll(t, s.end, frames, 10*time.Second)
			}
		}(s)
	}
	wg.Wait()
	waitStats(t, sw, func(st []fabric.PortStats) bool {
		var rx uint64
		for _, s := range st {
			rx += s.RxPackets
		}
		return rx == senders*perSender
	})
	close(stop)
	<-done
	st, _ := sw.PortStats(dst.id)
	if uint64(received)+st.Drops[fabric.DropQueueFull] != senders*perSender || uint64(received) != st.TxPackets {
		t.Fatalf("received %d, queue-full %d, tx %d; sent %d", received, st.Drops[fabric.DropQueueFull], st.TxPackets, senders*perSender)
	}
	t.Logf("received %d of %d, %d queue-full drops", received, senders*perSender, st.Drops[fabric.DropQueueFull])
}

// waitStats polls the switch's counters until ok holds (10 s at most).
func waitStats(t *testing.T, sw *fabric.Switch, ok func([]fabric.PortStats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(sw.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("counters never settled: %+v", sw.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// guarded wraps a backend and flags any use of its output queues after the
// test marked it detached.
type guarded struct {
	*pipe.Pipe
	detached   atomic.Bool
	violations atomic.Int64
}

type guardedQueue struct {
	fabric.OutQueue
	g *guarded
}

func (g *guarded) OutQueues() []fabric.OutQueue {
	var qs []fabric.OutQueue
	for _, q := range g.Pipe.OutQueues() {
		qs = append(qs, guardedQueue{q, g})
	}
	return qs
}

func (q guardedQueue) check() {
	if q.g.detached.Load() {
		q.g.violations.Add(1)
	}
}
func (q guardedQueue) Room(from uint32) uint32            { q.check(); return q.OutQueue.Room(from) }
func (q guardedQueue) Buffer(i uint32) []byte             { q.check(); return q.OutQueue.Buffer(i) }
func (q guardedQueue) SetSlot(i uint32, n int, more bool) { q.check(); q.OutQueue.SetSlot(i, n, more) }
func (q guardedQueue) Publish(tail uint32)                { q.check(); q.OutQueue.Publish(tail) }

// TestAttachDetachDuringTraffic floods from two senders while ports are
// attached and detached; nothing touches a port after Detach returns, and
// no goroutine is left behind.
func TestAttachDetachDuringTraffic(t *testing.T) {
	checkNoLeak(t)
	attachDetachDuringTraffic(t, nil)
}

// TestAttachDetachDuringTrafficPolled does the same with the busy-polled
// ports on the threads of a poll group.
func TestAttachDetachDuringTrafficPolled(t *testing.T) {
	checkNoLeak(t)
	g, err := fabric.NewPollGroup(fabric.PollGroupOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	attachDetachDuringTraffic(t, g)
}

func attachDetachDuringTraffic(t *testing.T, polls *fabric.PollGroup) {
	sw, _ := fabric.New("churn", fabric.Options{Batch: 32, Logic: codedLogic, Polls: polls})
	var srcs []*testPort
	for i := 0; i < 2; i++ {
		srcs = append(srcs, attachPipe(t, sw, pipe.Options{Slots: 256, BusyPoll: i == 1}, fabric.PortConfig{}))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(1)
		go func(s *testPort) {
			defer wg.Done()
			frames := [][]byte{makeFrame(0, s.id, codeFlood, nil, 60), makeFrame(1, s.id, codeFlood, nil, 3000)}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n, _ := s.end.Send(0, frames); n == 0 {
					runtime.Gosched()
				}
			}
		}(s)
	}
	var all []*guarded
	var delivered uint64
	live := map[logic.PortID]*guarded{}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		if len(live) < 3 || rng.Intn(2) == 0 {
			p, _ := pipe.New(pipe.Options{Slots: 64, DrainForFree: true, BusyPoll: i%2 == 0})
			g := &guarded{Pipe: p}
			id, err := sw.Attach(g, fabric.PortConfig{Name: fmt.Sprintf("r%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			live[id] = g
			all = append(all, g)
			continue
		}
		for id, g := range live {
			st, _ := sw.PortStats(id)
			delivered += st.TxPackets
			if err := sw.Detach(id); err != nil {
				t.Fatal(err)
			}
			g.detached.Store(true)
			delete(live, id)
			break
		}
	}
	close(stop)
	wg.Wait()
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, g := range all {
		if v := g.violations.Load(); v != 0 {
			t.Fatalf("%d output-queue calls after Detach returned", v)
		}
	}
	if delivered == 0 {
		t.Fatal("no traffic reached the churned ports")
	}
	t.Logf("%d packets delivered to %d churned ports", delivered, len(all))
}

// fixedLogic sends everything to one port and checks it is never used after
// the fabric closed it.
type fixedLogic struct {
	to     logic.Dst
	closed atomic.Bool
	late   *atomic.Int64
}

func (l *fixedLogic) Lookup(pkts []logic.Packet, in logic.PortID) {
	if l.closed.Load() {
		l.late.Add(1)
	}
	for i := range pkts {
		pkts[i].Dst = l.to
	}
}

func (l *fixedLogic) Close() error { l.closed.Store(true); return nil }

// TestSetLogicDuringTraffic swaps between two logics, one sending to port X
// and one to port Y, while a sender forwards: every frame arrives exactly
// once, at X or Y, and a replaced logic is closed and never called again.
func TestSetLogicDuringTraffic(t *testing.T) {
	checkNoLeak(t)
	const total = 100000
	var late atomic.Int64
	sw, _ := fabric.New("swap", fabric.Options{Batch: 64, Logic: &fixedLogic{to: logic.Drop, late: &late}})
	src := attachPipe(t, sw, pipe.Options{Slots: 1024}, fabric.PortConfig{Inline: true})
	x := attachPipe(t, sw, pipe.Options{Slots: 1 << 16}, fabric.PortConfig{})
	y := attachPipe(t, sw, pipe.Options{Slots: 1 << 16}, fabric.PortConfig{})
	if err := sw.SetLogic(&fixedLogic{to: logic.To(x.id), late: &late}); err != nil {
		t.Fatal(err)
	}
	seen := make([]uint8, total)
	var mu sync.Mutex
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for _, p := range []*testPort{x, y} {
		rwg.Add(1)
		go func(p *testPort) {
			defer rwg.Done()
			receiveLoop(p.end, stop, func(f []byte) {
				mu.Lock()
				seen[binary.BigEndian.Uint32(f)]++
				mu.Unlock()
			})
		}(p)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for seq := 0; seq < total; {
			var frames [][]byte
			for k := 0; k < 64 && seq+k < total; k++ {
				frames = append(frames, makeFrame(uint32(seq+k), src.id, 0, nil, 60))
			}
			n, _ := src.end.Send(0, frames)
			seq += n
			for {
				if m, _ := sw.Forward(src.id, 0); m == 0 {
					break
				}
			}
		}
	}()
	swaps := 0
	for done := false; !done; swaps++ {
		select {
		case <-sent:
			done = true
		default:
		}
		to := x.id
		if swaps%2 == 0 {
			to = y.id
		}
		if err := sw.SetLogic(&fixedLogic{to: logic.To(to), late: &late}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	rwg.Wait()
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("frame %d arrived %d times", seq, n)
		}
	}
	if late.Load() != 0 {
		t.Fatalf("%d lookups by a logic after it was closed", late.Load())
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames, %d logic swaps, none lost or duplicated", total, swaps)
}

// Test4096Ports attaches 4,096 ports, floods through all of them, replaces
// some, floods again, and tears everything down.
func Test4096Ports(t *testing.T) {
	checkNoLeak(t)
	const n = 4096
	sw, _ := fabric.New("dense", fabric.Options{Logic: codedLogic})
	opts := pipe.Options{Slots: 4, BufSize: 1024}
	ports := make([]*testPort, 0, n)
	for i := 0; i < n; i++ {
		p, err := pipe.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		id, err := sw.Attach(p, fabric.PortConfig{Inline: i == 0})
		if err != nil {
			t.Fatalf("attach port %d: %v", i, err)
		}
		ports = append(ports, &testPort{id: id, p: p, end: p.End()})
	}
	extra, _ := pipe.New(opts)
	if _, err := sw.Attach(extra, fabric.PortConfig{}); err == nil {
		t.Fatal("attached a port beyond MaxPorts")
	}
	flood := func(seq uint32) {
		t.Helper()
		src := ports[0]
		src.end.Send(0, [][]byte{makeFrame(seq, src.id, codeFlood, nil, 60)})
		if k, err := sw.Forward(src.id, 0); k != 1 || err != nil {
			t.Fatalf("forward: %d, %v", k, err)
		}
		buf := [][]byte{make([]byte, 2048)}
		size := []int{0}
		for _, p := range ports[1:] {
			k, _ := p.end.Receive(0, buf, size)
			if k != 1 || binary.BigEndian.Uint32(buf[0]) != seq {
				t.Fatalf("port %d: received %d frames (seq %d), want seq %d", p.id, k, binary.BigEndian.Uint32(buf[0]), seq)
			}
		}
	}
	flood(1)
	// Replace every 7th port: the new ones take the lowest free IDs.
	for i := 7; i < n; i += 7 {
		if err := sw.Detach(ports[i].id); err != nil {
			t.Fatal(err)
		}
	}
	for i := 7; i < n; i += 7 {
		p, _ := pipe.New(opts)
		id, err := sw.Attach(p, fabric.PortConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if id != ports[i].id {
			t.Fatalf("new port got ID %d, want the lowest free %d", id, ports[i].id)
		}
		ports[i] = &testPort{id: id, p: p, end: p.End()}
	}
	flood(2)
	if sw.NumPorts() != n {
		t.Fatalf("%d ports, want %d", sw.NumPorts(), n)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
}

// staticSet always returns the same set: the immutable-table case.
type staticSet []logic.PortID

func (s staticSet) Lookup(pkts []logic.Packet, in logic.PortID) {
	for i := range pkts {
		pkts[i].Dst, pkts[i].Set = logic.ToSet, s
	}
}

// TestForwardZeroAllocs: the forwarding path allocates nothing per batch,
// whatever the destination kind or packet size.
func TestForwardZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	cases := []struct {
		name string
		l    logic.Logic
		size int
	}{
		{"unicast", logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return 1 }), 60},
		{"flood", logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Flood }), 60},
		{"set", staticSet{1, 2}, 60},
		{"chain", logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return 1 }), 9000},
		{"drop", logic.Func(func(*logic.Packet, logic.PortID) logic.Dst { return logic.Drop }), 60},
	}
	for _, alg := range []fabric.Algorithm{fabric.AlgorithmMSwitch, fabric.AlgorithmVALE} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/alg=%d", c.name, alg), func(t *testing.T) {
				sw, _ := fabric.New("allocs", fabric.Options{Logic: c.l, Algorithm: alg})
				defer sw.Close()
				src := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Inline: true})
				attachPipe(t, sw, pipe.Options{DrainForFree: true}, fabric.PortConfig{})
				attachPipe(t, sw, pipe.Options{DrainForFree: true}, fabric.PortConfig{})
				src.end.Prefill(0, make([]byte, c.size))
				step := func() {
					src.end.Replay(0, 100)
					sw.Forward(src.id, 0)
				}
				step() // the first batch allocates the scratch area
				if a := testing.AllocsPerRun(200, step); a != 0 {
					t.Fatalf("%v allocations per batch", a)
				}
			})
		}
	}
}
