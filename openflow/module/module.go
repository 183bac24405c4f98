package ofmodule

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/openflow/channel"
	"github.com/mswitch/mswitch/openflow/ofp"
	"github.com/mswitch/mswitch/openflow/pipeline"
	"github.com/mswitch/mswitch/port/pipe"
)

// Name is the module's registered name.
const Name = "openflow"

// InjectPortPrefix starts the name of the fabric port the module attaches
// for the packets it injects (see the package doc), followed by a number
// unique in the process (the port of a replaced module may linger for a
// moment). Such ports are no OpenFlow ports.
const InjectPortPrefix = "openflow-inject"

var injectSeq atomic.Uint64

// LocalPortName is the name of the fabric port that is OFPP_LOCAL.
const LocalPortName = "LOCAL"

// DefaultTarget is where the module listens when no target is configured.
const DefaultTarget = "ptcp:6653"

func init() {
	logic.Register(Name, func() logic.Logic {
		m, err := New(Config{})
		if err != nil {
			panic(err) // the default configuration is valid
		}
		return m
	})
}

// Config configures a Module.
type Config struct {
	// Targets are the controller connections: "ptcp:[PORT][:IP]",
	// "tcp:IP[:PORT]", "unix:PATH", "punix:PATH" (see channel.ParseTarget).
	// Nil means DefaultTarget; empty (non-nil) means none.
	Targets []string
	// FailMode: channel.FailSecure (the default) or FailStandalone.
	FailMode channel.FailMode
	// DatapathID; 0 derives one from the switch name.
	DatapathID uint64
	// Tables is the number of flow tables; 0: pipeline.DefaultTables.
	Tables int
	// NoCache starts with the flow caches off.
	NoCache bool
	// NoEMC starts without the exact-match caches (pipeline.SetEMC).
	NoEMC bool
	// ExactMegaflows starts with megaflows that match every field
	// (pipeline.SetMegaflowWildcards).
	ExactMegaflows bool
	// FailTimeout and ProbeInterval are passed to the channel (0: its
	// defaults).
	FailTimeout, ProbeInterval time.Duration
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Module is the openflow switching logic. See the package doc.
type Module struct {
	p     *pipeline.Pipeline
	learn *learning.Bridge
	log   *slog.Logger

	// cfgMu guards cfg, sw, ch and the lifecycle; the packet path never
	// takes it.
	cfgMu   sync.Mutex
	cfg     Config
	sw      *fabric.Switch
	started bool
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup

	swp      atomic.Pointer[fabric.Switch] // sw, for readers that do not take cfgMu
	ch       atomic.Pointer[channel.Switch]
	failOpen atomic.Bool // standalone with no controller: act as learning
	ports    atomic.Pointer[portSet]
	workers  atomic.Pointer[[]*portWorkers] // by input PortID
	pool     sync.Pool                      // workers for callers beyond a port's slots
	freeMu   sync.Mutex
	free     []*worker // workers of removed ports, for reuse

	// Injection (see the package doc).
	injecting atomic.Bool  // Start is attaching the injection port
	injectID  atomic.Int32 // -1: none yet
	injPipe   *pipe.Pipe
	injMu     sync.Mutex
	injFIFO   []injDst // ring, len a power of two
	injHead   uint64   // next to pop; guarded by injMu
	injTail   uint64   // next to push; guarded by injMu
	injOne    [1][]byte
	injKick   chan struct{}
	injSet    []logic.PortID // the injector goroutine's arena
	injDrops  atomic.Uint64
	injected  atomic.Uint64
	packetIns atomic.Uint64

	// The control side's worker, for PACKET_OUT.
	ctlMu  sync.Mutex
	ctlW   *pipeline.Worker
	ctlRes pipeline.Result

	portEvents chan portEvent
}

// portSet is an immutable snapshot of the OpenFlow ports.
type portSet struct {
	ids    []logic.PortID // sorted, without the injection port: the flood list
	member []uint64       // ids as a bitmap, for has (made by with)
	local  int            // the PortID of "LOCAL", -1 if none
	inj    int            // the PortID of the injection port, -1 before Start
	names  map[logic.PortID]string
}

// has reports whether id is in ids: a bit test, as every output of every
// packet asks.
func (ps *portSet) has(id logic.PortID) bool {
	i := int(id) / 64
	return i < len(ps.member) && ps.member[i]&(1<<(id%64)) != 0
}

// ofNo returns the OpenFlow port number of fabric port id: id+1, not
// counting the injection port.
func (ps *portSet) ofNo(id logic.PortID) uint32 {
	if ps.inj >= 0 && int(id) > ps.inj {
		return uint32(id)
	}
	return uint32(id) + 1
}

// port returns the fabric port of OpenFlow port number no, if it exists.
func (ps *portSet) port(no uint32) (logic.PortID, bool) {
	if no == 0 || no > ofp.PortMax {
		return 0, false
	}
	id := no - 1
	if ps.inj >= 0 && int(id) >= ps.inj {
		id++
	}
	if id >= logic.MaxPorts {
		return 0, false
	}
	return logic.PortID(id), ps.has(logic.PortID(id))
}

// with returns a copy of ps with the flood list ids (sorted).
func (ps *portSet) with(ids []logic.PortID) *portSet {
	c := *ps
	c.ids, c.member = ids, nil
	if n := len(ids); n > 0 {
		c.member = make([]uint64, int(ids[n-1])/64+1)
		for _, id := range ids {
			c.member[id/64] |= 1 << (id % 64)
		}
	}
	return &c
}

type portEvent struct {
	id    logic.PortID
	added bool
}

const injSlots = 512

// New returns a module with empty flow tables. It forwards nothing (but
// what its fail mode says) until Start.
func New(cfg Config) (*Module, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Targets == nil {
		cfg.Targets = []string{DefaultTarget}
	}
	if _, err := parseTargets(cfg.Targets); err != nil {
		return nil, err
	}
	if cfg.FailMode != channel.FailSecure && cfg.FailMode != channel.FailStandalone {
		return nil, fmt.Errorf("openflow: fail mode %d is neither secure nor standalone", cfg.FailMode)
	}
	m := &Module{
		learn:      learning.New(),
		log:        cfg.Logger,
		cfg:        cfg,
		done:       make(chan struct{}),
		injFIFO:    make([]injDst, injSlots),
		injKick:    make(chan struct{}, 1),
		portEvents: make(chan portEvent, 1024),
	}
	p, err := pipeline.New(pipeline.Options{Tables: cfg.Tables, NoCache: cfg.NoCache,
		NoEMC: cfg.NoEMC, ExactMegaflows: cfg.ExactMegaflows, PortLive: m.portLive})
	if err != nil {
		return nil, fmt.Errorf("openflow: %w", err)
	}
	m.p = p
	m.ctlW = p.NewWorker()
	m.injectID.Store(-1)
	m.ports.Store(&portSet{local: -1, inj: -1, names: map[logic.PortID]string{}})
	m.workers.Store(&[]*portWorkers{})
	m.pool.New = func() any { return m.newWorker() }
	return m, nil
}

func parseTargets(ss []string) ([]channel.Target, error) {
	var ts []channel.Target
	for _, s := range ss {
		t, err := channel.ParseTarget(s)
		if err != nil {
			return nil, fmt.Errorf("openflow: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Pipeline returns the module's flow tables.
func (m *Module) Pipeline() *pipeline.Pipeline { return m.p }

// Config returns the module's configuration.
func (m *Module) Config() Config {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	c := m.cfg
	c.Targets = slices.Clone(c.Targets)
	return c
}

// ErrClosed is returned by Start and Reconfigure after Close.
var ErrClosed = errors.New("openflow module closed")

// Start binds the module to the fabric switch that runs it (it must
// already be the switch's logic, or about to be): it attaches the
// injection port, and starts the channel, the flow expiry and the
// injector.
func (m *Module) Start(sw *fabric.Switch) error {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.started {
		return errors.New("openflow: module already started")
	}
	if m.cfg.DatapathID == 0 {
		m.cfg.DatapathID = DatapathIDFor(sw.Name())
	}
	pp, err := pipe.New(pipe.Options{Slots: injSlots, DrainForFree: true})
	if err != nil {
		return fmt.Errorf("openflow: injection port: %w", err)
	}
	m.injecting.Store(true)
	id, err := sw.Attach(pp, fabric.PortConfig{Name: InjectPortPrefix + strconv.FormatUint(injectSeq.Add(1), 10), Inline: true})
	m.injecting.Store(false)
	if err != nil {
		pp.Close()
		return fmt.Errorf("openflow: attach injection port: %w", err)
	}
	m.injMu.Lock()
	m.injPipe = pp
	m.injMu.Unlock()
	m.injectID.Store(int32(id))
	for {
		old := m.ports.Load()
		ps := *old
		ps.inj = int(id)
		if m.ports.CompareAndSwap(old, &ps) {
			break
		}
	}
	m.sw = sw
	m.swp.Store(sw)
	// Names of the ports attached before us.
	m.refreshPorts()
	if err := m.startChannel(); err != nil {
		m.sw = nil
		go sw.Detach(id)
		return err
	}
	m.started = true
	m.wg.Add(2)
	go m.injector(sw, id)
	go m.housekeeping()
	return nil
}

// DatapathIDFor derives a datapath ID from a switch name (FNV-1a, 48 bits,
// as a MAC address would be).
func DatapathIDFor(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h & (1<<48 - 1)
}

// startChannel starts a channel with m.cfg. Preconditions: cfgMu is held.
func (m *Module) startChannel() error {
	ts, err := parseTargets(m.cfg.Targets)
	if err != nil {
		return err
	}
	ch, err := channel.New(m, channel.Options{
		Targets: ts, FailMode: m.cfg.FailMode, OnControllerState: m.controllerState,
		FailTimeout: m.cfg.FailTimeout, ProbeInterval: m.cfg.ProbeInterval, Logger: m.log,
	})
	if err != nil {
		return fmt.Errorf("openflow: %w", err)
	}
	if err := ch.Start(); err != nil {
		ch.Close()
		return fmt.Errorf("openflow: %w", err)
	}
	m.failOpen.Store(false)
	m.ch.Store(ch)
	return nil
}

// Reconfigure changes the targets, the fail mode and the datapath ID (0:
// keep it): the channel is restarted (controllers reconnect), the flow
// tables are kept. On error the previous channel keeps running.
func (m *Module) Reconfigure(targets []string, mode channel.FailMode, dpid uint64) error {
	if _, err := parseTargets(targets); err != nil {
		return err
	}
	if mode != channel.FailSecure && mode != channel.FailStandalone {
		return fmt.Errorf("openflow: fail mode %d is neither secure nor standalone", mode)
	}
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	if m.closed {
		return ErrClosed
	}
	old := m.cfg
	m.cfg.Targets, m.cfg.FailMode = slices.Clone(targets), mode
	if dpid != 0 {
		m.cfg.DatapathID = dpid
	}
	if !m.started {
		return nil
	}
	prev := m.ch.Swap(nil)
	if prev != nil {
		prev.Close() // frees listening ports the new targets may reuse
	}
	if err := m.startChannel(); err != nil {
		m.cfg = old
		if err2 := m.startChannel(); err2 != nil {
			m.log.Error("openflow: restart previous channel", "err", err2)
		}
		return err
	}
	return nil
}

// Status reports the channel's state (zero before Start).
func (m *Module) Status() channel.Status {
	if ch := m.ch.Load(); ch != nil {
		return ch.Status()
	}
	return channel.Status{FailMode: m.Config().FailMode}
}

// ListenAddrs returns the addresses of the passive targets.
func (m *Module) ListenAddrs() []string {
	var out []string
	if ch := m.ch.Load(); ch != nil {
		for _, a := range ch.ListenAddrs() {
			out = append(out, a.String())
		}
	}
	return out
}

// Stats are the module's counters.
type Stats struct {
	Cache     pipeline.CacheStats
	Injected  uint64 // packets injected (copies, hairpins, PACKET_OUT)
	InjDrops  uint64 // injections refused: the injection ring was full
	PacketIns uint64 // packets sent to the channel as PACKET_IN
	FailOpen  bool   // forwarding as a learning switch (standalone, no controller)
}

// Stats returns the module's counters.
func (m *Module) Stats() Stats {
	return Stats{Cache: m.p.CacheStats(), Injected: m.injected.Load(), InjDrops: m.injDrops.Load(),
		PacketIns: m.packetIns.Load(), FailOpen: m.failOpen.Load()}
}

// SetCaching turns the flow caches on or off.
func (m *Module) SetCaching(on bool) { m.p.SetCaching(on) }

// SetEMC turns the exact-match caches on or off (pipeline.SetEMC).
func (m *Module) SetEMC(on bool) { m.p.SetEMC(on) }

// SetMegaflowWildcards sets whether megaflows are wildcarded or exact
// (pipeline.SetMegaflowWildcards).
func (m *Module) SetMegaflowWildcards(on bool) { m.p.SetMegaflowWildcards(on) }

// Trace describes what the pipeline does with frame received on the
// fabric port in (see pipeline.Trace).
func (m *Module) Trace(frame []byte, in logic.PortID) string {
	return m.p.Trace(frame, m.ports.Load().ofNo(in))
}

// Close stops the channel, the expiry and the injector, and detaches the
// injection port. The fabric calls it when the module is replaced or the
// switch closes.
func (m *Module) Close() error {
	m.cfgMu.Lock()
	if m.closed {
		m.cfgMu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	sw := m.sw
	m.cfgMu.Unlock()
	var err error
	if ch := m.ch.Swap(nil); ch != nil {
		err = ch.Close()
	}
	m.wg.Wait()
	if sw != nil {
		// The fabric may call Close with its control lock held (SetLogic):
		// detach later. After the switch's Close, the port is gone already.
		id := logic.PortID(m.injectID.Load())
		go sw.Detach(id)
	}
	return err
}

func (m *Module) controllerState(connected bool) {
	m.cfgMu.Lock()
	standalone := m.cfg.FailMode == channel.FailStandalone
	m.cfgMu.Unlock()
	m.failOpen.Store(!connected && standalone)
	m.log.Info("openflow: controller state", "connected", connected, "learning", !connected && standalone)
}

// PortAdded implements logic.PortObserver.
func (m *Module) PortAdded(id logic.PortID) {
	if m.injecting.Load() {
		return // our own injection port
	}
	m.learn.PortAdded(id)
	old := m.ports.Load()
	ids := slices.Clone(old.ids)
	if i, ok := slices.BinarySearch(ids, id); !ok {
		ids = slices.Insert(ids, i, id)
	}
	m.ports.Store(old.with(ids))
	ws := *m.workers.Load()
	if int(id) >= len(ws) {
		nws := make([]*portWorkers, int(id)+1)
		copy(nws, ws)
		ws = nws
	} else {
		ws = slices.Clone(ws)
	}
	ws[id] = &portWorkers{}
	m.workers.Store(&ws)
	m.p.PortChanged()
	select {
	case m.portEvents <- portEvent{id: id, added: true}:
	default:
	}
}

// PortRemoved implements logic.PortObserver.
func (m *Module) PortRemoved(id logic.PortID) {
	if int32(id) == m.injectID.Load() {
		return
	}
	m.learn.PortRemoved(id)
	old := m.ports.Load()
	ps := old.with(slices.DeleteFunc(slices.Clone(old.ids), func(x logic.PortID) bool { return x == id }))
	m.ports.Store(ps)
	ws := *m.workers.Load()
	if int(id) < len(ws) && ws[id] != nil {
		pw := ws[id]
		nws := slices.Clone(ws)
		nws[id] = nil
		m.workers.Store(&nws)
		// No batch from the port runs any more: keep its workers.
		m.freeMu.Lock()
		for i := range pw.slots {
			if w := pw.slots[i].w.Load(); w != nil {
				m.free = append(m.free, w)
			}
		}
		m.freeMu.Unlock()
	}
	m.p.PortChanged()
	select {
	case m.portEvents <- portEvent{id: id}:
	default:
	}
}

func (m *Module) portLive(port uint32) bool {
	if port == ofp.PortLocal {
		return m.ports.Load().local >= 0
	}
	_, ok := m.ports.Load().port(port)
	return ok
}

// refreshPorts reads the port names from the fabric and returns the names
// of the ports it learned now.
func (m *Module) refreshPorts() {
	sw := m.swp.Load()
	if sw == nil {
		return
	}
	old := m.ports.Load()
	names := make(map[logic.PortID]string)
	local := -1
	for _, st := range sw.Stats() {
		if strings.HasPrefix(st.Name, InjectPortPrefix) {
			continue
		}
		names[st.ID] = st.Name
		if st.Name == LocalPortName {
			local = int(st.ID)
		}
	}
	// ids are as the observer calls set them, but for injection ports.
	ids := slices.DeleteFunc(slices.Clone(old.ids), func(id logic.PortID) bool {
		n, ok := names[id]
		return ok && strings.HasPrefix(n, InjectPortPrefix) || n == "" && ok
	})
	ps := old.with(ids)
	ps.local, ps.names = local, names
	if !m.ports.CompareAndSwap(old, ps) {
		m.refreshPorts()
	}
}

// housekeeping expires flows every second and reports port changes.
func (m *Module) housekeeping() {
	defer m.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case now := <-tick.C:
			m.notifyRemoved(m.p.Expire(now))
		case ev := <-m.portEvents:
			m.portEvent(ev)
		}
	}
}

func (m *Module) notifyRemoved(rs []pipeline.Removed) {
	ch := m.ch.Load()
	if ch == nil {
		return
	}
	for i := range rs {
		if rs[i].Notify {
			ch.FlowRemoved(&rs[i].FlowRemoved)
		}
	}
}

func (m *Module) portEvent(ev portEvent) {
	old := m.ports.Load()
	name := old.names[ev.id]
	if ev.added {
		// The fabric publishes the port just after it tells us.
		for i := 0; i < 100; i++ {
			m.refreshPorts()
			if n, ok := m.ports.Load().names[ev.id]; ok {
				name = n
				break
			}
			select {
			case <-m.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	} else {
		m.refreshPorts()
	}
	reason := ofp.PortReasonDelete
	if ev.added {
		reason = ofp.PortReasonAdd
	}
	ps := &ofp.PortStatus{Reason: reason, Port: ofPort(ev.id, m.ports.Load().ofNo(ev.id), name)}
	if ch := m.ch.Load(); ch != nil {
		ch.PortStatus(ps)
	}
}

// ofPort describes fabric port id for OpenFlow.
func ofPort(id logic.PortID, no uint32, name string) ofp.Port {
	if name == LocalPortName {
		no = ofp.PortLocal
	}
	if len(name) > 15 {
		name = name[:15]
	}
	const feat = 1<<6 | 1<<11 // 10GB_FD, COPPER
	return ofp.Port{
		PortNo: no, HWAddr: [6]byte{0x02, 0x6d, 0x73, 0x00, byte(id >> 8), byte(id)}, Name: name,
		State: ofp.PortStateLive, Curr: feat, Supported: feat, CurrSpeed: 10_000_000, MaxSpeed: 10_000_000,
	}
}
