package fabric

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/learning"
)

// DefaultBatch is the default forwarding batch, in packets (netmap's
// bridge_batch default).
const DefaultBatch = 1024

// MaxBatch is the largest batch a switch accepts.
const MaxBatch = 1024

// DefaultMaxPorts is how many ports a switch accepts unless told otherwise.
const DefaultMaxPorts = 4096

// Algorithm selects how a batch is delivered to its destinations.
type Algorithm int

const (
	// AlgorithmMSwitch is the paper's §3.3 algorithm: per-destination lists,
	// and a delivery pass that visits only the destinations in use.
	AlgorithmMSwitch Algorithm = iota
	// AlgorithmVALE is VALE's original algorithm, which scans the whole batch
	// once for every port of the switch, holding the destination's lock
	// while it copies. It exists only as the baseline of the port-scaling
	// benchmarks (paper Figures 10 and 11); it delivers unicast and flood
	// only (a ToSet result is dropped as a lookup drop).
	AlgorithmVALE
)

// Options configures a switch. The zero value is usable.
type Options struct {
	// Batch is the most packets forwarded as one batch; 0 means DefaultBatch.
	Batch int
	// MaxPorts bounds the number of ports; 0 means DefaultMaxPorts. It may
	// be raised up to logic.MaxPorts.
	MaxPorts int
	// Logic is the switching logic; nil means a new learning bridge.
	Logic logic.Logic
	// Algorithm is the delivery algorithm; keep the default outside
	// benchmarks.
	Algorithm Algorithm
	// Polls, if set, drains the switch's polled input queues (see
	// PolledQueue) with its poll threads, which may serve other switches
	// too. The group must outlive the switch.
	Polls *PollGroup
}

// PortConfig configures one port at attach time.
type PortConfig struct {
	// Name identifies the port in stats and errors; it must be unique
	// within the switch. Empty means "port<ID>".
	Name string
	// Inline starts no goroutine for the port's input queues: the
	// application forwards their packets itself, by calling Switch.Forward
	// from its own goroutine (forwarding "in the sender's context", as a
	// VALE client's txsync does).
	Inline bool
}

// ErrClosed is returned by operations on a closed switch.
var ErrClosed = errors.New("switch closed")

// ErrNoPort is returned for a port ID or name that is not attached.
var ErrNoPort = errors.New("no such port")

// A Switch is one instance of the fabric, with its ports and its logic.
// All methods are safe for concurrent use.
type Switch struct {
	name      string
	batch     int
	maxPorts  int
	algorithm Algorithm
	polls     *PollGroup

	// table and mod are read by forwarding goroutines without locks; they
	// are replaced (never modified) by the control path, which then waits
	// for a grace period before it frees what the old value referenced.
	table atomic.Pointer[portTable]
	mod   atomic.Pointer[module]

	// mu serialises the control path: attach, detach, logic swap, close.
	mu     sync.Mutex
	closed bool
}

// module boxes a Logic so it can sit behind an atomic pointer.
type module struct{ l logic.Logic }

// portTable is an immutable snapshot of the attached ports.
type portTable struct {
	byID   []*port // indexed by PortID; nil for free IDs
	active []*port // attached ports in ID order: the flood list
	inqs   []*inq  // every input queue of every port, for grace periods
}

func (t *portTable) lookup(id logic.PortID) *port {
	if int(id) < len(t.byID) {
		return t.byID[id]
	}
	return nil
}

// New creates a switch named name.
func New(name string, opts Options) (*Switch, error) {
	sw := &Switch{name: name, batch: opts.Batch, maxPorts: opts.MaxPorts, algorithm: opts.Algorithm, polls: opts.Polls}
	if sw.batch == 0 {
		sw.batch = DefaultBatch
	}
	if sw.batch < 1 || sw.batch > MaxBatch {
		return nil, fmt.Errorf("create switch %s: batch %d outside [1, %d]", name, sw.batch, MaxBatch)
	}
	if sw.maxPorts == 0 {
		sw.maxPorts = DefaultMaxPorts
	}
	if sw.maxPorts < 1 || sw.maxPorts > logic.MaxPorts {
		return nil, fmt.Errorf("create switch %s: max ports %d outside [1, %d]", name, sw.maxPorts, logic.MaxPorts)
	}
	l := opts.Logic
	if l == nil {
		l = learning.New()
	}
	sw.mod.Store(&module{l})
	sw.table.Store(&portTable{})
	return sw, nil
}

// Name returns the switch's name.
func (sw *Switch) Name() string { return sw.name }

// Batch returns the switch's batch size in packets.
func (sw *Switch) Batch() int { return sw.batch }

// Logic returns the current switching logic.
func (sw *Switch) Logic() logic.Logic { return sw.mod.Load().l }

// Attach adds a port backed by b and returns its ID, the lowest free one.
// The port forwards as soon as Attach returns.
func (sw *Switch) Attach(b Backend, cfg PortConfig) (logic.PortID, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return 0, fmt.Errorf("attach port %s: %w", cfg.Name, ErrClosed)
	}
	ins, outs := b.InQueues(), b.OutQueues()
	if len(outs) == 0 {
		return 0, fmt.Errorf("attach port %s: backend has no output queue", cfg.Name)
	}
	for _, o := range outs {
		if o.BufSize() < MinBufSize {
			return 0, fmt.Errorf("attach port %s: buffer size %d below %d", cfg.Name, o.BufSize(), MinBufSize)
		}
	}
	old := sw.table.Load()
	id := -1
	for i, p := range old.byID {
		if p == nil {
			id = i
			break
		}
	}
	if id < 0 {
		id = len(old.byID)
	}
	if len(old.active) >= sw.maxPorts || id >= logic.MaxPorts {
		return 0, fmt.Errorf("attach port %s: switch %s is full (%d ports)", cfg.Name, sw.name, len(old.active))
	}
	name := cfg.Name
	if name == "" {
		name = fmt.Sprintf("port%d", id)
	}
	for _, p := range old.active {
		if p.name == name {
			return 0, fmt.Errorf("attach port %s: name already in use on switch %s", name, sw.name)
		}
	}

	p := &port{id: logic.PortID(id), name: name, backend: b, inline: cfg.Inline}
	rings := make([]*outRing, len(outs))
	for i, o := range outs {
		rings[i] = newOutRing(o)
	}
	p.out.Store(&rings)
	for i, q := range ins {
		p.in = append(p.in, &inq{sw: sw, port: p, idx: i, q: q, done: make(chan struct{})})
	}

	t := &portTable{}
	n := len(old.byID)
	if id >= n {
		n = id + 1
	}
	t.byID = make([]*port, n)
	copy(t.byID, old.byID)
	t.byID[id] = p
	t.active = make([]*port, 0, len(old.active)+1)
	for _, q := range t.byID {
		if q != nil {
			t.active = append(t.active, q)
			t.inqs = append(t.inqs, q.in...)
		}
	}
	if obs, ok := sw.mod.Load().l.(logic.PortObserver); ok {
		obs.PortAdded(p.id)
	}
	sw.table.Store(t)
	if !cfg.Inline {
		for _, q := range p.in {
			if pq, ok := q.q.(PolledQueue); ok && sw.polls != nil && pq.Polled() && sw.polls.add(q) {
				continue
			}
			go q.run()
		}
	}
	if rq, ok := b.(Requeuer); ok {
		rq.SetRequeue(func() error { return sw.requeue(p) })
	}
	return p.id, nil
}

// A Requeuer is a Backend whose output queues change while it is attached:
// a memif port whose client connects, disconnects or reconnects with other
// rings. The fabric calls SetRequeue once, when the port is attached, with
// a function the backend calls after OutQueues changed its answer.
//
// requeue makes the fabric use the output queues OutQueues returns now, and
// returns once no goroutine can still be using the ones it returned before,
// so the backend may then free their memory. The new queues start at slot
// index 0. requeue must not be called from Close, nor concurrently with
// itself; it returns ErrNoPort once the port is being detached.
type Requeuer interface {
	SetRequeue(requeue func() error)
}

// requeue implements Requeuer's requeue for port p.
func (sw *Switch) requeue(p *port) error {
	p.requeueMu.Lock()
	defer p.requeueMu.Unlock()
	if p.detached {
		return fmt.Errorf("requeue port %s: %w", p.name, ErrNoPort)
	}
	outs := p.backend.OutQueues()
	if len(outs) == 0 {
		return fmt.Errorf("requeue port %s: backend has no output queue", p.name)
	}
	rings := make([]*outRing, len(outs))
	for i, o := range outs {
		if o.BufSize() < MinBufSize {
			return fmt.Errorf("requeue port %s: buffer size %d below %d", p.name, o.BufSize(), MinBufSize)
		}
		rings[i] = newOutRing(o)
	}
	old := p.out.Swap(&rings)
	synchronize(sw.table.Load().inqs)
	// Nobody uses the old rings any more: keep their counts.
	for _, r := range *old {
		p.retired.add(&r.stats)
	}
	return nil
}

// Detach removes a port. When it returns, no goroutine forwards packets from
// the port, no packet will be delivered to it, and its backend is closed.
func (sw *Switch) Detach(id logic.PortID) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.detachLocked(id)
}

// Preconditions: sw.mu is held.
func (sw *Switch) detachLocked(id logic.PortID) error {
	old := sw.table.Load()
	p := old.lookup(id)
	if p == nil {
		return fmt.Errorf("detach port %d: %w", id, ErrNoPort)
	}
	// 1. Stop the port's input goroutines and its requeues.
	p.requeueMu.Lock()
	p.detached = true
	p.requeueMu.Unlock()
	for _, q := range p.in {
		q.stopping.Store(true)
		q.q.Interrupt()
	}
	if !p.inline {
		for _, q := range p.in {
			<-q.done
		}
	}
	// 2. Unpublish the port, then wait until no batch that may have seen it
	// is still running.
	t := &portTable{byID: make([]*port, len(old.byID))}
	copy(t.byID, old.byID)
	t.byID[id] = nil
	for len(t.byID) > 0 && t.byID[len(t.byID)-1] == nil {
		t.byID = t.byID[:len(t.byID)-1]
	}
	for _, q := range t.byID {
		if q != nil {
			t.active = append(t.active, q)
			t.inqs = append(t.inqs, q.in...)
		}
	}
	sw.table.Store(t)
	synchronize(old.inqs)
	// 3. Let the logic forget the port before its ID can be reused.
	if obs, ok := sw.mod.Load().l.(logic.PortObserver); ok {
		obs.PortRemoved(id)
	}
	if err := p.backend.Close(); err != nil {
		return fmt.Errorf("close port %s: %w", p.name, err)
	}
	return nil
}

// SetLogic replaces the switching logic while traffic flows. Every batch is
// decided entirely by the old or the new logic. When SetLogic returns, the
// old logic is no longer called, and has been closed if it is an io.Closer.
func (sw *Switch) SetLogic(l logic.Logic) error {
	if l == nil {
		return errors.New("set logic: nil logic")
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return fmt.Errorf("set logic: %w", ErrClosed)
	}
	t := sw.table.Load()
	if obs, ok := l.(logic.PortObserver); ok {
		for _, p := range t.active {
			obs.PortAdded(p.id)
		}
	}
	old := sw.mod.Swap(&module{l})
	synchronize(t.inqs)
	if c, ok := old.l.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("close old logic: %w", err)
		}
	}
	return nil
}

// Close detaches every port and closes the logic. The switch cannot be used
// afterwards.
func (sw *Switch) Close() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return nil
	}
	sw.closed = true
	var errs []error
	for _, p := range sw.table.Load().active {
		if err := sw.detachLocked(p.id); err != nil {
			errs = append(errs, err)
		}
	}
	if c, ok := sw.mod.Load().l.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close logic: %w", err))
		}
	}
	return errors.Join(errs...)
}

// PortID returns the ID of the port called name.
func (sw *Switch) PortID(name string) (logic.PortID, error) {
	for _, p := range sw.table.Load().active {
		if p.name == name {
			return p.id, nil
		}
	}
	return 0, fmt.Errorf("find port %q on switch %s: %w", name, sw.name, ErrNoPort)
}

// NumPorts returns the number of attached ports.
func (sw *Switch) NumPorts() int { return len(sw.table.Load().active) }

// Forward drains one batch from input queue queue of an Inline port, in the
// caller's goroutine, and returns the number of packets taken from the
// queue. It never blocks. Calls for the same queue must not overlap.
func (sw *Switch) Forward(id logic.PortID, queue int) (int, error) {
	p := sw.table.Load().lookup(id)
	if p == nil {
		return 0, fmt.Errorf("forward from port %d: %w", id, ErrNoPort)
	}
	if !p.inline {
		return 0, fmt.Errorf("forward from port %s: port is not inline", p.name)
	}
	if queue < 0 || queue >= len(p.in) {
		return 0, fmt.Errorf("forward from port %s: no input queue %d", p.name, queue)
	}
	q := p.in[queue]
	n := q.forward()
	if n == 0 && q.stopping.Load() {
		return 0, fmt.Errorf("forward from port %s: %w", p.name, ErrNoPort)
	}
	return n, nil
}

// synchronize waits until every input queue in qs that was inside a batch
// when synchronize was called has finished that batch: the grace period
// after which no batch can still use a snapshot replaced before the call.
func synchronize(qs []*inq) {
	for _, q := range qs {
		e := q.epoch.Load()
		if e&1 == 0 {
			continue
		}
		for spins := 0; q.epoch.Load() == e; spins++ {
			if spins < 100 {
				runtime.Gosched()
			} else {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
}
