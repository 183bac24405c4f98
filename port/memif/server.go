package memif

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// HandshakeTimeout bounds a client's handshake, from accept to CONNECT: a
// client that stalls cannot hold an interface ID longer than that.
const HandshakeTimeout = 5 * time.Second

// handshakeTimeout is HandshakeTimeout, shortened by tests.
var handshakeTimeout = HandshakeTimeout

// ServerOptions configures a server.
type ServerOptions struct {
	// Name is the application name sent in HELLO; default "mswitch".
	Name string
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// ServerStatus holds the counters of connections that never reached a port.
type ServerStatus struct {
	Accepted uint64
	// Rejects counts refused handshakes not attributable to a port (an
	// unknown ID, a bad first message), by reason.
	Rejects map[string]uint64
}

// Server is the listening side of a memif socket: it serves many ports,
// told apart by interface ID. All methods are safe for concurrent use.
type Server struct {
	path string
	name string
	log  *slog.Logger
	ln   *net.UnixListener

	mu sync.Mutex
	// Guarded by mu.
	ports    map[uint32]*Port
	conns    map[*conn]struct{}
	closed   bool
	accepted uint64
	rejects  map[string]uint64

	wg sync.WaitGroup // the accept loop and the connections
}

// Listen creates a memif socket at path and serves it. A path starting with
// '@' names an abstract socket. A stale socket file (no one listening) is
// replaced; a socket in use by a live listener is an error. The socket file
// gets mode 0660.
func Listen(path string, opts ServerOptions) (*Server, error) {
	if opts.Name == "" {
		opts.Name = "mswitch"
	}
	if len(opts.Name) > MaxName {
		return nil, fmt.Errorf("listen on memif socket %s: application name longer than %d bytes", path, MaxName)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	abstract := strings.HasPrefix(path, "@")
	if !abstract {
		if err := removeStale(path); err != nil {
			return nil, err
		}
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("memif socket %s is in use by another listener", path)
		}
		return nil, fmt.Errorf("listen on memif socket %s: %w", path, err)
	}
	if !abstract {
		if err := os.Chmod(path, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("listen on memif socket %s: %w", path, err)
		}
	}
	s := &Server{
		path:    path,
		name:    opts.Name,
		log:     opts.Logger.With("socket", path),
		ln:      ln,
		ports:   map[uint32]*Port{},
		conns:   map[*conn]struct{}{},
		rejects: map[string]uint64{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// removeStale removes a socket file nobody listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen on memif socket %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("listen on memif socket %s: the path exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unixpacket", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("memif socket %s is in use by another listener", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("memif socket %s is in use by another listener (%v)", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale memif socket %s: %w", path, err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Status returns the server-level counters.
func (s *Server) Status() ServerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServerStatus{Accepted: s.accepted, Rejects: make(map[string]uint64, len(s.rejects))}
	for k, v := range s.rejects {
		st.Rejects[k] = v
	}
	return st
}

// NewPort creates an interface on the socket. It forwards nothing until it
// is attached to a switch and a client connects.
func (s *Server) NewPort(cfg PortConfig) (*Port, error) {
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.Log2RingSize == 0 {
		cfg.Log2RingSize = DefaultLog2RingSize
	}
	switch {
	case cfg.Queues < 1 || cfg.Queues > MaxQueues:
		return nil, fmt.Errorf("create memif port %d: %d queues outside [1, %d]", cfg.ID, cfg.Queues, MaxQueues)
	case cfg.Log2RingSize > MaxLog2RingSize:
		return nil, fmt.Errorf("create memif port %d: log2 ring size %d above %d", cfg.ID, cfg.Log2RingSize, MaxLog2RingSize)
	case len(cfg.Secret) > MaxSecret:
		return nil, fmt.Errorf("create memif port %d: secret longer than %d bytes", cfg.ID, MaxSecret)
	case len(cfg.Name) > MaxName:
		return nil, fmt.Errorf("create memif port %d: name longer than %d bytes", cfg.ID, MaxName)
	case cfg.Mode != Interrupt && cfg.Mode != Poll:
		return nil, fmt.Errorf("create memif port %d: unknown mode %d", cfg.ID, int(cfg.Mode))
	case strings.IndexByte(cfg.Secret, 0) >= 0:
		return nil, fmt.Errorf("create memif port %d: secret contains a NUL byte", cfg.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("create memif port %d: %w", cfg.ID, ErrServerClosed)
	}
	if _, ok := s.ports[cfg.ID]; ok {
		return nil, fmt.Errorf("create memif port %d on %s: %w", cfg.ID, s.path, ErrIDInUse)
	}
	p, err := newPort(s, cfg)
	if err != nil {
		return nil, fmt.Errorf("create memif port %d: %w", cfg.ID, err)
	}
	s.ports[cfg.ID] = p
	return p, nil
}

func (s *Server) removePort(p *Port) {
	s.mu.Lock()
	if s.ports[p.cfg.ID] == p {
		delete(s.ports, p.cfg.ID)
	}
	s.mu.Unlock()
}

// offer returns the most queue pairs and the largest ring any port offers
// (the defaults if there is no port).
func (s *Server) offer() (queues int, log2 uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.ports {
		queues = max(queues, p.cfg.Queues)
		log2 = max(log2, p.cfg.Log2RingSize)
	}
	if queues == 0 {
		return 1, DefaultLog2RingSize
	}
	return queues, log2
}

func (s *Server) lookup(id uint32) *Port {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[id]
}

// Close stops listening, disconnects every client (DISCONNECT "Server
// closed") and removes the socket file. The ports stay, down; they still
// must be closed (detached) on their own.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.halt("", "Server closed")
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("close memif socket %s: %w", s.path, err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		uc, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			s.log.Warn("memif accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := &conn{s: s, uc: uc, halted: make(chan struct{}), done: make(chan struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			uc.Close()
			return
		}
		s.accepted++
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// conn is one client connection, served by its own goroutine.
type conn struct {
	s      *Server
	uc     *net.UnixConn
	port   *Port // after INIT
	stop   atomic.Pointer[stopReason]
	ending atomic.Bool   // the connection is being taken down: a new one may wait for it
	halted chan struct{} // closed by the first halt
	done   chan struct{}
	log    *slog.Logger

	buf [2 * msgSize]byte
	oob [256]byte
}

type stopReason struct{ category, reason string }

// aLongTimeAgo is a deadline that wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// halt asks the connection goroutine to disconnect the client with reason,
// counted as a reject of category unless it is empty. Only the first call
// counts. It never blocks.
func (c *conn) halt(category, reason string) {
	if c.stop.CompareAndSwap(nil, &stopReason{category, reason}) {
		close(c.halted)
		c.uc.SetReadDeadline(aLongTimeAgo)
	}
}

// protoError is a handshake failure: the DISCONNECT reason sent to the
// client, and the reject counter it bumps.
type protoError struct{ category, reason string }

func (e *protoError) Error() string { return e.reason }

func refuse(category, format string, args ...any) *protoError {
	return &protoError{category, fmt.Sprintf(format, args...)}
}

// serve runs the connection: handshake, then wait for the end.
func (c *conn) serve() {
	defer func() {
		c.uc.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		close(c.done)
		c.s.wg.Done()
	}()
	c.log = c.s.log
	// A halt that came before the goroutine ran set no deadline yet.
	if c.s.isClosed() {
		c.halt("", "Server closed")
	}
	start := time.Now()
	c.uc.SetDeadline(start.Add(handshakeTimeout))
	if c.stop.Load() != nil {
		c.uc.SetReadDeadline(aLongTimeAgo)
	}
	l, err := c.handshake(start.Add(handshakeTimeout))
	if err != nil {
		c.refused(err)
		return
	}
	c.uc.SetDeadline(time.Time{})
	if c.stop.Load() != nil {
		c.uc.SetReadDeadline(aLongTimeAgo)
	}
	c.connected(l)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// refused ends a failed handshake: DISCONNECT with the reason, counted at
// the port if the client got that far, else at the server. The port is
// free again before the client reads the reason, so it may retry at once.
func (c *conn) refused(err error) {
	c.ending.Store(true)
	var pe *protoError
	switch {
	case errors.As(err, &pe):
	case c.stop.Load() != nil:
		st := c.stop.Load()
		pe = &protoError{st.category, st.reason}
	case isTimeout(err):
		pe = &protoError{RejectTimeout, "Handshake timeout"}
	default: // the client went away
		if c.port != nil {
			c.port.unbind(c)
		}
		c.log.Debug("memif client left during handshake", "err", err)
		return
	}
	if pe.category != "" {
		if c.port != nil {
			c.port.reject(pe.category, pe.reason)
		} else {
			c.s.mu.Lock()
			c.s.rejects[pe.category]++
			c.s.mu.Unlock()
		}
		c.log.Warn("memif client refused", "reason", pe.reason)
	}
	if c.port != nil {
		c.port.unbind(c)
	}
	if pe.reason != "" {
		c.send(disconnectMsg{Reason: pe.reason}, -1)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// send writes one message, with fd attached if >= 0.
func (c *conn) send(m message, fd int) error {
	b := encode(m)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	c.uc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _, err := c.uc.WriteMsgUnix(b[:], oob, nil)
	return err
}

// recv reads one message and the fd it carries (-1 if none). A message
// of the wrong size, with more than one fd or truncated control data is a
// protoError; every fd received with it is closed.
func (c *conn) recv() (message, int, error) {
	return recvMsg(c.uc, c.buf[:], c.oob[:])
}

func recvMsg(uc *net.UnixConn, buf, oob []byte) (message, int, error) {
	n, oobn, flags, _, err := uc.ReadMsgUnix(buf, oob)
	fds := parseRights(oob[:oobn])
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		closeFds(fds...)
		return nil, -1, err
	}
	if flags&unix.MSG_CTRUNC != 0 || len(fds) > 1 {
		closeFds(fds...)
		return nil, -1, refuse(RejectMessage, "Too many file descriptors")
	}
	if flags&unix.MSG_TRUNC != 0 || n != msgSize {
		closeFds(fds...)
		return nil, -1, refuse(RejectMessage, "Invalid message size")
	}
	m, err := decode(buf[:n])
	if err != nil {
		closeFds(fds...)
		return nil, -1, refuse(RejectMessage, "Unknown message type")
	}
	fd := -1
	if len(fds) == 1 {
		fd = fds[0]
	}
	return m, fd, nil
}

// parseRights returns every fd in SCM_RIGHTS control messages.
func parseRights(oob []byte) []int {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// setup collects what a client announces before CONNECT.
type setup struct {
	regions     []regionSetup
	s2m, m2s    []ringSetup
	peer        string
	ringsBegun  bool
	offeredLog2 uint8 // in HELLO
}

type regionSetup struct {
	fd   int
	size uint64
}

type ringSetup struct {
	present bool
	fd      int
	region  uint16
	offset  uint32
	log2    uint8
}

func (st *setup) close() {
	for _, r := range st.regions {
		closeFds(r.fd)
	}
	for _, r := range st.s2m {
		if r.present {
			closeFds(r.fd)
		}
	}
	for _, r := range st.m2s {
		if r.present {
			closeFds(r.fd)
		}
	}
	*st = setup{}
}

// handshake runs HELLO .. CONNECTED, lock-step: one reply per message.
func (c *conn) handshake(deadline time.Time) (*link, error) {
	// HELLO goes out before INIT names the interface: it offers the
	// largest queue count and ring of the socket's ports. ADD_RING
	// enforces the port's own queue count (its input queues are fixed) and
	// the ring size offered.
	queues, log2 := c.s.offer()
	err := c.send(helloMsg{
		Name:            c.s.name,
		MinVersion:      version,
		MaxVersion:      version,
		MaxRegion:       maxRegions - 1,
		MaxM2SRing:      uint16(queues - 1),
		MaxS2MRing:      uint16(queues - 1),
		MaxLog2RingSize: log2,
	}, -1)
	if err != nil {
		return nil, err
	}
	st := &setup{offeredLog2: log2}
	defer st.close()
	expired := make(chan struct{})
	t := time.AfterFunc(time.Until(deadline), func() { close(expired) })
	defer t.Stop()
	for {
		if r := c.stop.Load(); r != nil {
			return nil, &protoError{r.category, r.reason}
		}
		m, fd, err := c.recv()
		if err != nil {
			return nil, err
		}
		l, err := c.step(st, m, fd, expired)
		if err != nil || l != nil {
			return l, err
		}
		if err := c.send(ackMsg{}, -1); err != nil {
			return nil, err
		}
	}
}

// step handles one handshake message. It takes ownership of fd. It returns
// the link once CONNECT succeeded and CONNECTED was sent.
func (c *conn) step(st *setup, m message, fd int, expired <-chan struct{}) (*link, error) {
	takesFd := false
	switch m.(type) {
	case addRegionMsg, addRingMsg:
		takesFd = true
	}
	if !takesFd && fd >= 0 {
		closeFds(fd)
		return nil, refuse(RejectMessage, "Unexpected file descriptor with %v", m.kind())
	}
	if c.port == nil {
		im, ok := m.(initMsg)
		if !ok {
			closeFds(fd)
			return nil, refuse(RejectMessage, "Unexpected message")
		}
		return nil, c.init(im, st, expired)
	}
	p := c.port
	switch m := m.(type) {
	case addRegionMsg:
		if st.ringsBegun {
			closeFds(fd)
			return nil, refuse(RejectMessage, "Unexpected message")
		}
		return nil, c.addRegion(st, m, fd)
	case addRingMsg:
		st.ringsBegun = true
		return nil, c.addRing(st, p, m, fd)
	case connectMsg:
		peer := st.peer
		l, err := c.connect(st, p)
		if err != nil {
			return nil, err
		}
		if err := p.up(l, peer, printable(m.IfName)); err != nil {
			return nil, &protoError{"", "Port closed"}
		}
		if err := c.send(connectedMsg{IfName: p.cfg.Name}, -1); err != nil {
			p.down(l, "", "connection lost")
			return nil, err
		}
		c.log.Info("memif client connected", "peer", peer, "s2m", len(l.s2m), "m2s", len(l.m2s),
			"log2", l.log2, "bufsize", l.bufSize)
		return l, nil
	default:
		return nil, refuse(RejectMessage, "Unexpected message")
	}
}

func (c *conn) init(m initMsg, st *setup, expired <-chan struct{}) error {
	p := c.s.lookup(m.ID)
	if p == nil {
		return refuse(RejectID, "ID not found")
	}
	if m.Version != version {
		p.reject(RejectVersion, "Incompatible memif version")
		return refuse("", "Incompatible memif version")
	}
	bound, category, reason := p.bind(c, expired)
	if !bound {
		if r := c.stop.Load(); r != nil {
			return &protoError{r.category, r.reason}
		}
		if category != RejectID {
			p.reject(category, reason)
			category = ""
		}
		return refuse(category, "%s", reason)
	}
	c.port = p
	c.log = c.s.log.With("id", p.cfg.ID)
	if m.Mode != modeEthernet {
		return refuse(RejectMode, "Only ethernet mode supported")
	}
	if p.cfg.Secret != "" {
		if m.Secret == "" {
			return refuse(RejectSecret, "Secret required")
		}
		if subtle.ConstantTimeCompare([]byte(m.Secret), []byte(p.cfg.Secret)) != 1 {
			return refuse(RejectSecret, "Incorrect secret")
		}
	}
	st.peer = printable(m.Name)
	return nil
}

func (c *conn) addRegion(st *setup, m addRegionMsg, fd int) error {
	if fd < 0 {
		return refuse(RejectRegion, "Missing region fd")
	}
	if int(m.Index) != len(st.regions) || len(st.regions) >= maxRegions {
		closeFds(fd)
		return refuse(RejectRegion, "Invalid region index %d", m.Index)
	}
	if m.Size == 0 || m.Size > maxRegionSize {
		closeFds(fd)
		return refuse(RejectRegion, "Invalid region size %d", m.Size)
	}
	if err := checkRegionFd(fd, m.Size); err != nil {
		closeFds(fd)
		return refuse(RejectRegion, "Bad region %d: %v", m.Index, err)
	}
	st.regions = append(st.regions, regionSetup{fd: fd, size: m.Size})
	return nil
}

func (c *conn) addRing(st *setup, p *Port, m addRingMsg, fd int) error {
	if fd < 0 {
		return refuse(RejectRing, "Missing interrupt fd")
	}
	bad := func(format string, args ...any) error {
		closeFds(fd)
		return refuse(RejectRing, format, args...)
	}
	rings := &st.m2s
	dir := "M2S"
	if m.Flags&addRingS2M != 0 {
		rings, dir = &st.s2m, "S2M"
	}
	switch {
	case int(m.Index) >= p.cfg.Queues:
		return bad("Invalid ring index: %s %d, %d offered", dir, m.Index, p.cfg.Queues)
	case int(m.Index) < len(*rings) && (*rings)[m.Index].present:
		return bad("Invalid ring index: %s %d added twice", dir, m.Index)
	case m.Log2RingSize > st.offeredLog2:
		return bad("Invalid ring size: log2 %d above %d", m.Log2RingSize, st.offeredLog2)
	case int(m.Region) >= len(st.regions):
		return bad("Invalid ring region %d", m.Region)
	case m.Offset%8 != 0:
		return bad("Ring offset %d not 8-byte aligned", m.Offset)
	case uint64(m.Offset)+ringBytes(m.Log2RingSize) > st.regions[m.Region].size:
		return bad("Ring outside region: offset %d + %d bytes > %d", m.Offset, ringBytes(m.Log2RingSize), st.regions[m.Region].size)
	}
	if err := checkEventfd(fd); err != nil {
		return bad("Bad interrupt fd: %v", err)
	}
	for len(*rings) <= int(m.Index) {
		*rings = append(*rings, ringSetup{fd: -1})
	}
	(*rings)[m.Index] = ringSetup{present: true, fd: fd, region: m.Region, offset: m.Offset, log2: m.Log2RingSize}
	return nil
}

// connect checks that the rings are complete, maps the regions and builds
// the link. On success the link owns the fds (st no longer does).
func (c *conn) connect(st *setup, p *Port) (*link, error) {
	for _, rs := range [][]ringSetup{st.s2m, st.m2s} {
		if len(rs) == 0 {
			return nil, refuse(RejectRing, "Missing rings: need at least one in each direction")
		}
		for i, r := range rs {
			if !r.present {
				return nil, refuse(RejectRing, "Missing ring %d", i)
			}
		}
	}
	l := &link{port: p, c: c, log2: st.s2m[0].log2}
	for i, r := range st.regions {
		mem, err := mapRegion(r.fd, r.size)
		if err != nil {
			l.free()
			return nil, refuse(RejectRegion, "Bad region %d: %v", i, err)
		}
		l.regions = append(l.regions, mem)
	}
	view := func(r ringSetup) ring { return newRing(l.regions[r.region], uint64(r.offset), r.log2) }
	for i, r := range st.s2m {
		v := view(r)
		if ck := v.cookie(); ck != cookie {
			l.free()
			return nil, refuse(RejectRing, "Wrong ring: S2M %d cookie %#x", i, ck)
		}
		l.s2m = append(l.s2m, &s2mQueue{l: l, idx: i, r: v, evfd: -1, poll: p.cfg.Mode == Poll})
	}
	bufSize := 0
	for i, r := range st.m2s {
		v := view(r)
		if ck := v.cookie(); ck != cookie {
			l.free()
			return nil, refuse(RejectRing, "Wrong ring: M2S %d cookie %#x", i, ck)
		}
		for j := range v.desc {
			if n := int(v.desc[j].length); n != 0 && (bufSize == 0 || n < bufSize) {
				bufSize = n
			}
		}
		l.m2s = append(l.m2s, &m2sQueue{l: l, idx: i, r: v, evfd: -1, checked: make([]checkedBuf, v.size)})
	}
	switch {
	case bufSize == 0:
		bufSize = DefaultBufSize
	case bufSize < 1024:
		l.free()
		return nil, refuse(RejectRing, "M2S buffers of %d bytes, below 1024", bufSize)
	case bufSize > maxDescLen:
		bufSize = maxDescLen
	}
	l.bufSize = bufSize
	// From here on nothing fails: the link takes the fds.
	for _, r := range st.regions {
		closeFds(r.fd) // the mappings keep the memory
	}
	for i, s := range l.s2m {
		s.evfd = st.s2m[i].fd
		s.r.reset()
		if s.poll {
			s.r.setFlags(ringFlagMaskInt)
		} else {
			s.r.setFlags(0)
		}
	}
	for i, q := range l.m2s {
		q.evfd = st.m2s[i].fd
		q.bufSize = bufSize
		q.r.reset()
	}
	*st = setup{}
	return l, nil
}

// connected waits for the end of an established link, then takes it down.
func (c *conn) connected(l *link) {
	p := c.port
	category, reason, tell := "", "", true
	for {
		m, fd, err := c.recv()
		if r := c.stop.Load(); r != nil {
			closeFds(fd)
			category, reason = r.category, r.reason
			break
		}
		if err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				category, reason = pe.category, pe.reason
				break
			}
			if isTimeout(err) { // a stale deadline; halt sets stop first
				c.uc.SetReadDeadline(time.Time{})
				continue
			}
			reason, tell = "connection closed", false
			break
		}
		closeFds(fd)
		if d, ok := m.(disconnectMsg); ok {
			reason, tell = "peer: "+printable(d.Reason), false
			break
		}
		category, reason = RejectMessage, "Unexpected message"
		break
	}
	c.ending.Store(true) // a reconnecting client waits for the teardown
	if tell {
		c.send(disconnectMsg{Reason: reason}, -1)
	}
	c.uc.Close() // the client sees the end before the grace period
	p.down(l, category, reason)
	p.unbind(c)
	if category != "" {
		c.log.Warn("memif client disconnected", "reason", reason)
	} else {
		c.log.Info("memif client disconnected", "reason", reason)
	}
}
