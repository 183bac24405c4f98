// Package pipe provides in-process switch ports: the way a Go program embeds
// mswitch as a library, and what tests and benchmarks plug into the fabric.
//
// A pipe has two sides. The switch side, *Pipe, is a fabric.Backend: attach
// it with fabric.Switch.Attach. The application side, *End, sends packets
// into the switch and receives the packets the switch delivers:
//
//	p, _ := pipe.New(pipe.Options{})
//	id, _ := sw.Attach(p, fabric.PortConfig{Name: "app0"})
//	end := p.End()
//	end.Send(0, [][]byte{frame})          // into the switch
//	n, _ := end.Receive(0, bufs, sizes)   // out of the switch
//
// Each queue pair is two single-producer, single-consumer rings of
// fixed-size buffers in ordinary Go memory: "to switch" (produced by End.Send,
// drained by the fabric) and "from switch" (filled by the fabric, drained by
// End.Receive). Packets larger than a buffer are chained over several slots.
// A sleeping consumer is woken through a channel, so an idle pipe costs no
// CPU; Options.BusyPoll makes the fabric side spin instead.
//
// Two modes exist for benchmarks, after the mSwitch paper's §4.3: with
// Options.DrainForFree the "from switch" rings are consumed the moment the
// fabric publishes into them, so a benchmark measures the fabric and not a
// receiver; End.Prefill and End.Replay make the "to switch" rings a source
// that costs nothing per packet, like pkt-gen's prefilled netmap buffers.
package pipe

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/fabric"
)

// Options configures a pipe. Zero fields take their defaults.
type Options struct {
	Queues  int // queue pairs; default 1
	Slots   int // slots per ring, a power of two; default 1024
	BufSize int // bytes per slot buffer; default 2048

	// DrainForFree discards what the switch delivers as soon as it is
	// published; End.Receive then finds nothing.
	DrainForFree bool
	// BusyPoll makes the fabric poll the "to switch" rings instead of
	// sleeping when they are empty.
	BusyPoll bool
}

// Defaults.
const (
	DefaultSlots   = 1024
	DefaultBufSize = 2048
)

// Pipe is the switch side of a pipe port. It implements fabric.Backend.
type Pipe struct {
	in     []*toSwitch
	out    []*fromSwitch
	end    *End
	closed atomic.Bool
}

var _ fabric.Backend = (*Pipe)(nil)

// End is the application side of a pipe. Send and Receive on one queue must
// not be called concurrently with themselves; different queues, and Send
// with Receive, may run concurrently.
type End struct{ p *Pipe }

// New creates a pipe.
func New(opts Options) (*Pipe, error) {
	if opts.Queues == 0 {
		opts.Queues = 1
	}
	if opts.Slots == 0 {
		opts.Slots = DefaultSlots
	}
	if opts.BufSize == 0 {
		opts.BufSize = DefaultBufSize
	}
	if opts.Queues < 1 || opts.Queues > 64 {
		return nil, fmt.Errorf("create pipe: %d queues outside [1, 64]", opts.Queues)
	}
	if opts.Slots < 2 || opts.Slots > 1<<16 || opts.Slots&(opts.Slots-1) != 0 {
		return nil, fmt.Errorf("create pipe: %d slots is not a power of two in [2, 65536]", opts.Slots)
	}
	if opts.BufSize < fabric.MinBufSize || opts.BufSize > 1<<16 {
		return nil, fmt.Errorf("create pipe: buffer size %d outside [%d, 65536]", opts.BufSize, fabric.MinBufSize)
	}
	p := &Pipe{}
	p.end = &End{p}
	for i := 0; i < opts.Queues; i++ {
		p.in = append(p.in, &toSwitch{ring: newRing(opts.Slots, opts.BufSize), busyPoll: opts.BusyPoll})
		p.out = append(p.out, &fromSwitch{ring: newRing(opts.Slots, opts.BufSize), drain: opts.DrainForFree, lens: make([]int32, opts.Slots)})
	}
	return p, nil
}

// End returns the application side.
func (p *Pipe) End() *End { return p.end }

// InQueues implements fabric.Backend.
func (p *Pipe) InQueues() []fabric.InQueue {
	qs := make([]fabric.InQueue, len(p.in))
	for i, q := range p.in {
		qs[i] = q
	}
	return qs
}

// OutQueues implements fabric.Backend.
func (p *Pipe) OutQueues() []fabric.OutQueue {
	qs := make([]fabric.OutQueue, len(p.out))
	for i, q := range p.out {
		qs[i] = q
	}
	return qs
}

// Close implements fabric.Backend. Afterwards the End's methods return
// net.ErrClosed.
func (p *Pipe) Close() error {
	p.closed.Store(true)
	for _, q := range p.in {
		q.Interrupt()
	}
	for _, q := range p.out {
		q.wakeReader()
	}
	return nil
}

// ring is a single-producer, single-consumer ring of buffers. Indices are
// free-running; slot i lives at i & mask. Everything before head is
// published by the producer; everything before cur is released by the
// consumer.
type ring struct {
	mask    uint32
	bufSize int
	mem     [][]byte // each slot's own buffer, len == cap == bufSize
	view    [][]byte // what the consumer sees: mem[i][:len], or a replayed template
	more    []bool

	head atomic.Uint32
	_    [60]byte // keep producer and consumer indices on separate cache lines
	cur  atomic.Uint32
	_    [60]byte

	// Wake-up: a consumer about to sleep sets waiting, re-checks, and blocks
	// on wake; a producer that sees waiting after publishing sends a token.
	waiting atomic.Bool
	wake    chan struct{}
}

func newRing(slots, bufSize int) *ring {
	r := &ring{
		mask:    uint32(slots - 1),
		bufSize: bufSize,
		mem:     make([][]byte, slots),
		view:    make([][]byte, slots),
		more:    make([]bool, slots),
		wake:    make(chan struct{}, 1),
	}
	// Buffers are one cache line apart beyond their size: with a
	// power-of-two stride, the heads of all slots would fall into a few
	// cache sets and evict each other on every pass over the ring.
	stride := bufSize + 64
	backing := make([]byte, slots*stride)
	for i := range r.mem {
		r.mem[i] = backing[i*stride : i*stride+bufSize : i*stride+bufSize]
		r.view[i] = r.mem[i][:0]
	}
	return r
}

func (r *ring) size() uint32 { return r.mask + 1 }

func (r *ring) signal() {
	if r.waiting.Load() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// sleep blocks until ready returns true or a token arrives; it returns at
// once if ready already holds. timeout < 0 waits forever.
func (r *ring) sleep(ready func() bool, timeout time.Duration) bool {
	if ready() {
		return true
	}
	r.waiting.Store(true)
	defer r.waiting.Store(false)
	if ready() {
		return true
	}
	if timeout < 0 {
		<-r.wake
		return ready()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.wake:
	case <-t.C:
	}
	return ready()
}

// toSwitch is the "to switch" ring seen from the fabric: a fabric.InQueue.
type toSwitch struct {
	*ring
	busyPoll    bool
	interrupted atomic.Bool
	tmpl        [][]byte // Replay's template buffers, set by Prefill
}

var _ fabric.PolledQueue = (*toSwitch)(nil)

// Receive implements fabric.InQueue.
func (q *toSwitch) Receive(slots []fabric.Slot) int {
	c, h := q.cur.Load(), q.head.Load()
	n := min(int(h-c), len(slots))
	for k := 0; k < n; k++ {
		i := (c + uint32(k)) & q.mask
		slots[k] = fabric.Slot{Buf: q.view[i], More: q.more[i]}
	}
	return n
}

// Release implements fabric.InQueue.
func (q *toSwitch) Release(n int) { q.cur.Add(uint32(n)) }

// Wait implements fabric.InQueue.
func (q *toSwitch) Wait() error {
	if q.busyPoll {
		if q.interrupted.Load() {
			return fabric.ErrInterrupted
		}
		runtime.Gosched()
		return nil
	}
	q.sleep(func() bool { return q.interrupted.Load() || q.head.Load() != q.cur.Load() }, -1)
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	return nil
}

// Polled implements fabric.PolledQueue: true with Options.BusyPoll.
func (q *toSwitch) Polled() bool { return q.busyPoll }

// Idle implements fabric.PolledQueue; a pipe has nothing to do when idle.
func (q *toSwitch) Idle() {}

// Interrupt implements fabric.InQueue.
func (q *toSwitch) Interrupt() {
	q.interrupted.Store(true)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// fromSwitch is the "from switch" ring seen from the fabric: a
// fabric.OutQueue.
type fromSwitch struct {
	*ring
	drain bool
	lens  []int32 // bytes in each slot
}

var _ fabric.OutQueue = (*fromSwitch)(nil)

// BufSize implements fabric.OutQueue.
func (q *fromSwitch) BufSize() int { return q.bufSize }

// Room implements fabric.OutQueue.
func (q *fromSwitch) Room(from uint32) uint32 {
	used := from - q.cur.Load()
	if used >= q.size() {
		return 0
	}
	return q.size() - used
}

// Buffer implements fabric.OutQueue.
func (q *fromSwitch) Buffer(i uint32) []byte { return q.mem[i&q.mask] }

// SetSlot implements fabric.OutQueue.
func (q *fromSwitch) SetSlot(i uint32, n int, more bool) {
	i &= q.mask
	q.lens[i] = int32(n)
	q.more[i] = more
}

// Publish implements fabric.OutQueue.
func (q *fromSwitch) Publish(tail uint32) {
	q.head.Store(tail)
	if q.drain {
		q.cur.Store(tail)
	}
}

// Notify implements fabric.OutQueue.
func (q *fromSwitch) Notify() { q.signal() }

func (q *fromSwitch) wakeReader() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// ErrQueue is returned for a queue number the pipe does not have.
var ErrQueue = errors.New("no such queue")

func (e *End) check(queue int) error {
	if e.p.closed.Load() {
		return net.ErrClosed
	}
	if queue < 0 || queue >= len(e.p.in) {
		return fmt.Errorf("queue %d: %w", queue, ErrQueue)
	}
	return nil
}

// Queues returns the number of queue pairs.
func (e *End) Queues() int { return len(e.p.in) }

// BufSize returns the size of one slot buffer.
func (e *End) BufSize() int { return e.p.in[0].bufSize }

// Send copies frames into the switch through queue queue and returns how
// many it accepted: fewer than len(frames) when the ring is full (the rest
// are not sent). A frame larger than a buffer takes several slots. Send
// never blocks.
func (e *End) Send(queue int, frames [][]byte) (int, error) {
	if err := e.check(queue); err != nil {
		return 0, fmt.Errorf("send to pipe: %w", err)
	}
	q := e.p.in[queue]
	h := q.head.Load()
	free := q.size() - (h - q.cur.Load())
	sent := 0
	for _, f := range frames {
		k := uint32(1)
		if len(f) > q.bufSize {
			k = uint32((len(f) + q.bufSize - 1) / q.bufSize)
		}
		if k > free {
			break
		}
		for s := uint32(0); s < k; s++ {
			i := h & q.mask
			c := copy(q.mem[i], f)
			f = f[c:]
			q.view[i] = q.mem[i][:c]
			q.more[i] = s+1 < k
			h++
		}
		free -= k
		sent++
	}
	if sent > 0 {
		q.head.Store(h)
		q.signal()
	}
	return sent, nil
}

// Prefill prepares queue queue for Replay: frame is copied once into
// template buffers that every replayed packet will point at. The frame is
// chained if it is larger than a buffer.
func (e *End) Prefill(queue int, frame []byte) error {
	if err := e.check(queue); err != nil {
		return fmt.Errorf("prefill pipe: %w", err)
	}
	q := e.p.in[queue]
	var tmpl [][]byte
	for len(frame) > 0 || len(tmpl) == 0 {
		b := make([]byte, q.bufSize)
		c := copy(b, frame)
		frame = frame[c:]
		tmpl = append(tmpl, b[:c])
	}
	q.tmpl = tmpl
	return nil
}

// Replay sends up to n copies of the prefilled frame without copying any
// byte: each slot is pointed at the template buffers. It returns how many
// fit. Replay and Send must not be mixed on one queue while packets of both
// are in flight.
func (e *End) Replay(queue int, n int) (int, error) {
	if err := e.check(queue); err != nil {
		return 0, fmt.Errorf("replay into pipe: %w", err)
	}
	q := e.p.in[queue]
	k := uint32(len(q.tmpl))
	if k == 0 {
		return 0, fmt.Errorf("replay into pipe: queue %d was not prefilled", queue)
	}
	h := q.head.Load()
	free := q.size() - (h - q.cur.Load())
	n = min(n, int(free/k))
	for p := 0; p < n; p++ {
		for s := uint32(0); s < k; s++ {
			i := h & q.mask
			q.view[i] = q.tmpl[s]
			q.more[i] = s+1 < k
			h++
		}
	}
	if n > 0 {
		q.head.Store(h)
		q.signal()
	}
	return n, nil
}

// Receive copies up to len(bufs) packets delivered by the switch on queue
// queue into bufs, stores their lengths in sizes, and returns how many it
// took. A packet longer than its buffer is truncated to it, and sizes holds
// its full length. Receive never blocks; see Wait.
func (e *End) Receive(queue int, bufs [][]byte, sizes []int) (int, error) {
	if err := e.check(queue); err != nil {
		return 0, fmt.Errorf("receive from pipe: %w", err)
	}
	q := e.p.out[queue]
	c, h := q.cur.Load(), q.head.Load()
	n := 0
	for c != h && n < len(bufs) {
		size := 0
		for {
			i := c & q.mask
			v := q.mem[i][:q.lens[i]]
			if size < len(bufs[n]) {
				copy(bufs[n][size:], v)
			}
			size += len(v)
			c++
			if !q.more[i] || c == h {
				break
			}
		}
		sizes[n] = size
		n++
	}
	q.cur.Store(c)
	return n, nil
}

// Wait blocks until queue queue has packets to Receive, the timeout expires
// (it reports false) or the pipe is closed (it returns net.ErrClosed).
func (e *End) Wait(queue int, timeout time.Duration) (bool, error) {
	if err := e.check(queue); err != nil {
		return false, fmt.Errorf("wait on pipe: %w", err)
	}
	q := e.p.out[queue]
	ok := q.sleep(func() bool { return e.p.closed.Load() || q.head.Load() != q.cur.Load() }, timeout)
	if e.p.closed.Load() {
		return false, net.ErrClosed
	}
	return ok, nil
}
