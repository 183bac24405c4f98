package channel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// Defaults of Options.
const (
	DefaultProbeInterval = 5 * time.Second
	DefaultMinBackoff    = 1 * time.Second
	DefaultMaxBackoff    = 8 * time.Second
	DefaultQueueLen      = 256
	// DefaultMissSendLen is the spec's initial miss_send_len.
	DefaultMissSendLen = 128
)

// Options configure a Switch. The zero value listens nowhere and dials
// nobody; set Targets.
type Options struct {
	// Targets are the controllers to dial and the addresses to listen on.
	Targets []Target

	// FailMode is reported in Status; the datapath applies it when
	// OnControllerState says no controller is connected.
	FailMode FailMode

	// OnControllerState, when set, is called with false once no
	// controller connection has been up (handshake done, any target,
	// active or passive) for FailTimeout, counted from Start or from the
	// last disconnection, and with true when a controller connects again
	// after that. It is not called at Start: until the first report the
	// switch counts as connected. Calls come from one goroutine, one at
	// a time, in order; the callback must not block for long and must not
	// call Close.
	OnControllerState func(connected bool)

	// FailTimeout is how long the switch waits without a controller before
	// reporting it; 0 means 3 × ProbeInterval (as OVS), or 15 s without
	// probes.
	FailTimeout time.Duration

	// ProbeInterval: after this long without a message from a controller,
	// the switch sends an ECHO_REQUEST, and after twice this long it drops
	// the connection; a write that cannot complete in twice this long also
	// drops it. 0 means DefaultProbeInterval; a negative value disables
	// probes and write timeouts.
	ProbeInterval time.Duration

	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// to an active target: the wait starts at MinBackoff, doubles after
	// each failure up to MaxBackoff, and is reset once a connection
	// completes its handshake. 0 means the defaults (1 s, 8 s).
	MinBackoff, MaxBackoff time.Duration

	// QueueLen bounds each connection's output queue, in queue entries (a
	// message, or all replies to one request). An asynchronous message
	// that finds the queue full is dropped and counted; replies wait.
	// 0 means DefaultQueueLen.
	QueueLen int

	// Logger receives connection state changes and protocol errors; nil
	// means slog.Default().
	Logger *slog.Logger
}

// A Switch is the switch side of the OpenFlow channel: it keeps the
// connections to the controllers, answers what belongs to the channel and
// passes the rest to its Datapath.
//
// Its methods are safe for concurrent use. PacketIn, FlowRemoved and
// PortStatus never block and may be called before Start and after Close
// (they then deliver nothing).
type Switch struct {
	dp   Datapath
	opts Options
	log  *slog.Logger
	desc ofp.DescReply // defaults for the DESC reply

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// config is the shared switch configuration: flags<<16 | miss_send_len.
	config atomic.Uint32

	// live lists the connections past their handshake, for async delivery;
	// replaced as a whole under mu.
	live atomic.Pointer[[]*conn]

	asyncDrops atomic.Uint64
	ctrlEvents chan int // +1 / -1 as connections go live and die

	connIDs atomic.Uint64 // the last ConnID given out

	mu        sync.Mutex
	started   bool
	closed    bool
	listeners []net.Listener
	conns     map[*conn]struct{} // every open connection
	targets   []*targetState
	genID     uint64 // the largest generation_id seen (spec 6.3.6)
	genIDSet  bool
}

// targetState is what Status reports about one target.
type targetState struct {
	target Target
	state  string // listening, connecting, backoff, connected
	err    string // the last failure
}

// New returns a Switch over dp; Start connects it.
func New(dp Datapath, opts Options) (*Switch, error) {
	if dp == nil {
		return nil, errors.New("new switch: nil datapath")
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.FailTimeout <= 0 {
		opts.FailTimeout = 15 * time.Second
		if opts.ProbeInterval > 0 {
			opts.FailTimeout = 3 * opts.ProbeInterval
		}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.MaxBackoff < opts.MinBackoff {
		return nil, fmt.Errorf("new switch: max backoff %v below min backoff %v", opts.MaxBackoff, opts.MinBackoff)
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	for _, t := range opts.Targets {
		if t.Network != "tcp" && t.Network != "unix" {
			return nil, fmt.Errorf("new switch: target %v: unknown network %q", t, t.Network)
		}
	}
	s := &Switch{
		dp:         dp,
		opts:       opts,
		log:        opts.Logger,
		ctrlEvents: make(chan int, 16),
		conns:      make(map[*conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.desc = ofp.DescReply{MfrDesc: "mswitch", HWDesc: "mswitch userspace software switch",
		SWDesc: softwareVersion(), SerialNum: "None", DPDesc: "None"}
	s.config.Store(DefaultMissSendLen)
	s.live.Store(new([]*conn))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// softwareVersion names the running build for the DESC reply.
func softwareVersion() string {
	v := "mswitch"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return v + " " + bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return v + " " + s.Value[:12]
		}
	}
	return v + " (devel)"
}

// Start listens on the passive targets and starts dialing the active ones.
// It fails, having opened nothing, when a passive target cannot listen.
func (s *Switch) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if s.started {
		return errors.New("start switch: already started")
	}
	var lns []net.Listener
	for _, t := range s.opts.Targets {
		if !t.Passive {
			continue
		}
		ln, err := listen(t)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("start switch: %w", err)
		}
		lns = append(lns, ln)
	}
	s.started = true
	s.listeners = lns
	if s.opts.OnControllerState != nil {
		s.wg.Add(1)
		go s.routineControllerState()
	}
	i := 0
	for _, t := range s.opts.Targets {
		ts := &targetState{target: t}
		s.targets = append(s.targets, ts)
		s.wg.Add(1)
		if t.Passive {
			ts.state = "listening"
			go s.routineAccept(lns[i], ts)
			i++
		} else {
			ts.state = "connecting"
			go s.routineDial(ts)
		}
	}
	return nil
}

// listen opens a passive target; a stale unix socket file is replaced.
func listen(t Target) (net.Listener, error) {
	if t.Network == "unix" {
		if fi, err := os.Lstat(t.Address); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			os.Remove(t.Address)
		}
	}
	ln, err := net.Listen(t.Network, t.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %v: %w", t, err)
	}
	return ln, nil
}

// Close closes the listeners and every connection and waits for the
// switch's goroutines to end. The Switch cannot be started again.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	lns := s.listeners
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.close(net.ErrClosed)
	}
	s.wg.Wait()
	return nil
}

// ListenAddrs returns the addresses the passive targets listen on (with
// the port the system chose for ptcp:0), after Start.
func (s *Switch) ListenAddrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a []net.Addr
	for _, ln := range s.listeners {
		a = append(a, ln.Addr())
	}
	return a
}

// Config returns the switch configuration the controllers set with
// SET_CONFIG: the ofp.Frag* flags and miss_send_len. It is shared by all
// connections and survives reconnections.
func (s *Switch) Config() (flags, missSendLen uint16) {
	v := s.config.Load()
	return uint16(v >> 16), uint16(v)
}

func (s *Switch) setConfig(flags, missSendLen uint16) {
	s.config.Store(uint32(flags)<<16 | uint32(missSendLen))
}

// Status is a snapshot of the channel, for mswitchctl.
type Status struct {
	FailMode            FailMode
	ControllerConnected bool   // a connection is past its handshake
	AsyncDrops          uint64 // asynchronous messages dropped on full queues, all connections ever
	Targets             []TargetStatus
	Conns               []ConnStatus
}

// TargetStatus is the state of one configured target.
type TargetStatus struct {
	Target    string
	State     string // listening, connecting, backoff or connected
	LastError string // the last connection failure, if any
}

// ConnStatus describes one connection.
type ConnStatus struct {
	ID         ConnID
	Target     string // the target it belongs to
	Remote     string // the peer's address
	Role       Role
	Since      time.Time // when the TCP or unix connection was established
	Up         bool      // past its handshake
	MsgsIn     uint64    // messages received
	MsgsOut    uint64    // messages sent or queued for sending
	AsyncDrops uint64    // asynchronous messages dropped because the queue was full
}

// Status returns the state of the targets and connections.
func (s *Switch) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{FailMode: s.opts.FailMode, ControllerConnected: len(*s.live.Load()) > 0, AsyncDrops: s.asyncDrops.Load()}
	for _, t := range s.targets {
		st.Targets = append(st.Targets, TargetStatus{Target: t.target.String(), State: t.state, LastError: t.err})
	}
	for c := range s.conns {
		st.Conns = append(st.Conns, ConnStatus{
			ID: c.id, Target: c.target.String(), Remote: c.remote, Role: Role(c.role.Load()), Since: c.since,
			Up: c.up.Load(), MsgsIn: c.msgsIn.Load(), MsgsOut: c.msgsOut.Load(), AsyncDrops: c.drops.Load(),
		})
	}
	slices.SortFunc(st.Conns, func(a, b ConnStatus) int { return cmp.Compare(a.ID, b.ID) })
	return st
}

func (s *Switch) setTargetState(ts *targetState, state string, err error) {
	s.mu.Lock()
	ts.state = state
	if err != nil {
		ts.err = err.Error()
	}
	s.mu.Unlock()
}

// track registers a new connection; it fails once the switch is closed.
func (s *Switch) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Switch) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// goLive adds c to the connections that receive asynchronous messages.
func (s *Switch) goLive(c *conn) {
	s.mu.Lock()
	l := append(slices.Clone(*s.live.Load()), c)
	s.live.Store(&l)
	c.up.Store(true)
	s.mu.Unlock()
	s.controllerEvent(+1)
}

func (s *Switch) goDead(c *conn) {
	s.mu.Lock()
	l := slices.DeleteFunc(slices.Clone(*s.live.Load()), func(o *conn) bool { return o == c })
	s.live.Store(&l)
	s.mu.Unlock()
	s.controllerEvent(-1)
}

func (s *Switch) controllerEvent(d int) {
	if s.opts.OnControllerState == nil {
		return
	}
	select {
	case s.ctrlEvents <- d:
	case <-s.ctx.Done():
	}
}

// routineControllerState reports to OnControllerState when no controller
// has been connected for FailTimeout, and when one connects again.
func (s *Switch) routineControllerState() {
	defer s.wg.Done()
	n, connected := 0, true
	timer := time.NewTimer(s.opts.FailTimeout)
	defer timer.Stop()
	for {
		select {
		case d := <-s.ctrlEvents:
			n += d
			if n > 0 {
				timer.Stop()
				if !connected {
					connected = true
					s.log.Info("openflow: controller connected", "fail_mode", s.opts.FailMode)
					s.opts.OnControllerState(true)
				}
			} else if n == 0 {
				timer.Reset(s.opts.FailTimeout)
			}
		case <-timer.C:
			if n == 0 && connected {
				connected = false
				s.log.Warn("openflow: no controller connected", "for", s.opts.FailTimeout, "fail_mode", s.opts.FailMode)
				s.opts.OnControllerState(false)
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// requestRole applies a ROLE_REQUEST from c (spec 1.3.5 §6.3.6): master and
// slave requests carry a generation_id that must not be older than the
// largest seen; a new master demotes the old one to slave.
func (s *Switch) requestRole(c *conn, r *ofp.RoleRequest) (*ofp.RoleReply, error) {
	if r.Role > ofp.RoleSlave {
		return nil, &ofp.Error{Type: ofp.ETRoleRequestFailed, Code: ofp.RRFCBadRole, Reason: fmt.Sprintf("role %d", r.Role)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Role == ofp.RoleMaster || r.Role == ofp.RoleSlave {
		if s.genIDSet && int64(r.GenerationID-s.genID) < 0 {
			return nil, &ofp.Error{Type: ofp.ETRoleRequestFailed, Code: ofp.RRFCStale,
				Reason: fmt.Sprintf("generation id %d older than %d", r.GenerationID, s.genID)}
		}
		s.genID, s.genIDSet = r.GenerationID, true
	}
	if r.Role == ofp.RoleMaster {
		for o := range s.conns {
			if o != c && o.role.Load() == ofp.RoleMaster {
				o.role.Store(ofp.RoleSlave)
				s.log.Info("openflow: controller demoted to slave", "conn", o.id, "remote", o.remote, "new_master", c.id)
			}
		}
	}
	if r.Role != ofp.RoleNoChange && r.Role != c.role.Load() {
		c.role.Store(r.Role)
		c.log.Info("openflow: controller role changed", "role", Role(r.Role), "generation_id", r.GenerationID)
	}
	return &ofp.RoleReply{Role: c.role.Load(), GenerationID: s.genID}, nil
}

// Asynchronous messages.

// PacketIn sends pi to every connected controller whose role and async
// configuration want its reason. maxLen is the max_len of the output action
// that sent the packet (ofp.CMLNoBuffer: all of it); for a reason other than
// ofp.ReasonAction (a table miss, an invalid TTL) the shared miss_send_len
// also applies. The data is cut to that length, BufferID is set to
// ofp.NoBuffer and a zero TotalLen to the length of pi.Data before the cut.
// PacketIn encodes the message before it returns and never blocks; pi and
// its data may be reused afterwards.
func (s *Switch) PacketIn(pi *ofp.PacketIn, maxLen uint16) {
	if !s.anyWants(kindPacketIn, pi.Reason) {
		return
	}
	m := *pi
	m.BufferID = ofp.NoBuffer
	if m.TotalLen == 0 {
		m.TotalLen = uint16(min(len(m.Data), 0xffff))
	}
	limit := len(m.Data)
	if maxLen != ofp.CMLNoBuffer {
		limit = min(limit, int(maxLen))
	}
	if _, msl := s.Config(); pi.Reason != ofp.ReasonAction && msl != ofp.CMLNoBuffer {
		limit = min(limit, int(msl))
	}
	m.Data = m.Data[:limit]
	s.deliver(kindPacketIn, pi.Reason, &m)
}

// FlowRemoved sends fr to every connected controller whose role and async
// configuration want its reason. It encodes the message before it returns
// and never blocks.
func (s *Switch) FlowRemoved(fr *ofp.FlowRemoved) {
	if s.anyWants(kindFlowRemoved, fr.Reason) {
		s.deliver(kindFlowRemoved, fr.Reason, fr)
	}
}

// PortStatus sends ps to every connected controller whose role and async
// configuration want its reason. It encodes the message before it returns
// and never blocks.
func (s *Switch) PortStatus(ps *ofp.PortStatus) {
	if s.anyWants(kindPortStatus, ps.Reason) {
		s.deliver(kindPortStatus, ps.Reason, ps)
	}
}

func (s *Switch) anyWants(k asyncKind, reason uint8) bool {
	for _, c := range *s.live.Load() {
		if c.wants(k, reason) {
			return true
		}
	}
	return false
}

// deliver encodes m once and queues it on each connection that wants it.
func (s *Switch) deliver(k asyncKind, reason uint8, m ofp.Message) {
	b, err := ofp.Append(nil, 0, m)
	if err != nil {
		s.log.Error("openflow: encode asynchronous message", "type", m.Type(), "err", err)
		return
	}
	for _, c := range *s.live.Load() {
		if c.wants(k, reason) {
			c.sendAsync(b)
		}
	}
}
