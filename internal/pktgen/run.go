package pktgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/internal/spin"
)

// Conn is the memif client API pktgen drives; *memif.Client implements it.
// Each queue has its own goroutine per direction: Send, Prefill and Replay
// on a queue are called from one goroutine, Receive, Discard and Wait from
// another.
type Conn interface {
	Queues() int
	BufSize() int
	Send(q int, frames [][]byte) (int, error)
	Receive(q int, bufs [][]byte, sizes []int) (int, error)
	Wait(q int, timeout time.Duration) (bool, error)
	Prefill(q int, frame []byte) error
	Replay(q int, n int) (int, error)
	Discard(q int) (n int, bytes uint64, err error)
	Done() <-chan struct{}
	Err() error
	Close() error
}

// Function is what pktgen does with its port.
type Function string

// Functions, named as netmap's pkt-gen names them.
const (
	TX   Function = "tx"   // send
	RX   Function = "rx"   // receive and count
	TXRX Function = "txrx" // both at once
	Ping Function = "ping" // send timestamped requests, measure the round trip
	Pong Function = "pong" // reflect what arrives
)

// ParseFunction parses a Function name.
func ParseFunction(s string) (Function, error) {
	switch f := Function(s); f {
	case TX, RX, TXRX, Ping, Pong:
		return f, nil
	}
	return "", fmt.Errorf("unknown function %q: want tx, rx, txrx, ping or pong", s)
}

func (f Function) sends() bool    { return f == TX || f == TXRX }
func (f Function) receives() bool { return f == RX || f == TXRX }

// Config describes one run.
type Config struct {
	Function Function
	Addrs    Addrs
	Size     int // frame bytes; default MinSize
	Flows    int // default 1
	Batch    int // packets per send or receive call; default 64

	// Count stops the run after this many packets sent (tx, txrx, ping:
	// requests) or received (rx, pong); 0 means no limit.
	Count uint64
	// Duration stops the run this long after it started; 0 means no limit.
	Duration time.Duration
	// Rate limits tx and ping to this many packets per second in all,
	// shared equally by the queues; 0 means as fast as possible.
	Rate float64
	// Check makes tx number its packets per stream, and rx verify the
	// numbers: lost, out of order, duplicates.
	Check bool
	// Window is the number of ping requests in flight (default 1);
	// Timeout is how long ping waits for a reply (default 1 s).
	Window  int
	Timeout time.Duration
	// Reconnect redials, once a second, when the connection fails or
	// breaks, until the run is over.
	Reconnect bool

	// Progress receives a progress line every Interval (default 1 s) and
	// connection notices; nil means quiet. Terminal overwrites the line in
	// place instead of writing one line per tick.
	Progress io.Writer
	Terminal bool
	Interval time.Duration
}

// rxBufSize is the size of the buffers pong receives into: the largest
// frame pktgen builds, and then some for tags. rx and ping read only the
// headers and the payload's start, and let Receive truncate the rest.
const (
	rxBufSize  = MaxSize + 64
	rxHeadSize = 256
)

// idleWait bounds every blocking wait of a queue goroutine, so that a stop
// is seen within it.
const idleWait = 100 * time.Millisecond

// drainIdle is how long txrx keeps receiving after its last send, when
// nothing more arrives.
const drainIdle = 300 * time.Millisecond

// linger is how long a sender waits after its last packet before it closes
// the connection. (A way to ask memif whether the server has consumed the
// ring would make it exact.)
const linger = 200 * time.Millisecond

// prebuiltLimit bounds the memory of a tx queue's prebuilt frames; beyond
// it, a small set of frames is rewritten for each flow as it is sent.
const prebuiltLimit = 16 << 20

// Run checks cfg and runs it; see Runner.Run.
func Run(ctx context.Context, cfg Config, dial func() (Conn, error)) (*Summary, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return r.Run(ctx, dial)
}

// A Runner is one checked Config, ready to run once.
type Runner struct {
	cfg      Config
	tmpl     *Template
	mu       sync.Mutex // guards the growth of queues
	outMu    sync.Mutex // serialises writes to cfg.Progress
	queues   []*queueState
	rxTotal  atomic.Uint64 // packets received by all queues, for Count
	txQueues atomic.Int32  // tx goroutines still running in the session

	start, end time.Time
	reconnects int
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Runner, error) {
	if _, err := ParseFunction(string(cfg.Function)); err != nil {
		return nil, err
	}
	if cfg.Size == 0 {
		cfg.Size = MinSize
	}
	if cfg.Flows == 0 {
		cfg.Flows = 1
	}
	if cfg.Batch == 0 {
		cfg.Batch = 64
	}
	if cfg.Window == 0 {
		cfg.Window = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	switch {
	case cfg.Batch < 1 || cfg.Batch > 4096:
		return nil, fmt.Errorf("batch %d outside 1..4096", cfg.Batch)
	case cfg.Window < 1 || cfg.Window > 4096:
		return nil, fmt.Errorf("ping window %d outside 1..4096", cfg.Window)
	case cfg.Rate < 0:
		return nil, fmt.Errorf("negative rate %g", cfg.Rate)
	}
	t, err := NewTemplate(cfg.Addrs, cfg.Size, cfg.Flows)
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, tmpl: t}, nil
}

func (r *Runner) notef(format string, args ...any) {
	if r.cfg.Progress == nil {
		return
	}
	eol := "\n"
	if r.cfg.Terminal {
		format = "\r\033[K" + format // clear the progress line first
	}
	r.outMu.Lock()
	fmt.Fprintf(r.cfg.Progress, format+eol, args...)
	r.outMu.Unlock()
}

// Run drives connections from dial until the count or the duration is
// reached, ctx is cancelled, or (without Config.Reconnect) the connection
// fails. It returns the summary of the whole run, with the error that ended
// it if any.
func (r *Runner) Run(ctx context.Context, dial func() (Conn, error)) (*Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
	}
	stopProgress := r.startProgress()
	err := r.sessions(ctx, dial)
	stopProgress()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil // the run is over, as asked
	}
	return r.summary(err), err
}

// sessions dials, runs a session, and redials as the config asks, until the
// run is over.
func (r *Runner) sessions(ctx context.Context, dial func() (Conn, error)) error {
	for attempt := 0; ; attempt++ {
		conn, err := dial()
		if err != nil {
			if !r.cfg.Reconnect {
				return err
			}
			if attempt == 0 || attempt%10 == 0 {
				r.notef("pktgen: %v; redialing every second", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		if r.start.IsZero() {
			r.start = time.Now()
		} else {
			r.reconnects++
			r.notef("pktgen: reconnected")
		}
		attempt = -1
		finished, err := r.session(ctx, conn)
		if err == nil && (r.cfg.Function == TX || r.cfg.Function == Pong) {
			// The last packets may still sit in the rings: give the
			// server time to take them before Close frees the memory.
			time.Sleep(linger)
		}
		conn.Close()
		if finished || ctx.Err() != nil {
			return ctx.Err()
		}
		if !r.cfg.Reconnect {
			return err
		}
		r.notef("pktgen: connection lost: %v; redialing", err)
	}
}

// session runs the queue goroutines on conn until the run's work is done
// (finished), or ctx ends, or the connection breaks (err).
func (r *Runner) session(ctx context.Context, conn Conn) (finished bool, err error) {
	nq := conn.Queues()
	r.mu.Lock()
	for len(r.queues) < nq {
		r.queues = append(r.queues, &queueState{})
	}
	r.mu.Unlock()
	s := &session{r: r, conn: conn, nq: nq}
	errc := make(chan error, 2*nq)
	var all, tx sync.WaitGroup
	spawn := func(wg *sync.WaitGroup, f func(int) error, q int) {
		all.Add(1)
		if wg != nil {
			wg.Add(1)
		}
		go func() {
			defer all.Done()
			if wg != nil {
				defer wg.Done()
			}
			if err := f(q); err != nil {
				errc <- fmt.Errorf("queue %d: %w", q, err)
			}
		}()
	}
	for q := 0; q < nq; q++ {
		switch r.cfg.Function {
		case TX:
			spawn(&tx, s.tx, q)
		case RX:
			spawn(nil, s.rx, q)
		case TXRX:
			spawn(&tx, s.tx, q)
			spawn(nil, s.rx, q)
		case Ping:
			spawn(nil, s.ping, q)
		case Pong:
			spawn(nil, s.pong, q)
		}
	}
	allDone := make(chan struct{})
	go func() { all.Wait(); close(allDone) }()
	var txDone <-chan struct{}
	if r.cfg.Function == TXRX {
		c := make(chan struct{})
		go func() { tx.Wait(); close(c) }()
		txDone = c
	}

	var idle <-chan time.Time
	lastRx := r.rxTotal.Load()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-conn.Done():
			if err = conn.Err(); err == nil {
				err = errors.New("closed by the server")
			}
			break wait
		case err = <-errc:
			break wait
		case <-allDone:
			finished = true
			break wait
		case <-txDone:
			// txrx: keep receiving while packets still arrive.
			txDone = nil
			t := time.NewTicker(drainIdle)
			defer t.Stop()
			idle = t.C
		case <-idle:
			rx := r.rxTotal.Load()
			if rx == lastRx {
				finished = true
				break wait
			}
			lastRx = rx
		}
	}
	r.end = time.Now()
	s.stop.Store(true)
	<-allDone
	if err == nil {
		select {
		case err = <-errc: // an error as the goroutines stopped
		default:
		}
	}
	return finished, err
}

// session is one connection's worth of queue goroutines.
type session struct {
	r    *Runner
	conn Conn
	nq   int
	stop atomic.Bool
}

// queueState is one queue's counters and sequence state; it outlives the
// sessions, so that counts and sequence numbers continue after a reconnect.
type queueState struct {
	txPackets, txBytes atomic.Uint64
	rxPackets, rxBytes atomic.Uint64
	// rxFirst and rxLast are when the first and the latest packets arrived
	// (Unix ns): rx rates are over that span, as pkt-gen's are.
	rxFirst, rxLast atomic.Int64

	// tx: the next sequence number of each local stream.
	seqs []uint32
	// rx with Check: the checker, and its totals for the progress line.
	checker               Checker
	lost, late, dup       atomic.Uint64
	unsequenced, foreign  atomic.Uint64
	pingSent, pingReplies atomic.Uint64
	timeouts, strays      atomic.Uint64
	rttSum, rttN          atomic.Int64 // for the progress line
	hist                  Histogram
	pongDropped           atomic.Uint64
}

// received counts n packets of the given bytes in all.
func (st *queueState) received(n int, bytes uint64) {
	if n == 0 {
		return
	}
	now := time.Now().UnixNano()
	st.rxFirst.CompareAndSwap(0, now)
	st.rxLast.Store(now)
	st.rxPackets.Add(uint64(n))
	st.rxBytes.Add(bytes)
}

// share returns queue q's part of a total count split over nq queues.
func share(total uint64, q, nq int) uint64 {
	s := total / uint64(nq)
	if uint64(q) < total%uint64(nq) {
		s++
	}
	return s
}

// streams returns the streams tx queue q sends: stream s goes out on queue
// s % nq with the headers of flow s % flows. There are max(flows, nq)
// streams, so that every flow and every queue has one.
func streams(q, nq, flows int) (ss []uint16) {
	for s := q; s < max(flows, nq); s += nq {
		ss = append(ss, uint16(s))
	}
	return ss
}

// sleepUntil sleeps d, or less if the session stops.
func (s *session) sleep(d time.Duration) {
	const slice = 50 * time.Millisecond
	for d > 0 && !s.stop.Load() {
		t := min(d, slice)
		time.Sleep(t)
		d -= t
	}
}

func (s *session) pacer(q int) *Pacer {
	if s.r.cfg.Rate == 0 {
		return nil
	}
	rate := s.r.cfg.Rate / float64(s.nq)
	return NewPacer(rate, s.r.cfg.Batch, time.Now())
}

// tx sends queue q's share of the packets.
func (s *session) tx(q int) error {
	cfg, st, t := &s.r.cfg, s.r.queues[q], s.r.tmpl
	limit := uint64(0)
	if cfg.Count > 0 {
		limit = share(cfg.Count, q, s.nq)
	}
	ss := streams(q, s.nq, cfg.Flows)
	if len(ss) == 0 {
		return nil
	}
	pace := s.pacer(q)
	batch := cfg.Batch
	remaining := func() int {
		if limit == 0 {
			return batch
		}
		return int(min(uint64(batch), limit-st.txPackets.Load()))
	}

	// The fast path: one template replayed from the ring.
	if cfg.Flows == 1 && !cfg.Check {
		if err := s.conn.Prefill(q, t.Build(0, ss[0], KindData)); err != nil {
			return err
		}
		send := func(n int) (int, error) { return s.conn.Replay(q, n) }
		return s.txLoop(st, pace, remaining, send)
	}

	// Prebuilt frames, one or more per stream, or (if that takes too much
	// memory) one batch of frames rewritten for each flow as they go.
	for len(st.seqs) < len(ss) {
		st.seqs = append(st.seqs, 0)
	}
	rewrite := max(len(ss), batch)*cfg.Size > prebuiltLimit
	set := make([][]byte, max(len(ss), batch))
	if rewrite {
		set = set[:batch]
	}
	for i := range set {
		set[i] = t.Build(int(ss[i%len(ss)])%cfg.Flows, ss[i%len(ss)], KindSeq)
	}
	refs := make([][]byte, batch)
	var next int // count of frames sent, mod len(set)*len(ss)
	period := len(set) * len(ss)
	send := func(n int) (int, error) {
		local := func(j int) int { // the local stream of the j-th frame from next
			if rewrite {
				return (next + j) % len(ss)
			}
			return (next + j) % len(set) % len(ss)
		}
		for j := 0; j < n; j++ {
			f := set[(next+j)%len(set)]
			l := local(j)
			if rewrite {
				t.SetFlow(f, int(ss[l])%cfg.Flows)
				SetStream(f, ss[l])
			}
			SetSeq(f, st.seqs[l])
			st.seqs[l]++
			refs[j] = f
		}
		sent, err := s.conn.Send(q, refs[:n])
		for j := sent; j < n; j++ {
			st.seqs[local(j)]--
		}
		next = (next + sent) % period
		return sent, err
	}
	return s.txLoop(st, pace, remaining, send)
}

// txLoop calls send with up to a batch of packets at a time, paced, until
// the queue's share is sent or the session stops.
func (s *session) txLoop(st *queueState, pace *Pacer, remaining func() int, send func(int) (int, error)) error {
	size := uint64(s.r.cfg.Size)
	var full spin.Backoff // the ring had no room
	for !s.stop.Load() {
		want := remaining()
		if want == 0 {
			return nil
		}
		if pace != nil {
			now := time.Now()
			n := pace.Take(want, now)
			if n == 0 {
				s.sleep(pace.Wait(want, now))
				continue
			}
			want = n
		}
		n, err := send(want)
		if pace != nil {
			pace.Return(want - n)
		}
		st.txPackets.Add(uint64(n))
		st.txBytes.Add(uint64(n) * size)
		if err != nil {
			return err
		}
		if n == 0 {
			full.Wait()
		} else {
			full.Reset()
		}
	}
	return nil
}

// rxDone reports whether the run has received its count.
func (s *session) rxDone() bool {
	c := s.r.cfg.Count
	return c > 0 && s.r.rxTotal.Load() >= c && s.r.cfg.Function != TXRX
}

// rx counts what arrives on queue q: with Discard, or with Receive and the
// sequence checker.
func (s *session) rx(q int) error {
	cfg, st := &s.r.cfg, s.r.queues[q]
	var bufs [][]byte
	var sizes []int
	if cfg.Check {
		bufs, sizes = make([][]byte, cfg.Batch), make([]int, cfg.Batch)
		for i := range bufs {
			bufs[i] = make([]byte, rxHeadSize)
		}
	}
	for !s.stop.Load() && !s.rxDone() {
		var n int
		var bytes uint64
		var err error
		if cfg.Check {
			n, err = s.conn.Receive(q, bufs, sizes)
			for i := 0; i < n; i++ {
				bytes += uint64(sizes[i])
				s.check(st, received(bufs[i], sizes[i]))
			}
			if n > 0 {
				st.lost.Store(st.checker.lost)
				st.late.Store(st.checker.late)
				st.dup.Store(st.checker.dup)
			}
		} else {
			n, bytes, err = s.conn.Discard(q)
		}
		st.received(n, bytes)
		s.r.rxTotal.Add(uint64(n))
		if err != nil {
			return err
		}
		if n == 0 {
			if _, err := s.conn.Wait(q, idleWait); err != nil {
				return err
			}
		}
	}
	return nil
}

// received returns the part of buf that Receive filled: a packet longer
// than buf was truncated to it.
func received(buf []byte, size int) []byte { return buf[:min(size, len(buf))] }

func (s *session) check(st *queueState, b []byte) {
	p, ok := Parse(b)
	switch {
	case !ok:
		st.foreign.Add(1)
	case p.Kind != KindSeq:
		st.unsequenced.Add(1)
	default:
		st.checker.Add(p.Stream, p.Seq)
	}
}

// pong reflects what arrives on queue q back out of it.
func (s *session) pong(q int) error {
	cfg, st := &s.r.cfg, s.r.queues[q]
	bufs, sizes := make([][]byte, cfg.Batch), make([]int, cfg.Batch)
	for i := range bufs {
		bufs[i] = make([]byte, rxBufSize)
	}
	out := make([][]byte, cfg.Batch)
	for !s.stop.Load() && !s.rxDone() {
		n, err := s.conn.Receive(q, bufs, sizes)
		if err != nil {
			return err
		}
		if n == 0 {
			if _, err := s.conn.Wait(q, idleWait); err != nil {
				return err
			}
			continue
		}
		var bytes uint64
		m := 0
		for i := 0; i < n; i++ {
			b := received(bufs[i], sizes[i])
			bytes += uint64(len(b))
			if Reflect(b, cfg.Addrs.SrcMAC) {
				out[m] = b
				m++
			}
		}
		st.received(n, bytes)
		s.r.rxTotal.Add(uint64(n))
		// Send what fits; give the peer a millisecond to make room for
		// the rest, then drop it: a reflector must not stall its input.
		sent := 0
		var full spin.Backoff
		deadline := time.Now().Add(time.Millisecond)
		for sent < m && !s.stop.Load() {
			k, err := s.conn.Send(q, out[sent:m])
			for _, b := range out[sent : sent+k] {
				st.txBytes.Add(uint64(len(b)))
			}
			sent += k
			st.txPackets.Add(uint64(k))
			if err != nil {
				return err
			}
			if k == 0 {
				if time.Now().After(deadline) {
					break
				}
				full.Wait()
			}
		}
		st.pongDropped.Add(uint64(n - sent))
	}
	return nil
}

// inflight is one ping request awaiting its reply.
type inflight struct {
	seq  uint32
	sent int64
	live bool
}

// ping sends timestamped requests on queue q, a window of them at a time,
// and records the round trip of each reply.
func (s *session) ping(q int) error {
	cfg, st, t := &s.r.cfg, s.r.queues[q], s.r.tmpl
	limit := uint64(0)
	if cfg.Count > 0 {
		limit = share(cfg.Count, q, s.nq)
		if limit == 0 {
			return nil
		}
	}
	stream := uint16(q)
	req := t.Build(q%cfg.Flows, stream, KindPing)
	reqs := [][]byte{req}
	bufs, sizes := make([][]byte, cfg.Batch), make([]int, cfg.Batch)
	for i := range bufs {
		bufs[i] = make([]byte, rxHeadSize)
	}
	window := make([]inflight, cfg.Window)
	outstanding := 0
	seq := uint32(st.pingSent.Load())
	pace := s.pacer(q)
	timeout := cfg.Timeout.Nanoseconds()
	lastExpiry := time.Now().UnixNano()
	var full spin.Backoff
	for !s.stop.Load() {
		more := limit == 0 || st.pingSent.Load() < limit
		if !more && outstanding == 0 {
			return nil
		}
		// Fill the window.
		for more && outstanding < cfg.Window && !s.stop.Load() {
			if pace != nil {
				now := time.Now()
				if pace.Take(1, now) == 0 {
					if outstanding == 0 {
						s.sleep(pace.Wait(1, now))
						continue
					}
					break
				}
			}
			now := time.Now().UnixNano()
			SetSeq(req, seq)
			SetTime(req, now)
			n, err := s.conn.Send(q, reqs)
			if err != nil {
				return err
			}
			if n == 0 {
				if pace != nil {
					pace.Return(1)
				}
				full.Wait()
				break
			}
			full.Reset()
			window[seq%uint32(len(window))] = inflight{seq: seq, sent: now, live: true}
			seq++
			outstanding++
			st.pingSent.Add(1)
			st.txPackets.Add(1)
			st.txBytes.Add(uint64(len(req)))
			more = limit == 0 || st.pingSent.Load() < limit
		}

		// Collect replies.
		n, err := s.conn.Receive(q, bufs, sizes)
		if err != nil {
			return err
		}
		if n == 0 && outstanding > 0 {
			wait := time.Duration(timeout)
			if pace != nil && more && outstanding < cfg.Window {
				wait = min(wait, pace.Wait(1, time.Now()))
			}
			if _, err := s.conn.Wait(q, min(wait, idleWait)); err != nil {
				return err
			}
			n, err = s.conn.Receive(q, bufs, sizes)
			if err != nil {
				return err
			}
		}
		now := time.Now().UnixNano()
		for i := 0; i < n; i++ {
			st.received(1, uint64(sizes[i]))
			p, ok := Parse(received(bufs[i], sizes[i]))
			if !ok || p.Kind != KindPong || p.Stream != stream {
				st.strays.Add(1)
				continue
			}
			w := &window[p.Seq%uint32(len(window))]
			if !w.live || w.seq != p.Seq {
				st.strays.Add(1) // a reply after its timeout, or a duplicate
				continue
			}
			w.live = false
			outstanding--
			rtt := now - w.sent
			st.hist.Record(rtt)
			st.pingReplies.Add(1)
			st.rttSum.Add(rtt)
			st.rttN.Add(1)
		}

		// Expire requests past their timeout.
		if outstanding > 0 && now-lastExpiry > timeout/8 {
			lastExpiry = now
			for i := range window {
				if w := &window[i]; w.live && now-w.sent > timeout {
					w.live = false
					outstanding--
					st.timeouts.Add(1)
				}
			}
		}
	}
	return nil
}
