// Package busypoll lets the input queues of kernel ports (AF_XDP,
// AF_PACKET) poll for a short time after traffic before they sleep, as
// Linux's busy_poll and VPP's adaptive mode do: a queue that has just
// forwarded a packet is likely to see the next one (a reply, the rest of a
// burst) within tens of microseconds, and catching it by polling saves the
// wake-up of a sleeping thread, which is what sets the round-trip time of a
// lone packet. An idle queue still sleeps, so an idle switch costs no CPU.
//
// The queues of a process poll as one group, because a round trip leaves
// on one queue and comes back on another: with one core (GOMAXPROCS=1) the
// goroutine that forwarded a request keeps the processor while it polls, so
// the Go scheduler does not look at the netpoller, and the queue that the
// reply reaches would sleep through it. So a polling member also looks at
// the sleeping members' rings, and wakes those that hold packets itself.
//
//	m := busypoll.Default.Join(pending, wake)
//	defer m.Leave()
//	// in Receive, when packets came:   m.Busy()
//	// in Wait, before going to sleep:   if m.Poll() { return nil }
//	//                                   m.Sleeping(true); sleep; m.Sleeping(false)
//
// Poll returns true while the member's last packet is less than the
// window old (yielding the processor once per call, to the other
// goroutines and, now and then, to the other threads of the core); the
// caller then returns from Wait without sleeping, and the fabric polls the
// queue again.
package busypoll

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/internal/spin"
)

// DefaultWindow is how long a member keeps polling after its last packet,
// unless the backend says otherwise: about one round trip through a host
// on a veth (tens of µs), short enough that a ping every 2 ms costs a few
// percent of a core.
const DefaultWindow = 50 * time.Microsecond

// yieldEvery: one Poll in this many gives the core to other threads
// (sched_yield) rather than to other goroutines only (runtime.Gosched).
const yieldEvery = 8

// A Group is a set of members that look at each other's rings while they
// poll. Its zero value is ready.
type Group struct {
	mu      sync.Mutex
	members atomic.Pointer[[]*Member] // copy on write under mu
}

// Default is the group of every kernel port of the process.
var Default Group

// A Member is one input queue of a Group.
type Member struct {
	g       *Group
	pending func() bool // whether the queue holds packets
	wake    func()      // makes the queue's sleeping Wait return
	window  int64       // ns

	last     atomic.Int64 // monotonic ns of the last Busy
	sleeping atomic.Bool
	polls    uint32 // by the member's goroutine only
}

// epoch is the origin of the members' monotonic clocks.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// Join adds a member: pending reports whether its queue holds packets (it
// is called from other members' goroutines, so it must be safe for that and
// cheap: one load of a ring index), wake makes its sleeping Wait return
// (from any goroutine). window is how long it polls after its last packet;
// 0 means DefaultWindow.
func (g *Group) Join(pending func() bool, wake func(), window time.Duration) *Member {
	if window <= 0 {
		window = DefaultWindow
	}
	m := &Member{g: g, pending: pending, wake: wake, window: int64(window)}
	m.last.Store(now() - m.window) // not polling until its first packet
	g.mu.Lock()
	defer g.mu.Unlock()
	var old []*Member
	if p := g.members.Load(); p != nil {
		old = *p
	}
	ms := append(append(make([]*Member, 0, len(old)+1), old...), m)
	g.members.Store(&ms)
	return m
}

// Leave removes the member from its group. Its pending and wake functions
// may still be called by members that polled before Leave returned, so
// what they touch must stay valid until then (a closed socket's ring is
// unmapped only after Leave).
func (m *Member) Leave() {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.members.Load()
	if p == nil {
		return
	}
	ms := make([]*Member, 0, len(*p))
	for _, o := range *p {
		if o != m {
			ms = append(ms, o)
		}
	}
	g.members.Store(&ms)
}

// Busy records that the member's queue just gave packets.
func (m *Member) Busy() { m.last.Store(now()) }

// Sleeping says that the member's goroutine is about to sleep (true) or
// has woken (false).
func (m *Member) Sleeping(s bool) { m.sleeping.Store(s) }

// Poll reports whether the member should poll its queue again rather than
// sleep: whether its last packet is less than the window old. While it
// polls, it wakes the sleeping members whose queues hold packets, and it
// yields the processor once.
func (m *Member) Poll() bool {
	if now()-m.last.Load() >= m.window {
		m.polls = 0
		return false
	}
	if p := m.g.members.Load(); p != nil {
		for _, o := range *p {
			if o != m && o.sleeping.Load() && o.pending() && o.sleeping.CompareAndSwap(true, false) {
				o.wake()
			}
		}
	}
	m.polls++
	if m.polls%yieldEvery == 0 {
		spin.Yield()
	} else {
		runtime.Gosched()
	}
	return true
}
