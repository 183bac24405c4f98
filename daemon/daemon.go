package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/port/memif"
	"github.com/mswitch/mswitch/port/pipe"
)

// Default paths of a system-wide daemon.
const (
	DefaultRunDir    = "/run/mswitch"
	DefaultStatePath = "/var/lib/mswitch/state.json"
	DefaultModule    = "learning"
)

// Config configures a Daemon.
type Config struct {
	// StatePath is the state file, read by New and rewritten after every
	// change; "" keeps no state.
	StatePath string
	// Dir holds memif sockets given by a relative path; "" means
	// DefaultRunDir.
	Dir string
	// MemifSocket is the socket of memif ports that name none; "" means
	// memif.sock in Dir.
	MemifSocket string
	// Logger receives the daemon's logs; nil means slog.Default().
	Logger *slog.Logger
	// PollThreads is the number of poll threads (fabric.PollGroup) that
	// drain the input queues of every poll-mode port of every switch; 0
	// means 1, and a negative number none: each such queue then polls in
	// a goroutine of its own.
	PollThreads int
	// PollCPUs, if set, pins poll thread i to CPU PollCPUs[i%len].
	PollCPUs []int
	// PollNoSleep keeps idle poll threads polling for ever, as DPDK's
	// poll-mode threads (fabric.PollGroupOptions.NoSleep): the lowest
	// latency for sparse traffic, a whole CPU per thread at any load.
	PollNoSleep bool

	listenMemif memifListenFunc // tests replace the memif backend
}

// A Daemon hosts named switches and serves the control API. Its methods
// are safe for concurrent use.
type Daemon struct {
	cfg  Config
	log  *slog.Logger
	done chan struct{} // closed by Close: ends the captures

	// mu serialises the control path: every change, the state file, and
	// the reads of port lists. Forwarding never takes it.
	mu       sync.Mutex
	switches map[string]*swtch
	memifs   map[string]*memifRef // by socket path
	closed   bool

	polls *fabric.PollGroup // nil: no poll threads
}

// swtch is a switch the daemon hosts.
type swtch struct {
	name   string
	module string // the registered name of sw's logic
	batch  int    // as configured; 0: the fabric's default
	sw     *fabric.Switch
	ports  []*port               // in creation order
	of     *control.OpenFlowSpec // the openflow module's settings; nil: defaults
}

// port is a port of a swtch: attached, or configured but broken (err).
type port struct {
	sw   *swtch
	spec control.PortSpec
	id   logic.PortID
	err  string // non-empty: not attached, and why

	pipe  *pipe.Pipe
	memif memifPort
	mref  *memifRef
	via   string // what carries a kernel port: afxdp, afpacket or tap

	rps  *rpsSaved     // the interface's RPS before the port set it; nil: untouched
	tap  *tap          // the port's captures; nil before the first
	gone chan struct{} // closed when the port is deleted
}

func (p *port) attached() bool { return p.err == "" }

// New creates a daemon and restores the switches of its state file, if any.
// A port that cannot be restored (its memif socket taken, say) stays in the
// configuration in the error state, and is reported by the port list.
func New(cfg Config) (*Daemon, error) {
	if cfg.Dir == "" {
		cfg.Dir = DefaultRunDir
	}
	if cfg.MemifSocket == "" {
		cfg.MemifSocket = filepath.Join(cfg.Dir, "memif.sock")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.listenMemif == nil {
		cfg.listenMemif = listenMemif
	}
	d := &Daemon{
		cfg:      cfg,
		log:      cfg.Logger,
		done:     make(chan struct{}),
		switches: make(map[string]*swtch),
		memifs:   make(map[string]*memifRef),
	}
	if cfg.PollThreads >= 0 {
		// A polling thread keeps its processor: once a poll-mode port
		// comes, the API, the OpenFlow channels and the interrupt-mode
		// queues need another one, even on one CPU (the kernel then
		// shares the CPU between them).
		g, err := fabric.NewPollGroup(fabric.PollGroupOptions{Threads: cfg.PollThreads, CPUs: cfg.PollCPUs,
			NoSleep: cfg.PollNoSleep, RaiseProcs: true, Raised: func(from, to int) {
				d.log.Info("raised GOMAXPROCS for the poll threads", "from", from, "to", to)
			}})
		if err != nil {
			return nil, fmt.Errorf("start daemon: %w", err)
		}
		d.polls = g
	}
	if cfg.StatePath == "" {
		return d, nil
	}
	st, err := readState(cfg.StatePath)
	if err != nil {
		if d.polls != nil {
			d.polls.Close()
		}
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restore(st)
	return d, nil
}

// Close closes every switch and memif socket. The state file is left as it
// is, so the next daemon restores the same configuration.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.done)
	var errs []error
	for _, s := range d.sortedSwitches() {
		if err := d.closeSwitch(s); err != nil {
			errs = append(errs, err)
		}
	}
	if d.polls != nil {
		d.polls.Close()
	}
	return errors.Join(errs...)
}

// PipeEnd returns the application side of a pipe port, for tests and for
// programs that embed the daemon: packets sent on it enter the switch. What
// the switch delivers to the port is discarded by the daemon's sink, so
// Receive on it finds nothing.
func (d *Daemon) PipeEnd(sw, name string) (*pipe.End, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.attachedPort(sw, name)
	if err != nil {
		return nil, err
	}
	if p.pipe == nil {
		return nil, badRequest("port %q of switch %q is a %s port, not a pipe", name, sw, p.spec.Type)
	}
	return p.pipe.End(), nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkName(kind, name string) error {
	if !validName.MatchString(name) {
		return badRequest("%s name %q is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

// Preconditions: d.mu is held.
func (d *Daemon) sortedSwitches() []*swtch {
	ss := make([]*swtch, 0, len(d.switches))
	for _, s := range d.switches {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b *swtch) int { return strings.Compare(a.name, b.name) })
	return ss
}

// Preconditions: d.mu is held.
func (d *Daemon) switchNames() []string {
	names := make([]string, 0, len(d.switches))
	for n := range d.switches {
		names = append(names, n)
	}
	return names
}

// lookupSwitch finds a switch by name.
//
// Preconditions: d.mu is held.
func (d *Daemon) lookupSwitch(name string) (*swtch, error) {
	if d.closed {
		return nil, newError(http.StatusServiceUnavailable, "mswitchd is shutting down")
	}
	s := d.switches[name]
	if s == nil {
		return nil, notFound("no switch %q; switches: %s", name, list(d.switchNames(), "none (add one with `mswitchctl switch add NAME`)"))
	}
	return s, nil
}

// lookupPort finds a port, attached or not.
//
// Preconditions: d.mu is held.
func (d *Daemon) lookupPort(sw, name string) (*port, error) {
	s, err := d.lookupSwitch(sw)
	if err != nil {
		return nil, err
	}
	if p := s.port(name); p != nil {
		return p, nil
	}
	return nil, notFound("switch %q has no port %q; ports: %s", sw, name, list(s.portNames(), "none"))
}

// attachedPort finds a port that is attached.
//
// Preconditions: d.mu is held.
func (d *Daemon) attachedPort(sw, name string) (*port, error) {
	p, err := d.lookupPort(sw, name)
	if err != nil {
		return nil, err
	}
	if !p.attached() {
		return nil, conflict("port %q of switch %q is not attached (%s): delete it and add it again", name, sw, p.err)
	}
	return p, nil
}

func (s *swtch) port(name string) *port {
	for _, p := range s.ports {
		if p.spec.Name == name {
			return p
		}
	}
	return nil
}

func (s *swtch) portNames() []string {
	names := make([]string, len(s.ports))
	for i, p := range s.ports {
		names[i] = p.spec.Name
	}
	return names
}

// sortedPorts returns the attached ports in ID order, then the others.
func (s *swtch) sortedPorts() []*port {
	ps := slices.Clone(s.ports)
	slices.SortStableFunc(ps, func(a, b *port) int {
		switch {
		case a.attached() != b.attached():
			if a.attached() {
				return -1
			}
			return 1
		case !a.attached():
			return 0
		}
		return int(a.id) - int(b.id)
	})
	return ps
}

// portName names the port with ID id, for tables that hold IDs.
func (s *swtch) portName(id logic.PortID) string {
	for _, p := range s.ports {
		if p.attached() && p.id == id {
			return p.spec.Name
		}
	}
	return fmt.Sprintf("#%d", id)
}

// createSwitch creates a switch.
//
// Preconditions: d.mu is held.
func (d *Daemon) createSwitch(spec control.SwitchSpec) (*swtch, error) {
	if d.closed {
		return nil, newError(http.StatusServiceUnavailable, "mswitchd is shutting down")
	}
	if err := checkName("switch", spec.Name); err != nil {
		return nil, err
	}
	if d.switches[spec.Name] != nil {
		return nil, conflict("switch %q already exists", spec.Name)
	}
	if spec.Module == "" {
		spec.Module = DefaultModule
	}
	s := &swtch{name: spec.Name, module: spec.Module, batch: spec.Batch, of: spec.OpenFlow}
	l, err := d.newSwitchLogic(s, spec.Module)
	if err != nil {
		return nil, err
	}
	if spec.Batch < 0 || spec.Batch > fabric.MaxBatch {
		return nil, badRequest("batch %d is outside [1, %d]", spec.Batch, fabric.MaxBatch)
	}
	sw, err := fabric.New(spec.Name, fabric.Options{Batch: spec.Batch, Logic: l, Polls: d.polls})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	s.sw = sw
	if err := d.startLogic(s, l); err != nil {
		sw.Close()
		return nil, err
	}
	d.switches[s.name] = s
	d.log.Info("switch created", "switch", s.name, "module", s.module)
	return s, nil
}

func newLogic(name string) (logic.Logic, error) {
	l, err := logic.New(name)
	if errors.Is(err, logic.ErrUnknownModule) {
		return nil, badRequest("unknown module %q; modules: %s", name, list(logic.Names(), "none"))
	}
	return l, err
}

// deleteSwitch deletes a switch and its ports.
//
// Preconditions: d.mu is held.
func (d *Daemon) deleteSwitch(name string) error {
	s, err := d.lookupSwitch(name)
	if err != nil {
		return err
	}
	delete(d.switches, name)
	d.log.Info("switch deleted", "switch", name)
	return d.closeSwitch(s)
}

// closeSwitch closes a switch and releases its ports' resources.
//
// Preconditions: d.mu is held.
func (d *Daemon) closeSwitch(s *swtch) error {
	for _, p := range s.ports {
		close(p.gone)
	}
	err := s.sw.Close() // detaches (and closes) every backend
	for _, p := range s.ports {
		d.restoreRPS(p)
		if p.mref != nil {
			d.releaseMemif(p.mref, p.spec.Memif.ID)
		}
	}
	s.ports = nil
	if err != nil {
		return fmt.Errorf("close switch %s: %w", s.name, err)
	}
	return nil
}

// addPort creates a port and attaches it. With keep, a port that cannot be
// attached is kept in the error state instead of being refused (restore).
//
// Preconditions: d.mu is held.
func (d *Daemon) addPort(s *swtch, spec control.PortSpec, keep bool) (*port, error) {
	if err := checkName("port", spec.Name); err != nil {
		return nil, err
	}
	if s.port(spec.Name) != nil {
		return nil, conflict("switch %q already has a port %q", s.name, spec.Name)
	}
	if err := normalize(&spec); err != nil {
		return nil, err
	}
	p := &port{sw: s, spec: spec, gone: make(chan struct{})}
	err := d.attach(s, p)
	if err != nil && !keep {
		return nil, err
	}
	if err != nil {
		p.err = err.Error()
		d.log.Error("restore port", "switch", s.name, "port", spec.Name, "err", err)
	} else {
		log := d.log.With("switch", s.name, "port", spec.Name, "id", p.id, "type", spec.Type)
		if p.via != "" && p.via != spec.Type {
			log = log.With("via", p.via)
		}
		log.Info("port added")
	}
	s.ports = append(s.ports, p)
	return p, nil
}

// normalize checks a port spec and fills in its defaults.
func normalize(spec *control.PortSpec) error {
	switch spec.Type {
	case control.TypePipe:
		if spec.Memif != nil {
			return badRequest("port %q is a pipe port: memif settings do not apply", spec.Name)
		}
		if spec.Pipe == nil {
			spec.Pipe = &control.PipeSpec{}
		}
		if spec.Pipe.Queues == 0 {
			spec.Pipe.Queues = 1
		}
		if spec.Pipe.Queues < 1 || spec.Pipe.Queues > 64 {
			return badRequest("pipe port %q: %d queues is outside [1, 64]", spec.Name, spec.Pipe.Queues)
		}
	case control.TypeMemif:
		if spec.Pipe != nil {
			return badRequest("port %q is a memif port: pipe settings do not apply", spec.Name)
		}
		if spec.Memif == nil {
			spec.Memif = &control.MemifSpec{}
		}
		m := spec.Memif
		if m.Queues == 0 {
			m.Queues = 1
		}
		if m.Queues < 1 || m.Queues > memif.MaxQueues {
			return badRequest("memif port %q: %d queues is outside [1, %d]", spec.Name, m.Queues, memif.MaxQueues)
		}
		if m.Mode == "" {
			m.Mode = "interrupt"
		}
		mode, err := memif.ParseMode(m.Mode)
		if err != nil {
			return badRequest("memif port %q: mode %q is neither interrupt nor poll", spec.Name, m.Mode)
		}
		m.Mode = mode.String()
		if m.Log2RingSize > memif.MaxLog2RingSize {
			return badRequest("memif port %q: log2 ring size %d is above %d", spec.Name, m.Log2RingSize, memif.MaxLog2RingSize)
		}
		if len(m.Secret) > memif.MaxSecret {
			return badRequest("memif port %q: the secret is longer than %d bytes", spec.Name, memif.MaxSecret)
		}
	case control.TypeAFXDP, control.TypeAFPacket, control.TypeTap:
		return normalizeKernel(spec)
	case "":
		return badRequest("port %q needs a type: memif, afxdp, afpacket, tap or pipe", spec.Name)
	default:
		return badRequest("port type %q is not one of memif, afxdp, afpacket, tap, pipe", spec.Type)
	}
	return nil
}

// attach creates p's backend and attaches it to s.
//
// Preconditions: d.mu is held.
func (d *Daemon) attach(s *swtch, p *port) error {
	var b fabric.Backend
	switch p.spec.Type {
	case control.TypePipe:
		pp, err := pipe.New(pipe.Options{Queues: p.spec.Pipe.Queues, DrainForFree: true})
		if err != nil {
			return badRequest("%v", err)
		}
		p.pipe, b = pp, pp
	case control.TypeMemif:
		m := *p.spec.Memif
		ref, err := d.acquireMemif(d.memifPath(m.Socket), m.ID, p)
		if err != nil {
			return err
		}
		mp, err := ref.srv.NewPort(p.spec.Name, m)
		if err != nil {
			d.releaseMemif(ref, m.ID)
			return badRequest("create memif port %q: %v", p.spec.Name, err)
		}
		p.memif, p.mref, b = mp, ref, mp
	case control.TypeAFXDP, control.TypeAFPacket, control.TypeTap:
		kb, via, err := d.openKernel(p.spec)
		if err != nil {
			return err
		}
		b, p.via = kb, via
		if k := p.spec.Kernel; k != nil && k.RPSCPUs != "" {
			cpus, _ := ParseCPUList(k.RPSCPUs) // checked by normalize
			if p.rps, err = setRPS(k.Interface, cpuMask(cpus)); err != nil {
				b.Close()
				return badRequest("%s port %q: %v", p.spec.Type, p.spec.Name, err)
			}
		}
	}
	id, err := s.sw.Attach(b, fabric.PortConfig{Name: p.spec.Name})
	if err != nil {
		b.Close()
		d.restoreRPS(p)
		if p.mref != nil {
			d.releaseMemif(p.mref, p.spec.Memif.ID)
		}
		p.pipe, p.memif, p.mref = nil, nil, nil
		return conflict("%v", err)
	}
	p.id = id
	return nil
}

// restoreRPS gives p's interface back the RPS setting it had before p, if
// p changed it.
func (d *Daemon) restoreRPS(p *port) {
	if p.rps == nil {
		return
	}
	if err := p.rps.restore(); err != nil {
		d.log.Warn("restore the interface's RPS", "port", p.spec.Name, "err", err)
	}
	p.rps = nil
}

// deletePort detaches a port and deletes it.
//
// Preconditions: d.mu is held.
func (d *Daemon) deletePort(sw, name string) error {
	p, err := d.lookupPort(sw, name)
	if err != nil {
		return err
	}
	s := p.sw
	s.ports = slices.DeleteFunc(s.ports, func(q *port) bool { return q == p })
	close(p.gone)
	if p.attached() {
		err = s.sw.Detach(p.id) // closes the backend
	}
	d.restoreRPS(p)
	if p.mref != nil {
		d.releaseMemif(p.mref, p.spec.Memif.ID)
	}
	d.log.Info("port deleted", "switch", sw, "port", name)
	if err != nil {
		return fmt.Errorf("delete port %s: %w", name, err)
	}
	return nil
}

// setModule replaces a switch's logic with a new instance of module name.
//
// Preconditions: d.mu is held.
func (d *Daemon) setModule(s *swtch, name string) error {
	l, err := d.newSwitchLogic(s, name)
	if err != nil {
		return err
	}
	if err := s.sw.SetLogic(l); err != nil {
		return err
	}
	if err := d.startLogic(s, l); err != nil {
		// Back to a fresh instance of the module that ran before.
		if prev, perr := d.newSwitchLogic(s, s.module); perr == nil && s.sw.SetLogic(prev) == nil {
			if perr := d.startLogic(s, prev); perr != nil {
				d.log.Error("restart previous module", "switch", s.name, "module", s.module, "err", perr)
			}
		}
		return err
	}
	d.log.Info("module set", "switch", s.name, "module", name, "was", s.module)
	s.module = name
	return nil
}

// Preconditions: d.mu is held.
func (s *swtch) info() control.SwitchInfo {
	return control.SwitchInfo{Name: s.name, Module: s.module, Batch: s.sw.Batch(), Ports: len(s.ports)}
}

// Preconditions: d.mu is held.
func (p *port) info() control.PortInfo {
	pi := control.PortInfo{Name: p.spec.Name, ID: -1, Type: p.spec.Type, State: control.StateError, Error: p.err}
	if p.spec.Pipe != nil {
		ps := *p.spec.Pipe
		pi.Pipe = &ps
	}
	if p.spec.Memif != nil {
		ms := *p.spec.Memif
		if ms.Secret != "" {
			ms.Secret = "*"
		}
		if p.mref != nil {
			ms.Socket = p.mref.path // as resolved
		}
		pi.Memif = &ms
	}
	p.kernelInfo(&pi)
	if !p.attached() {
		return pi
	}
	pi.ID = int(p.id)
	pi.State = control.StateUp
	if p.memif != nil {
		st := p.memif.Status()
		pi.Link = &st
		if !st.Connected {
			pi.State = control.StateDown
		}
	}
	return pi
}
