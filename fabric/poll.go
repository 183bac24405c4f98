package fabric

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mswitch/mswitch/internal/spin"
)

// A PolledQueue is an InQueue that can be busy-polled: a memif ring, an
// AF_XDP or AF_PACKET socket, a TAP device in poll mode. When its switch has
// a PollGroup and Polled reports true, a poll thread of the group drains the
// queue together with every other queue given to that thread, and never
// calls Wait; otherwise the queue gets a goroutine of its own, as any
// InQueue.
type PolledQueue interface {
	InQueue

	// Polled reports whether the queue is in poll mode. The fabric asks
	// once, when the port is attached; the answer must not change while the
	// port is attached.
	Polled() bool

	// Idle is called by the poll thread in place of Wait, after a pass over
	// all its queues found nothing to forward: the housekeeping a poll-mode
	// Wait does (kicking a stalled transmit ring). It must not block, and it
	// is called under the same rules as Receive.
	Idle()
}

// A LinkQueue is a PolledQueue whose peer may be absent: a memif port with
// no client. While every queue of a poll thread is down the thread sleeps in
// steps of downSleep instead of polling them.
type LinkQueue interface {
	PolledQueue
	// Down reports whether nothing can arrive on the queue now. It is
	// called under the same rules as Receive.
	Down() bool
}

// awakeFor is how long a poll thread follows empty passes with sched_yield
// before it starts to sleep (a time, not a count of passes: a yield takes
// half a microsecond on a quiet machine and milliseconds on a loaded one).
// A thread that sleeps takes a packet only when its sleep ends,
// 20 µs plus the timer slack (70 µs) later, on a CPU that may have halted
// meanwhile; so traffic with gaps shorter than this (a ping every 2 or 10
// ms, a request and its reply) is forwarded as by a thread that never
// sleeps. Ports with no traffic at all still cost nothing once it is past.
const awakeFor = 16 * time.Millisecond

// downSleep is how long a poll thread whose queues are all down sleeps
// before it looks again: the most a new peer waits for its first packet
// to be taken.
const downSleep = 25 * time.Millisecond

// PollGroupOptions configures a PollGroup.
type PollGroupOptions struct {
	// Threads is the number of poll threads; 0 means 1.
	Threads int
	// CPUs, if set, pins poll thread i to CPU CPUs[i%len(CPUs)].
	CPUs []int
	// NoSleep keeps an idle poll thread on its CPU for ever, as a DPDK
	// poll-mode driver does (it still lets other threads of the CPU run).
	// By default a thread whose queues have all been empty for 16 ms
	// (awakeFor) sleeps in steps of tens of microseconds until a
	// packet comes.
	NoSleep bool
	// RaiseProcs makes the group raise GOMAXPROCS to MinProcs(Threads)
	// when it is given its first queue, and then call Raised, if set, with
	// the old and the new value. A program that only has interrupt-mode
	// queues keeps its GOMAXPROCS.
	RaiseProcs bool
	Raised     func(from, to int)
}

// A PollGroup is a set of poll threads, Open vSwitch's PMD threads: each is
// an OS thread of its own (runtime.LockOSThread) that drains, in turn, every
// polled input queue the group gave it, from any number of switches. One
// thread serving many rings keeps a core busy forwarding instead of handing
// it between per-queue goroutines, which matters most with one processor
// (GOMAXPROCS=1): there, every idle per-queue poller stood in the way of the
// busy one.
//
// A poll thread holds a Go processor (a P) while it polls: a program needs
// GOMAXPROCS of at least the number of threads plus one, or its other
// goroutines (the control path, the sockets they wait on) run only when the
// threads sleep or are preempted. MinProcs says how many, and
// PollGroupOptions.RaiseProcs sees to it.
//
// Queues are given to the thread that has the fewest, when their port is
// attached, and taken back when it is detached. All methods are safe for
// concurrent use.
type PollGroup struct {
	opts    PollGroupOptions
	mu      sync.Mutex
	threads []*pollThread
	closed  bool
	raised  bool // RaiseProcs was acted on
}

// NewPollGroup starts the group's threads. They sleep until they have a
// queue.
func NewPollGroup(opts PollGroupOptions) (*PollGroup, error) {
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	if opts.Threads < 0 || opts.Threads > 256 {
		return nil, fmt.Errorf("create poll group: %d threads outside [1, 256]", opts.Threads)
	}
	for _, c := range opts.CPUs {
		if c < 0 || c >= cpuSetBits {
			return nil, fmt.Errorf("create poll group: CPU %d out of range", c)
		}
	}
	g := &PollGroup{opts: opts}
	start := make(chan error, opts.Threads)
	for i := 0; i < opts.Threads; i++ {
		t := &pollThread{id: i, wake: make(chan struct{}, 1), done: make(chan struct{})}
		cpu := -1
		if len(opts.CPUs) > 0 {
			cpu = opts.CPUs[i%len(opts.CPUs)]
		}
		g.threads = append(g.threads, t)
		go t.run(cpu, opts.NoSleep, start)
	}
	var errs []error
	for range g.threads {
		if err := <-start; err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		g.Close()
		return nil, fmt.Errorf("create poll group: %w", err)
	}
	return g, nil
}

// cpuSetBits is how many CPUs a unix.CPUSet holds (glibc's CPU_SETSIZE).
const cpuSetBits = 1024

// MinProcs is the GOMAXPROCS a program with a group of threads poll threads
// needs: one processor for each, and one for everything else.
func MinProcs(threads int) int { return max(threads, 1) + 1 }

// Close stops the threads once every queue given to them has been taken
// back: close the switches that use the group first.
func (g *PollGroup) Close() {
	g.mu.Lock()
	g.closed = true
	ts := g.threads
	g.mu.Unlock()
	for _, t := range ts {
		t.stop.Store(true)
		t.kick()
	}
	for _, t := range ts {
		<-t.done
	}
}

// PollThreadStats describes one poll thread.
type PollThreadStats struct {
	Thread int
	CPU    int      // the CPU it is pinned to, or -1
	Queues []string // "switch/port/queue", in the order it polls them
	// Passes counts passes over the thread's queues, and Busy those that
	// forwarded at least one packet; Packets is what they forwarded.
	Passes, Busy, Packets uint64
	// Sleeps counts the idle thread's sleeps (0 with NoSleep).
	Sleeps uint64
}

// Stats returns a snapshot of every thread's queues and counters.
func (g *PollGroup) Stats() []PollThreadStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]PollThreadStats, 0, len(g.threads))
	for _, t := range g.threads {
		s := PollThreadStats{Thread: t.id, CPU: int(t.cpu.Load()), Passes: t.passes.Load(),
			Busy: t.busy.Load(), Packets: t.packets.Load(), Sleeps: t.sleeps.Load()}
		t.mu.Lock()
		for _, q := range t.qs {
			s.Queues = append(s.Queues, fmt.Sprintf("%s/%s/%d", q.sw.name, q.port.name, q.idx))
		}
		t.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// add gives q to the thread with the fewest queues. It reports false if
// the group is closed; the caller then runs q with a goroutine of its own.
func (g *PollGroup) add(q *inq) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	best := g.threads[0]
	for _, t := range g.threads[1:] {
		if t.load() < best.load() {
			best = t
		}
	}
	if g.opts.RaiseProcs && !g.raised {
		g.raised = true
		if have, need := runtime.GOMAXPROCS(0), MinProcs(len(g.threads)); have < need {
			runtime.GOMAXPROCS(need)
			if g.opts.Raised != nil {
				g.opts.Raised(have, need)
			}
		}
	}
	best.mu.Lock()
	best.qs = append(best.qs, q)
	best.changed.Store(true)
	best.mu.Unlock()
	best.kick()
	return true
}

// pollThread is one poll thread and the queues it drains.
type pollThread struct {
	id   int
	cpu  atomic.Int32
	mu   sync.Mutex
	qs   []*inq // guarded by mu; the thread works on a copy
	wake chan struct{}
	done chan struct{}

	changed atomic.Bool // qs changed since the thread copied it
	stop    atomic.Bool

	passes, busy, packets, sleeps atomic.Uint64
}

func (t *pollThread) load() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.qs)
}

func (t *pollThread) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run is the thread's loop.
func (t *pollThread) run(cpu int, noSleep bool, start chan<- error) {
	defer close(t.done)
	runtime.LockOSThread()
	// The thread is never unlocked: when run returns, the runtime ends it
	// with the affinity set here.
	t.cpu.Store(-1)
	if cpu >= 0 {
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			start <- fmt.Errorf("pin poll thread %d to CPU %d: %w", t.id, cpu, err)
			return
		}
		t.cpu.Store(int32(cpu))
	}
	start <- nil

	var (
		qs   []*inq
		pqs  []PolledQueue
		idle = spin.Backoff{Awake: awakeFor, NoSleep: noSleep}
	)
	for {
		if t.changed.Load() {
			qs, pqs = t.refresh(qs[:0], pqs[:0])
		}
		if len(qs) == 0 {
			if t.stop.Load() {
				return
			}
			<-t.wake
			continue
		}
		var n, gone int
		for _, q := range qs {
			if q.stopping.Load() {
				gone++
				continue
			}
			n += q.forward()
		}
		if gone > 0 {
			t.drop()
			qs, pqs = t.refresh(qs[:0], pqs[:0])
		}
		t.passes.Add(1)
		if n > 0 {
			t.busy.Add(1)
			t.packets.Add(uint64(n))
			idle.Reset()
			continue
		}
		down := true
		for _, pq := range pqs {
			pq.Idle()
			if lq, ok := pq.(LinkQueue); !ok || !lq.Down() {
				down = false
			}
		}
		if down {
			// Nothing can come: sleep in the runtime, holding nothing.
			t.sleeps.Add(1)
			time.Sleep(downSleep)
			continue
		}
		if idle.Wait() {
			t.sleeps.Add(1)
		}
	}
}

// refresh copies the thread's queue list.
func (t *pollThread) refresh(qs []*inq, pqs []PolledQueue) ([]*inq, []PolledQueue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changed.Store(false)
	for _, q := range t.qs {
		qs = append(qs, q)
		pqs = append(pqs, q.q.(PolledQueue))
	}
	return qs, pqs
}

// drop takes the queues being detached off the thread's list and tells
// their Detach that the thread will not touch them again.
func (t *pollThread) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := t.qs[:0]
	for _, q := range t.qs {
		if q.stopping.Load() {
			close(q.done)
			continue
		}
		keep = append(keep, q)
	}
	clear(t.qs[len(keep):])
	t.qs = keep
	t.changed.Store(true)
}
