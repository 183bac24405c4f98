package memif

// The client side: what pktgen and the tests use, and what lets mswitch
// peer with a VPP or DPDK memif server.
//
// Memory layout, the same as DPDK's copy mode: one region holding every
// ring, then every buffer.
//
//	region 0: [S2M ring 0..n-1][M2S ring 0..n-1][pad to 64][buffers]
//	buffer of ring r (S2M first), slot j: (r*ringSize + j) * bufSize
//
// The client never trusts what the server writes into shared memory: it
// keeps its own table of buffers, reads only lengths and flags back (lengths
// clamped to the buffer size), and treats an index that jumps as a broken
// connection.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/internal/spin"
	"golang.org/x/sys/unix"
)

// ClientConfig configures a client connection.
type ClientConfig struct {
	ID     uint32 // interface ID on the server's socket
	Name   string // application name sent in INIT and interface name in CONNECT (at most 31 bytes)
	Secret string // presented to the server (at most 24 bytes)
	// Queues is the number of queue pairs wanted (default 1), clamped to
	// what the server offers.
	Queues int
	// Log2RingSize is the ring size wanted (default 10), clamped to what the
	// server offers.
	Log2RingSize uint8
	// BufSize is the size of every buffer (default 2048). Frames longer than
	// that are chained.
	BufSize int
	// Mode chooses how Wait waits for packets from the server.
	Mode Mode
}

// Client is a connected memif client.
//
// Send, Prefill and Replay on one queue, and Receive, Discard and Wait on
// one queue, must not be called concurrently with themselves; different
// queues, and the sending with the receiving calls, may run concurrently.
// Close may be called at any time from any goroutine: it waits for the
// calls in progress.
type Client struct {
	cfg      ClientConfig
	uc       *net.UnixConn
	queues   int
	bufSize  int
	log2     uint8
	peerName string
	ifName   string

	regionFd int
	region   []byte
	tx       []*clientRing // S2M
	rx       []*clientRing // M2S

	active  atomic.Int64 // data calls in progress
	closing atomic.Bool
	once    sync.Once

	done    chan struct{}
	errOnce sync.Once
	err     error
	reader  chan struct{} // closed when the reader goroutine exits
}

// clientRing is one ring and the client's private view of it.
type clientRing struct {
	r    ring
	evfd int
	file *os.File // M2S eventfd in the netpoller (Interrupt mode)
	bufs [][]byte // each slot's buffer, from the client's own layout
	offs []uint32 // each slot's buffer offset in the region
	head uint16   // S2M: next slot to fill; M2S: next slot to post
	last uint16   // S2M: unused; M2S: next slot to read
	tmpl []byte   // Prefill's frame
	fill bool     // every buffer holds tmpl (single-slot frames only)
	rbuf [8]byte
}

// Dial connects to the memif server at path (a leading '@' names an
// abstract socket) and runs the handshake. It returns once the server
// answered CONNECTED; a DISCONNECT instead is returned as a *RefusedError.
func Dial(path string, cfg ClientConfig) (*Client, error) {
	c, err := dial(path, cfg)
	if err != nil {
		return nil, fmt.Errorf("dial memif %s id %d: %w", path, cfg.ID, err)
	}
	return c, nil
}

func dial(path string, cfg ClientConfig) (*Client, error) {
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.Log2RingSize == 0 {
		cfg.Log2RingSize = DefaultLog2RingSize
	}
	if cfg.BufSize == 0 {
		cfg.BufSize = DefaultBufSize
	}
	switch {
	case cfg.Queues < 1 || cfg.Queues > 256:
		return nil, fmt.Errorf("%d queues outside [1, 256]", cfg.Queues)
	case cfg.Log2RingSize > 15:
		return nil, fmt.Errorf("log2 ring size %d above 15", cfg.Log2RingSize)
	case cfg.BufSize < 64 || cfg.BufSize > 65535:
		return nil, fmt.Errorf("buffer size %d outside [64, 65535]", cfg.BufSize)
	case len(cfg.Name) > MaxName:
		return nil, fmt.Errorf("name longer than %d bytes", MaxName)
	case len(cfg.Secret) > MaxSecret:
		return nil, fmt.Errorf("secret longer than %d bytes", MaxSecret)
	case cfg.Mode != Interrupt && cfg.Mode != Poll:
		return nil, fmt.Errorf("unknown mode %d", int(cfg.Mode))
	}
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, uc: uc, regionFd: -1, done: make(chan struct{}), reader: make(chan struct{})}
	if err := c.handshake(); err != nil {
		uc.Close()
		c.free()
		return nil, err
	}
	go c.read()
	return c, nil
}

// handshake runs HELLO .. CONNECTED.
func (c *Client) handshake() error {
	c.uc.SetDeadline(time.Now().Add(HandshakeTimeout))
	defer c.uc.SetDeadline(time.Time{})
	var buf [2 * msgSize]byte
	var oob [256]byte
	m, err := c.recv(buf[:], oob[:])
	if err != nil {
		return err
	}
	h, ok := m.(helloMsg)
	if !ok {
		return fmt.Errorf("server sent %v instead of HELLO", m.kind())
	}
	if h.MinVersion > version || h.MaxVersion < version {
		c.send(disconnectMsg{Reason: "Incompatible memif version"}, -1)
		return fmt.Errorf("server speaks memif versions %#x..%#x, not %#x", h.MinVersion, h.MaxVersion, version)
	}
	c.peerName = printable(h.Name)
	c.queues = min(c.cfg.Queues, int(h.MaxS2MRing)+1, int(h.MaxM2SRing)+1)
	c.log2 = min(c.cfg.Log2RingSize, h.MaxLog2RingSize)
	c.bufSize = c.cfg.BufSize
	if err := c.alloc(); err != nil {
		return err
	}
	msgs := []struct {
		m  message
		fd int
	}{
		{initMsg{Version: version, ID: c.cfg.ID, Mode: modeEthernet, Secret: c.cfg.Secret, Name: c.cfg.Name}, -1},
		{addRegionMsg{Index: 0, Size: uint64(len(c.region))}, c.regionFd},
	}
	rb := ringBytes(c.log2)
	for i, t := range c.tx {
		msgs = append(msgs, struct {
			m  message
			fd int
		}{addRingMsg{Flags: addRingS2M, Index: uint16(i), Offset: uint32(uint64(i) * rb), Log2RingSize: c.log2}, t.evfd})
	}
	for i, r := range c.rx {
		msgs = append(msgs, struct {
			m  message
			fd int
		}{addRingMsg{Index: uint16(i), Offset: uint32(uint64(c.queues+i) * rb), Log2RingSize: c.log2}, r.evfd})
	}
	msgs = append(msgs, struct {
		m  message
		fd int
	}{connectMsg{IfName: c.cfg.Name}, -1})
	for i, x := range msgs {
		if err := c.send(x.m, x.fd); err != nil {
			return err
		}
		m, err := c.recv(buf[:], oob[:])
		if err != nil {
			return err
		}
		want := msgAck
		if i == len(msgs)-1 {
			want = msgConnected
		}
		switch m := m.(type) {
		case disconnectMsg:
			return &RefusedError{Reason: printable(m.Reason)}
		case connectedMsg:
			if want == msgConnected {
				c.ifName = printable(m.IfName)
				continue
			}
		case ackMsg:
			if want == msgAck {
				continue
			}
		}
		c.send(disconnectMsg{Reason: "Unexpected message"}, -1)
		return fmt.Errorf("server sent %v after %v, want %v", m.kind(), x.m.kind(), want)
	}
	// Up: post every M2S buffer, wrap the M2S eventfds for Wait.
	for _, r := range c.rx {
		r.post(c)
		if c.cfg.Mode == Interrupt {
			fd, err := unix.FcntlInt(uintptr(r.evfd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("dup eventfd: %w", err)
			}
			r.file = os.NewFile(uintptr(fd), "memif-m2s-eventfd")
		}
	}
	return nil
}

func (c *Client) send(m message, fd int) error {
	b := encode(m)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	_, _, err := c.uc.WriteMsgUnix(b[:], oob, nil)
	return err
}

func (c *Client) recv(buf, oob []byte) (message, error) {
	m, fd, err := recvMsg(c.uc, buf, oob)
	closeFds(fd) // a server sends no fds
	return m, err
}

// alloc creates the region, the rings and the eventfds.
func (c *Client) alloc() error {
	nrings := 2 * c.queues
	size := uint64(1) << c.log2
	rb := ringBytes(c.log2)
	bufBase := (uint64(nrings)*rb + 63) &^ 63
	total := bufBase + uint64(nrings)*size*uint64(c.bufSize)
	if total > maxRegionSize {
		return fmt.Errorf("region of %d bytes too large: use fewer queues, smaller rings or smaller buffers", total)
	}
	fd, mem, err := createRegion(fmt.Sprintf("memif-client-%d", c.cfg.ID), total)
	if err != nil {
		return err
	}
	c.regionFd, c.region = fd, mem
	for i := 0; i < nrings; i++ {
		r := &clientRing{r: newRing(mem, uint64(i)*rb, c.log2), evfd: -1}
		if r.evfd, err = newEventfd(); err != nil {
			return err
		}
		r.bufs = make([][]byte, size)
		r.offs = make([]uint32, size)
		for j := range r.bufs {
			off := bufBase + (uint64(i)*size+uint64(j))*uint64(c.bufSize)
			r.offs[j] = uint32(off)
			r.bufs[j] = mem[off : off+uint64(c.bufSize) : off+uint64(c.bufSize)]
			r.r.desc[j] = desc{offset: uint32(off), length: uint32(c.bufSize)}
		}
		r.r.reset()
		r.r.setCookie()
		if i < c.queues {
			c.tx = append(c.tx, r)
		} else {
			if c.cfg.Mode == Poll {
				r.r.setFlags(ringFlagMaskInt)
			}
			c.rx = append(c.rx, r)
		}
	}
	return nil
}

// free releases the memory and fds; no data call may be in progress.
func (c *Client) free() {
	for _, r := range append(c.tx, c.rx...) {
		if r.file != nil {
			r.file.Close()
		}
		closeFds(r.evfd)
	}
	c.tx, c.rx = nil, nil
	if c.region != nil {
		unix.Munmap(c.region)
		c.region = nil
	}
	closeFds(c.regionFd)
	c.regionFd = -1
}

// read watches the socket once connected: a DISCONNECT or the end of the
// connection closes Done.
func (c *Client) read() {
	defer close(c.reader)
	var buf [2 * msgSize]byte
	var oob [256]byte
	for {
		m, err := c.recv(buf[:], oob[:])
		if err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				c.fail(fmt.Errorf("memif: bad message from server: %s", pe.reason))
				c.send(disconnectMsg{Reason: pe.reason}, -1)
			} else if c.closing.Load() {
				c.fail(fmt.Errorf("memif: client closed: %w", net.ErrClosed))
			} else {
				c.fail(fmt.Errorf("memif: connection closed by server"))
			}
			return
		}
		if d, ok := m.(disconnectMsg); ok {
			c.fail(&DisconnectedError{Reason: printable(d.Reason)})
			return
		}
		c.fail(fmt.Errorf("memif: unexpected %v from server", m.kind()))
		c.send(disconnectMsg{Reason: "Unexpected message"}, -1)
		return
	}
}

// fail records why the connection ended and closes Done; the first call
// wins.
func (c *Client) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		close(c.done)
		for _, r := range c.rx {
			if r.file != nil {
				r.file.SetReadDeadline(aLongTimeAgo)
			}
		}
	})
}

// Done is closed when the connection is lost: the server went away, sent
// DISCONNECT, broke the protocol, or Close was called.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why Done was closed; nil before.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Queues returns the number of queue pairs connected.
func (c *Client) Queues() int { return c.queues }

// BufSize returns the size of every buffer.
func (c *Client) BufSize() int { return c.bufSize }

// Log2RingSize returns the negotiated ring size (log2 of the slot count).
func (c *Client) Log2RingSize() uint8 { return c.log2 }

// PeerName returns the server's application name (from HELLO).
func (c *Client) PeerName() string { return c.peerName }

// IfName returns the server's interface name (from CONNECTED).
func (c *Client) IfName() string { return c.ifName }

// Close sends DISCONNECT, closes the connection and frees the memory, once
// the data calls in progress have returned.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.closing.Store(true)
		select {
		case <-c.done:
		default:
			c.uc.SetWriteDeadline(time.Now().Add(time.Second))
			c.send(disconnectMsg{Reason: "Client closed"}, -1)
		}
		c.fail(fmt.Errorf("memif: client closed: %w", net.ErrClosed))
		c.uc.Close()
		<-c.reader
		for c.active.Load() != 0 {
			time.Sleep(50 * time.Microsecond)
		}
		c.free()
	})
	return nil
}

// abort drops the connection without DISCONNECT, as a killed process
// would (for tests).
func (c *Client) abort() { c.uc.Close() }

// Ring directions for enter.
const (
	toServer   = false // S2M: the client's transmit rings
	fromServer = true  // M2S: the client's receive rings
)

// enter starts a data call on queue q of the rings in direction dir. The
// ring slices are read only after the call is counted as active and Close
// is known not to have started, since Close frees them once no call is
// active.
func (c *Client) enter(dir bool, q int, op string) (*clientRing, error) {
	c.active.Add(1)
	if c.closing.Load() {
		c.active.Add(-1)
		return nil, fmt.Errorf("memif %s: %w", op, net.ErrClosed)
	}
	rings := c.tx
	if dir == fromServer {
		rings = c.rx
	}
	select {
	case <-c.done:
		c.active.Add(-1)
		return nil, fmt.Errorf("memif %s: %w: %w", op, ErrNotConnected, c.err)
	default:
	}
	if q < 0 || q >= len(rings) {
		c.active.Add(-1)
		return nil, fmt.Errorf("memif %s: queue %d: %w", op, q, ErrQueue)
	}
	return rings[q], nil
}

func (c *Client) leave() { c.active.Add(-1) }

// free returns the S2M slots the client may fill now, or an error if the
// server moved tail beyond head.
func (t *clientRing) free() (uint32, error) {
	used := uint32(t.head - t.r.tail())
	if used > t.r.size {
		return 0, fmt.Errorf("memif: server moved S2M tail %d slots behind head, ring has %d", used, t.r.size)
	}
	return t.r.size - used, nil
}

// publish makes the filled S2M slots visible and signals the server
// unless it polls.
func (t *clientRing) publish() {
	t.r.setHead(t.head)
	if t.r.flags()&ringFlagMaskInt == 0 {
		signalFd(t.evfd)
	}
}

// Send copies frames into S2M queue q and returns how many fit: a frame
// longer than BufSize is chained over several buffers; the first frame that
// does not fit and the ones after it are not sent. Send never blocks. It
// overwrites what Prefill wrote.
func (c *Client) Send(q int, frames [][]byte) (int, error) {
	t, err := c.enter(toServer, q, "send")
	if err != nil {
		return 0, err
	}
	defer c.leave()
	return c.send1(t, frames)
}

// send1 is Send on ring t.
func (c *Client) send1(t *clientRing, frames [][]byte) (int, error) {
	free, err := t.free()
	if err != nil {
		c.fail(err)
		return 0, err
	}
	t.fill = false
	bs := c.bufSize
	sent := 0
	for _, f := range frames {
		k := uint32(1)
		if len(f) > bs {
			k = uint32((len(f) + bs - 1) / bs)
		}
		if k > free {
			break
		}
		for s := uint32(0); s < k; s++ {
			i := t.head & t.r.mask
			n := copy(t.bufs[i], f)
			f = f[n:]
			d := &t.r.desc[i]
			d.region, d.offset, d.length = 0, t.offs[i], uint32(n)
			if s+1 < k {
				d.flags = descFlagNext
			} else {
				d.flags = 0
			}
			t.head++
		}
		free -= k
		sent++
	}
	if sent > 0 {
		t.publish()
	}
	return sent, nil
}

// Prefill writes frame once into every buffer of S2M queue q, for Replay.
func (c *Client) Prefill(q int, frame []byte) error {
	t, err := c.enter(toServer, q, "prefill")
	if err != nil {
		return err
	}
	defer c.leave()
	if len(frame) > maxDescLen*64 {
		return fmt.Errorf("memif prefill: frame of %d bytes too long", len(frame))
	}
	t.tmpl = append(t.tmpl[:0], frame...)
	t.fill = len(frame) <= c.bufSize
	if t.fill {
		for _, b := range t.bufs {
			copy(b, frame)
		}
	}
	return nil
}

// Replay sends up to n copies of the frame given to Prefill and returns
// how many fit. A frame that fits one buffer costs no copy at all, only a
// descriptor update; a longer one is copied in chained buffers. Replay
// assumes the switch does not rewrite the packets it receives in place.
func (c *Client) Replay(q int, n int) (int, error) {
	t, err := c.enter(toServer, q, "replay")
	if err != nil {
		return 0, err
	}
	defer c.leave()
	if t.tmpl == nil {
		return 0, fmt.Errorf("memif replay: queue %d was not prefilled", q)
	}
	free, err := t.free()
	if err != nil {
		c.fail(err)
		return 0, err
	}
	if !t.fill {
		if len(t.tmpl) <= c.bufSize {
			// Send overwrote the buffers: fill them again.
			for _, b := range t.bufs {
				copy(b, t.tmpl)
			}
			t.fill = true
		} else {
			k := (len(t.tmpl) + c.bufSize - 1) / c.bufSize
			n = min(n, int(free)/k)
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = t.tmpl
			}
			return c.send1(t, frames)
		}
	}
	n = min(n, int(free))
	length := uint32(len(t.tmpl))
	for p := 0; p < n; p++ {
		i := t.head & t.r.mask
		d := &t.r.desc[i]
		d.region, d.offset, d.length, d.flags = 0, t.offs[i], length, 0
		t.head++
	}
	if n > 0 {
		t.publish()
	}
	return n, nil
}

// available returns the number of M2S slots the server published and the
// client has not read, or an error if the index jumped.
func (r *clientRing) available() (uint16, error) {
	n := r.r.tail() - r.last
	if uint32(n) > r.r.size {
		return 0, fmt.Errorf("memif: server moved M2S tail %d slots ahead, ring has %d", n, r.r.size)
	}
	return n, nil
}

// post hands every read M2S slot back to the server with a full buffer.
func (r *clientRing) post(c *Client) {
	end := r.last + uint16(r.r.size)
	if r.head == end {
		return
	}
	for h := r.head; h != end; h++ {
		i := h & r.r.mask
		r.r.desc[i] = desc{offset: r.offs[i], length: uint32(c.bufSize)}
	}
	r.head = end
	r.r.setHead(end)
}

// Receive copies the packets the server delivered on M2S queue q into
// bufs, their full lengths into sizes (a packet longer than its buf is
// truncated), and returns how many; the ring is then refilled. It never
// blocks; see Wait.
func (c *Client) Receive(q int, bufs [][]byte, sizes []int) (int, error) {
	r, err := c.enter(fromServer, q, "receive")
	if err != nil {
		return 0, err
	}
	defer c.leave()
	avail, err := r.available()
	if err != nil {
		c.fail(err)
		return 0, err
	}
	end := r.last + avail
	n := 0
	cur := r.last
	for cur != end && n < len(bufs) && n < len(sizes) {
		start, size := cur, 0
		complete := false
		for cur != end {
			i := cur & r.r.mask
			d := &r.r.desc[i]
			l, more := min(int(d.length), c.bufSize), d.flags&descFlagNext != 0
			if size < len(bufs[n]) {
				copy(bufs[n][size:], r.bufs[i][:l])
			}
			size += l
			cur++
			if !more {
				complete = true
				break
			}
		}
		if !complete {
			cur = start // the server publishes whole packets; wait for the rest
			break
		}
		sizes[n] = size
		n++
	}
	r.last = cur
	r.post(c)
	return n, nil
}

// Discard consumes every packet the server delivered on M2S queue q
// without copying it, refills the ring, and returns the number of packets
// and their bytes.
func (c *Client) Discard(q int) (n int, bytes uint64, err error) {
	r, err := c.enter(fromServer, q, "discard")
	if err != nil {
		return 0, 0, err
	}
	defer c.leave()
	avail, err := r.available()
	if err != nil {
		c.fail(err)
		return 0, 0, err
	}
	end := r.last + avail
	cur := r.last
	for ; cur != end; cur++ {
		d := &r.r.desc[cur&r.r.mask]
		bytes += uint64(min(d.length, uint32(c.bufSize)))
		if d.flags&descFlagNext == 0 {
			n++
		}
	}
	r.last = cur
	r.post(c)
	return n, bytes, nil
}

// Wait blocks until M2S queue q has packets (true), the timeout expires
// (false; a negative timeout waits forever) or the connection is lost (an
// error). In Interrupt mode it sleeps on the ring's eventfd; in Poll mode
// it polls the ring, yielding the core more and more (spin.Backoff).
func (c *Client) Wait(q int, timeout time.Duration) (bool, error) {
	r, err := c.enter(fromServer, q, "wait")
	if err != nil {
		return false, err
	}
	defer c.leave()
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	idle := spin.Backoff{Awake: time.Millisecond} // poll mode
	for {
		avail, err := r.available()
		if err != nil {
			c.fail(err)
			return false, err
		}
		if avail != 0 {
			return true, nil
		}
		select {
		case <-c.done:
			return false, fmt.Errorf("memif wait: %w: %w", ErrNotConnected, c.err)
		default:
		}
		if timeout >= 0 && !time.Now().Before(deadline) {
			return false, nil
		}
		if r.file == nil { // Poll mode
			idle.Wait()
			continue
		}
		r.file.SetReadDeadline(deadline)
		select {
		case <-c.done: // fail set a past deadline, maybe before ours
			continue
		default:
		}
		if avail, _ := r.available(); avail == 0 {
			r.file.Read(r.rbuf[:])
		}
	}
}
