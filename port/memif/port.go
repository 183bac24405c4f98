package memif

// Link lifecycle of a server port.
//
//	           CONNECT ok                       DISCONNECT, EOF, bad input,
//	  down ---------------> up --------------> Port.Close, Server.Close
//	   ^  (build link, publish queues,        (data path stops: Receive and
//	   |   requeue, send CONNECTED)            Room return 0; requeue waits
//	   |                                       for the fabric's grace period)
//	   +---------------------------------------- free: munmap, close fds
//
// Transitions run in the connection's goroutine, serialised by transMu (the
// fabric's requeue must not run concurrently with itself). The memory of a
// link is freed only when no fabric goroutine can still use it: after a
// successful requeue; at once if no fabric ever saw the port's queues; or
// else at Port.Close, which the fabric calls after its last use.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/internal/spin"
	"golang.org/x/sys/unix"
)

// PortConfig configures a server port.
type PortConfig struct {
	// ID is the interface ID clients ask for, unique on the socket.
	ID uint32
	// Name is the interface name sent in CONNECTED (at most 31 bytes).
	Name string
	// Queues is the most queue pairs offered: default 1, at most MaxQueues.
	// The port always has this many input queues; those beyond what the
	// client connected stay empty. HELLO offers the most queues of all the
	// socket's ports; a client that adds more rings than this port has is
	// refused ("Invalid ring index").
	Queues int
	// Mode chooses how the switch waits on the rings it consumes (S2M).
	Mode Mode
	// Secret, if set (at most 24 bytes), must be presented by the client.
	Secret string
	// Log2RingSize is the largest ring offered, as log2 of the slot count:
	// default DefaultLog2RingSize, at most MaxLog2RingSize. HELLO goes out
	// before the client names the interface, so the socket offers, and
	// accepts, the largest ring of all its ports.
	Log2RingSize uint8
}

// PortStatus is a snapshot of a port's state and counters.
type PortStatus struct {
	Connected bool
	PeerName  string // the client's application name (INIT)
	IfName    string // the client's interface name (CONNECT)
	// Queues is the number of queue pairs connected: the smaller of the S2M
	// and M2S ring counts, which S2MRings and M2SRings give apart.
	Queues             int
	S2MRings, M2SRings int
	Log2RingSize       uint8 // of the client's first ring
	BufSize            int   // size of the buffers the client posts
	Regions            int
	Mode               Mode

	Connects, Disconnects uint64
	LastDisconnect        string // why the last link went down
	LastReject            string // the last reject reason sent to a client
	// Rejects counts hostile or invalid input by reason (the Reject*
	// constants): each one disconnected the client.
	Rejects map[string]uint64
}

// Port is one memif interface of a Server: a fabric.Backend and a
// fabric.Requeuer. Attach it to a switch; clients come and go.
//
// The fabric calls Close when the port is detached. A port that was never
// attached may be closed directly; closing an attached port other than
// through Detach is not allowed (the fabric would still use it).
type Port struct {
	srv  *Server
	cfg  PortConfig
	in   []*inQueue
	junk []byte // scratch output buffer for bad descriptors (anonymous mapping)

	// transMu serialises link transitions and the calls to requeue.
	transMu sync.Mutex

	mu sync.Mutex
	// Guarded by mu.
	conn     *conn        // the connection bound to the port (handshaking or up)
	link     *link        // the link up, nil while down
	requeue  func() error // from SetRequeue
	exposed  bool         // a fabric has seen the queues (InQueues/OutQueues called)
	retired  []*link      // down links waiting for a grace period
	closed   bool
	resyncs  sync.WaitGroup
	status   PortStatus
	outsDown []fabric.OutQueue
}

var (
	_ fabric.Backend  = (*Port)(nil)
	_ fabric.Requeuer = (*Port)(nil)
)

func newPort(s *Server, cfg PortConfig) (*Port, error) {
	junk, err := unix.Mmap(-1, 0, maxDescLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map scratch buffer: %w", err)
	}
	p := &Port{srv: s, cfg: cfg, junk: junk, outsDown: []fabric.OutQueue{downQueue{}}}
	for i := 0; i < cfg.Queues; i++ {
		p.in = append(p.in, &inQueue{p: p, idx: i, kick: make(chan struct{}, 1), idle: spin.Backoff{Awake: time.Millisecond}})
	}
	p.status.Mode = cfg.Mode
	p.status.Rejects = map[string]uint64{}
	return p, nil
}

// ID returns the port's interface ID.
func (p *Port) ID() uint32 { return p.cfg.ID }

// Config returns the port's configuration, defaults filled in.
func (p *Port) Config() PortConfig { return p.cfg }

// InQueues implements fabric.Backend: always Config().Queues queues.
func (p *Port) InQueues() []fabric.InQueue {
	p.mu.Lock()
	p.exposed = true
	p.mu.Unlock()
	qs := make([]fabric.InQueue, len(p.in))
	for i, q := range p.in {
		qs[i] = q
	}
	return qs
}

// OutQueues implements fabric.Backend: one queue per M2S ring of the
// connected client, or a single queue without room while down.
func (p *Port) OutQueues() []fabric.OutQueue {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exposed = true
	if p.link == nil {
		return p.outsDown
	}
	qs := make([]fabric.OutQueue, len(p.link.m2s))
	for i, q := range p.link.m2s {
		qs[i] = q
	}
	return qs
}

// SetRequeue implements fabric.Requeuer. It also catches up with a link
// change that happened while the port was being attached, and frees what
// was waiting for a grace period.
func (p *Port) SetRequeue(f func() error) {
	p.mu.Lock()
	p.requeue = f
	p.resyncs.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.resyncs.Done()
		p.transMu.Lock()
		defer p.transMu.Unlock()
		if err := f(); err != nil {
			return // being detached: Close frees the rest
		}
		p.mu.Lock()
		retired := p.retired
		p.retired = nil
		p.mu.Unlock()
		for _, l := range retired {
			l.free()
		}
	}()
}

// Status returns a snapshot of the port's state and counters.
func (p *Port) Status() PortStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status
	st.Rejects = make(map[string]uint64, len(p.status.Rejects))
	for k, v := range p.status.Rejects {
		st.Rejects[k] = v
	}
	return st
}

// reject counts a rejected input. Preconditions: p.mu is held.
func (p *Port) rejectLocked(category, reason string) {
	p.status.Rejects[category]++
	p.status.LastReject = reason
}

func (p *Port) reject(category, reason string) {
	p.mu.Lock()
	p.rejectLocked(category, reason)
	p.mu.Unlock()
}

// Close implements fabric.Backend: it disconnects the client (DISCONNECT
// "Port closed"), frees the ID on the server and all the memory.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	c := p.conn
	p.mu.Unlock()
	p.srv.removePort(p)
	if c != nil {
		c.halt("", "Port closed")
		<-c.done
	}
	p.resyncs.Wait()
	p.mu.Lock()
	retired := p.retired
	p.retired = nil
	p.mu.Unlock()
	for _, l := range retired {
		l.free()
	}
	for _, q := range p.in {
		q.close()
	}
	return unix.Munmap(p.junk)
}

// bind makes c the port's connection, unless it has one or is closed. A
// connection that is going away is waited for, until the handshake's
// deadline (closed when it expires) or until c is halted. A live one is
// given a moment to end too: a client that closes and redials at once can
// overtake its own DISCONNECT.
func (p *Port) bind(c *conn, deadline <-chan struct{}) (bound bool, category, reason string) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return false, RejectID, "ID not found"
		}
		old := p.conn
		if old == nil {
			p.conn = c
			p.mu.Unlock()
			return true, "", ""
		}
		p.mu.Unlock()
		var grace <-chan time.Time
		if old.stop.Load() == nil && !old.ending.Load() {
			grace = time.After(200 * time.Millisecond)
		}
		select {
		case <-old.done:
		case <-grace:
			return false, RejectBusy, "Already connected"
		case <-deadline:
			return false, RejectBusy, "Already connected"
		case <-c.halted:
			return false, "", "" // the caller reports c.stop
		}
	}
}

// unbind ends c's claim on the port.
func (p *Port) unbind(c *conn) {
	p.mu.Lock()
	if p.conn == c {
		p.conn = nil
	}
	p.mu.Unlock()
}

// up publishes l as the port's link. It returns an error if the port is
// being closed or detached; l is then retired or freed.
func (p *Port) up(l *link, peer, ifName string) error {
	p.transMu.Lock()
	defer p.transMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.free()
		return fmt.Errorf("port %d closed", p.cfg.ID)
	}
	p.link = l
	for i, s := range l.s2m {
		p.in[i].cur.Store(s)
	}
	rq := p.requeue
	st := &p.status
	st.Connected = true
	st.PeerName, st.IfName = peer, ifName
	st.S2MRings, st.M2SRings = len(l.s2m), len(l.m2s)
	st.Queues = min(len(l.s2m), len(l.m2s))
	st.Log2RingSize = l.log2
	st.BufSize = l.bufSize
	st.Regions = len(l.regions)
	st.Connects++
	p.mu.Unlock()
	for _, q := range p.in {
		q.wake()
	}
	if rq != nil {
		if err := rq(); err != nil {
			p.downLocked(l, "", "Port detached")
			return err
		}
	}
	return nil
}

// down takes l down and frees it once the fabric is done with it.
func (p *Port) down(l *link, category, reason string) {
	p.transMu.Lock()
	defer p.transMu.Unlock()
	p.downLocked(l, category, reason)
}

// Preconditions: p.transMu is held.
func (p *Port) downLocked(l *link, category, reason string) {
	l.down.Store(true)
	p.mu.Lock()
	if p.link == l {
		p.link = nil
		for _, q := range p.in {
			q.cur.Store(nil)
		}
	}
	rq, exposed := p.requeue, p.exposed
	st := &p.status
	st.Connected = false
	st.PeerName, st.IfName = "", ""
	st.Queues, st.S2MRings, st.M2SRings, st.Log2RingSize, st.BufSize, st.Regions = 0, 0, 0, 0, 0, 0
	st.Disconnects++
	st.LastDisconnect = reason
	if category != "" {
		p.rejectLocked(category, reason)
	}
	p.mu.Unlock()
	for _, q := range p.in {
		q.wake()
	}
	switch {
	case rq != nil && rq() == nil:
		l.free() // the grace period has passed
	case rq == nil && !exposed:
		l.free() // no fabric ever saw the port
	default:
		p.mu.Lock()
		p.retired = append(p.retired, l)
		p.mu.Unlock()
	}
}

// link is what one connected client shares with the switch: its mapped
// regions and its rings.
type link struct {
	port    *Port
	c       *conn
	regions [][]byte
	s2m     []*s2mQueue
	m2s     []*m2sQueue
	log2    uint8
	bufSize int

	down  atomic.Bool
	fault atomic.Bool

	// fdMu guards the eventfds and the mapping against being freed while
	// a goroutine outside the fabric's batches uses them (dupFd, and
	// s2mQueue.pending from Wait); freed is set once they are.
	fdMu  sync.RWMutex
	freed bool
}

// bytes returns the region bytes [off, off+length) if they lie inside a
// region.
func (l *link) bytes(region uint16, off, length uint32) ([]byte, bool) {
	if int(region) >= len(l.regions) || length > maxDescLen {
		return nil, false
	}
	m := l.regions[region]
	end := uint64(off) + uint64(length)
	if end > uint64(len(m)) {
		return nil, false
	}
	return m[off:end:end], true
}

// fail reports hostile or broken input seen on the data path: the link
// stops, and the connection goroutine disconnects the client with reason.
// Only the first call counts. fail never blocks.
func (l *link) fail(category, reason string) {
	if l.fault.CompareAndSwap(false, true) {
		l.down.Store(true)
		l.c.halt(category, reason)
	}
}

// dupFd duplicates one of the link's eventfds, unless they are closed.
func (l *link) dupFd(fd int) (int, bool) {
	l.fdMu.RLock()
	defer l.fdMu.RUnlock()
	if l.freed {
		return -1, false
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	return nfd, true
}

// free unmaps the regions and closes the eventfds. No goroutine may use the
// link's memory any more.
func (l *link) free() {
	l.fdMu.Lock()
	defer l.fdMu.Unlock()
	if l.freed {
		return
	}
	l.freed = true
	for _, s := range l.s2m {
		closeFds(s.evfd)
	}
	for _, q := range l.m2s {
		closeFds(q.evfd)
	}
	for _, m := range l.regions {
		unix.Munmap(m)
	}
}
