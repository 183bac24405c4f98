package pipeline

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// Options configures a Pipeline. The zero value is usable.
type Options struct {
	// Tables is the number of flow tables, IDs 0..Tables-1: 1 to 254.
	// Zero means DefaultTables.
	Tables int

	// PortExists reports whether a port number names a port of the
	// switch; output actions and watch ports naming other ports are
	// refused (BAD_OUT_PORT, BAD_WATCH). Nil: every port up to OFPP_MAX
	// exists.
	PortExists func(port uint32) bool

	// PortLive reports whether a port is live, for fast-failover groups
	// and select buckets with a watch port. Nil: every port is live. When
	// a port's liveness changes, call Pipeline.PortChanged.
	PortLive func(port uint32) bool

	// Now is the clock for flow ages and timeouts. Nil: time.Now.
	Now func() time.Time

	// EMCEntries is the size of each worker's exact-match cache (rounded
	// up to a power of two, at least 2). Zero means 8192.
	EMCEntries int

	// MaxMegaflows bounds each worker's megaflow cache; when it is full,
	// the cache is emptied. Zero means 65536.
	MaxMegaflows int

	// MaxFlows bounds the number of flow entries (TABLE_FULL beyond).
	// Zero: no limit.
	MaxFlows int

	// NoCache starts the pipeline with its caches disabled (see
	// SetCaching).
	NoCache bool

	// NoEMC starts the pipeline with its exact-match caches disabled (see
	// SetEMC).
	NoEMC bool

	// ExactMegaflows starts the pipeline with megaflows that match every
	// field of the key (see SetMegaflowWildcards).
	ExactMegaflows bool
}

// The cache modes, bits of Pipeline.mode.
const (
	modeNoCache uint32 = 1 << iota // no cache at all: every packet translated
	modeNoEMC                      // no exact-match caches: packets start at the megaflows
	modeExact                      // megaflows with all-ones masks, one per microflow
)

// exactMask is the megaflow mask of modeExact: every bit of the key.
var exactMask = func() (m Key) {
	for i := range m {
		m[i] = ^uint64(0)
	}
	return m
}()

// DefaultTables is the number of flow tables of a pipeline by default.
const DefaultTables = 64

// A Pipeline is an OpenFlow 1.3 switch's flow tables and group table, with
// the per-worker caches in front of them. See the package doc for the
// concurrency contract.
type Pipeline struct {
	opts Options

	// mu guards the tables, the groups and the flows' definitions: the
	// control methods hold it for writing, the slow path for reading.
	mu     sync.RWMutex
	tables []*table
	groups map[uint32]*group
	meters map[uint32]*meter
	timed  map[*flow]struct{} // flows with a timeout
	nflows int
	seq    uint64

	// gen is bumped by every change of the tables, the groups or port
	// liveness; cached translations of an older generation are not used.
	gen                    atomic.Uint64
	mode                   atomic.Uint32 // mode* bits
	invalidTTLToController atomic.Bool

	workersMu sync.Mutex
	workers   []*Worker
	pool      sync.Pool
}

// New returns an empty pipeline: no flows (every packet is dropped), no
// groups.
func New(opts Options) (*Pipeline, error) {
	if opts.Tables == 0 {
		opts.Tables = DefaultTables
	}
	if opts.Tables < 1 || opts.Tables > int(ofp.TableMax) {
		return nil, fmt.Errorf("new pipeline: %d tables: %w", opts.Tables, ErrBadOption)
	}
	if opts.EMCEntries <= 0 {
		opts.EMCEntries = 8192
	}
	n := 2
	for n < opts.EMCEntries {
		n <<= 1
	}
	opts.EMCEntries = n
	if opts.MaxMegaflows <= 0 {
		opts.MaxMegaflows = 65536
	}
	p := &Pipeline{opts: opts, groups: make(map[uint32]*group), meters: make(map[uint32]*meter), timed: make(map[*flow]struct{})}
	for i := 0; i < opts.Tables; i++ {
		p.tables = append(p.tables, newTable(uint8(i)))
	}
	p.gen.Store(1)
	var mode uint32
	if opts.NoCache {
		mode |= modeNoCache
	}
	if opts.NoEMC {
		mode |= modeNoEMC
	}
	if opts.ExactMegaflows {
		mode |= modeExact
	}
	p.mode.Store(mode)
	p.pool.New = func() any { return p.newWorker() }
	return p, nil
}

// ErrBadOption is wrapped by New's errors.
var ErrBadOption = errors.New("bad option")

func (p *Pipeline) now() time.Time {
	if p.opts.Now != nil {
		return p.opts.Now()
	}
	return time.Now()
}

// changed invalidates every cached translation. Must hold p.mu for writing
// (or otherwise order the change before the bump).
func (p *Pipeline) changed() { p.gen.Add(1) }

// Tables returns the number of flow tables.
func (p *Pipeline) Tables() int { return len(p.tables) }

// PortChanged tells the pipeline that a port came, went, or changed
// liveness: cached decisions of fast-failover and select groups are
// dropped. Safe from any goroutine.
func (p *Pipeline) PortChanged() {
	p.mu.Lock()
	p.changed()
	p.mu.Unlock()
}

// SetCaching turns the exact-match and megaflow caches on or off (off:
// every packet is translated through the tables; the settings of SetEMC and
// SetMegaflowWildcards are kept for when they are on again). Safe from any
// goroutine.
func (p *Pipeline) SetCaching(on bool) { p.setMode(modeNoCache, !on) }

// SetEMC turns the exact-match caches (the flat one of untagged IPv4
// transport packets and the EMC) on or off. Off, every packet starts at the
// megaflow cache: Open vSwitch with other_config:emc-insert-inv-prob=0.
// Safe from any goroutine.
func (p *Pipeline) SetEMC(on bool) { p.setMode(modeNoEMC, !on) }

// SetMegaflowWildcards sets whether a megaflow is wildcarded to the fields
// the translation looked at (on, the default) or matches every field of
// the key exactly (off), so that each microflow has its own megaflow and is
// translated once: Open vSwitch's upcall/disable-megaflows. Safe from any
// goroutine.
func (p *Pipeline) SetMegaflowWildcards(on bool) { p.setMode(modeExact, !on) }

// setMode sets or clears the mode bits bit and empties the caches.
func (p *Pipeline) setMode(bit uint32, set bool) {
	p.mu.Lock()
	m := p.mode.Load()
	if set {
		m |= bit
	} else {
		m &^= bit
	}
	p.mode.Store(m)
	p.changed()
	p.mu.Unlock()
}

// CacheMode reports the settings of SetCaching, SetEMC and
// SetMegaflowWildcards. Safe from any goroutine.
func (p *Pipeline) CacheMode() (caching, emc, wildcards bool) {
	m := p.mode.Load()
	return m&modeNoCache == 0, m&modeNoEMC == 0, m&modeExact == 0
}

// SetInvalidTTLToController sets whether a packet whose TTL a decrement
// would make zero goes to the controller (PACKET_IN with reason
// INVALID_TTL) instead of being dropped: OFPC_INVALID_TTL_TO_CONTROLLER of
// SET_CONFIG. Safe from any goroutine.
func (p *Pipeline) SetInvalidTTLToController(on bool) { p.invalidTTLToController.Store(on) }

// TableMod applies a TABLE_MOD. OpenFlow 1.3 deprecates every table
// configuration bit, so it only checks the table ID.
func (p *Pipeline) TableMod(tm *ofp.TableMod) error {
	if int(tm.TableID) >= len(p.tables) && tm.TableID != ofp.TableAll {
		return &ofp.Error{Type: ofp.ETTableModFailed, Code: ofp.TMFCBadTable, Reason: "table " + utoa(uint64(tm.TableID))}
	}
	if tm.Config&^ofp.TableConfigDeprecatedMask != 0 {
		return &ofp.Error{Type: ofp.ETTableModFailed, Code: ofp.TMFCBadConfig, Reason: "table config"}
	}
	return nil
}

// Output is one place a packet goes.
type Output struct {
	// Port is a port number (at most ofp.PortMax) or one of the reserved
	// ports ofp.PortInPort, PortFlood, PortAll, PortController and
	// PortLocal, which the caller expands (FLOOD and ALL exclude the input
	// port). Output to the input port by its number is suppressed, as the
	// spec requires.
	Port uint32
	// Version says which bytes to send: -1 the packet Process returned,
	// i >= 0 Result.Copies[i] (the packet as it was when a later action
	// changed it).
	Version int
	// Queue is the set_queue in force (0 by default).
	Queue uint32
	// TunnelID is the tunnel_id metadata (from the input or set_field).
	TunnelID uint64

	// For Port == ofp.PortController, what the PACKET_IN carries: the
	// bytes to send (MaxLen, ofp.CMLNoBuffer for all), the reason
	// (ofp.ReasonNoMatch from a table-miss flow entry, ReasonAction,
	// ReasonInvalidTTL), the table and cookie of the flow, and the
	// metadata at that point.
	MaxLen   uint16
	Reason   uint8
	TableID  uint8
	Cookie   uint64
	Metadata uint64
}

// Result is where Process reports what happened to a packet. It is owned by
// the caller and reused from packet to packet; its slices are valid until
// the next call that uses the same Result. The zero value is ready to use.
type Result struct {
	// Outputs lists the outputs in the order the actions made them.
	Outputs []Output
	// Copies holds the earlier versions of the packet that some outputs
	// show. The buffers belong to the Result and are reused.
	Copies [][]byte

	// Malformed is set for a frame too short to hold an Ethernet header;
	// it is dropped without a lookup.
	Malformed bool
	// InvalidTTL is set when a TTL decrement stopped the actions.
	InvalidTTL bool
	// NoRoom is set when a push action found no room in the buffer's
	// capacity; the actions stopped there.
	NoRoom bool
	// MeterDrop is set when a meter's drop band dropped the packet.
	MeterDrop bool
	// Cache says where the decision came from.
	Cache CacheLevel

	tunnelIn uint64
	bufs     [][]byte
}

// CacheLevel names where a packet's decision was found.
type CacheLevel uint8

// Cache levels.
const (
	CacheNone     CacheLevel = iota // translated through the tables
	CacheEMC                        // exact-match cache
	CacheMegaflow                   // megaflow cache
)

func (r *Result) reset() {
	r.Outputs = r.Outputs[:0]
	r.Copies = r.Copies[:0]
	r.Malformed, r.InvalidTTL, r.NoRoom, r.MeterDrop, r.Cache = false, false, false, false, CacheNone
}

// add appends a zero Output to r.Outputs and returns it. The fields are
// then stored in place: an appended composite literal is built on the stack
// and copied in 16-byte loads, each spanning several smaller stores, which
// the CPU cannot forward (a stall of 10 ns per output).
func (r *Result) add() *Output {
	n := len(r.Outputs)
	if n == cap(r.Outputs) {
		r.Outputs = append(r.Outputs, Output{})
	} else {
		r.Outputs = r.Outputs[:n+1]
		r.Outputs[n] = Output{}
	}
	return &r.Outputs[n]
}

// snapshot copies b into a version buffer and returns its index.
func (r *Result) snapshot(b []byte) int {
	k := len(r.Copies)
	if k == len(r.bufs) {
		r.bufs = append(r.bufs, make([]byte, 0, max(len(b), 2048)))
	}
	r.bufs[k] = append(r.bufs[k][:0], b...)
	r.Copies = append(r.Copies, r.bufs[k])
	return k
}

// A Worker runs packets through the pipeline. It holds one goroutine's
// caches and scratch space: a Worker must not be used by two goroutines at
// once, and each forwarding goroutine should have its own (OVS's PMD
// threads each have their own caches, for the same reason: no locks, no
// shared cache lines on a hit).
type Worker struct {
	p   *Pipeline
	gen uint64
	// epoch numbers the worker's cache contents: retire bumps it, which
	// empties both exact-match caches at once (see emc.go).
	epoch   uint64
	emc     []emcEntry
	flat    []flatEntry
	mf      megaflows
	x       xlate
	saves   []saved
	scratch []byte

	// The cache counters: written by the worker's goroutine only, read by
	// CacheStats from any.
	emcHits, mfHits, misses ownedCount

	// tracked: made by NewWorker and listed in Pipeline.workers, so its
	// cached programs count lazily and Pipeline.credit finds them.
	tracked bool
	// liveMu guards live, the cached programs whose counts are not all
	// credited yet, and the programs' credited counts.
	liveMu sync.Mutex
	live   []*program
}

// NewWorker returns a Worker with empty caches.
func (p *Pipeline) NewWorker() *Worker {
	w := p.newWorker()
	w.tracked = true
	p.workersMu.Lock()
	p.workers = append(p.workers, w)
	p.workersMu.Unlock()
	return w
}

func (p *Pipeline) newWorker() *Worker {
	return &Worker{p: p, epoch: 1, emc: make([]emcEntry, p.opts.EMCEntries), flat: make([]flatEntry, p.opts.EMCEntries)}
}

// Process runs a packet through the pipeline with a pooled Worker; see
// Worker.Process. A forwarding goroutine should rather own a Worker.
func (p *Pipeline) Process(pkt []byte, inPort uint32, res *Result) []byte {
	w := p.pool.Get().(*Worker)
	pkt = w.Process(pkt, inPort, res)
	p.pool.Put(w)
	return pkt
}

// Process runs the packet pkt, received on port inPort, through the
// pipeline: it rewrites pkt in place as the actions say and returns it
// (resliced when a push or pop changed its length: it may grow up to
// cap(pkt)), and fills res with the outputs. Counters of flows, tables,
// groups and buckets are updated. Process does not retain pkt, and does not
// allocate once its caches are warm.
func (w *Worker) Process(pkt []byte, inPort uint32, res *Result) []byte {
	return w.ProcessTunnel(pkt, inPort, 0, res)
}

// ProcessTunnel is Process for a packet that arrived with tunnel metadata
// (the tunnel_id match field).
func (w *Worker) ProcessTunnel(pkt []byte, inPort uint32, tunnelID uint64, res *Result) []byte {
	res.reset()
	res.tunnelIn = tunnelID
	p := w.p
	if g := p.gen.Load(); g != w.gen {
		w.flush(g)
	}
	mode := p.mode.Load()
	caching := mode&modeNoCache == 0
	emc := caching && mode&modeNoEMC == 0
	var fk flatKey
	var fh uint64
	flat := false
	if emc {
		if flat = fk.of(pkt, inPort, tunnelID); flat {
			fh = fk.hash()
			if prog := w.flatLookup(fh, &fk); prog != nil {
				res.Cache = CacheEMC
				w.emcHits.add(1)
				if prog.single {
					return w.single(prog, pkt, inPort, res)
				}
				lay := flatLayout(pkt)
				return w.execute(prog, pkt, &lay, inPort, res)
			}
		}
	}
	var k Key
	var lay layout
	if !extract(pkt, inPort, &k, &lay) {
		res.Malformed = true
		return pkt
	}
	k[wTun] = tunnelID
	var prog *program
	var h uint64
	if caching {
		// A flat packet's exact-match cache is the flat one: it does not
		// take the EMC's place from other packets.
		if emc && !flat {
			h = k.hash()
			if prog = w.emcLookup(h, &k); prog != nil {
				res.Cache = CacheEMC
				w.emcHits.add(1)
				return w.execute(prog, pkt, &lay, inPort, res)
			}
		}
		if prog = w.mf.lookup(&k); prog != nil {
			res.Cache = CacheMegaflow
			w.mfHits.add(1)
		}
	}
	if prog == nil {
		w.misses.add(1)
		prog = w.translate(pkt, &k, inPort)
	}
	if emc && prog != &w.x.prog { // cached, not translated uncacheable
		if flat {
			w.flatInsert(fh, &fk, prog)
		} else {
			w.emcInsert(h, &k, prog)
		}
	}
	return w.execute(prog, pkt, &lay, inPort, res)
}

// execute counts a packet to prog and runs prog on it.
func (w *Worker) execute(prog *program, pkt []byte, lay *layout, inPort uint32, res *Result) []byte {
	if prog.single {
		return w.single(prog, pkt, inPort, res)
	}
	prog.hit(len(pkt))
	return w.exec(prog.ops, pkt, lay, inPort, res, false)
}

// single is execute for a program that is one output to a port.
func (w *Worker) single(prog *program, pkt []byte, inPort uint32, res *Result) []byte {
	prog.hit(len(pkt))
	if prog.out != inPort || prog.out > ofp.PortMax { // as in machine.step
		o := res.add()
		o.Port, o.Version, o.TunnelID = prog.out, -1, res.tunnelIn
	}
	return pkt
}

// translate runs the slow path and caches what it can.
func (w *Worker) translate(pkt []byte, k *Key, inPort uint32) *program {
	p := w.p
	p.mu.RLock()
	defer p.mu.RUnlock()
	g := p.gen.Load()
	if g != w.gen {
		w.flush(g)
	}
	x := &w.x
	x.reset(p, w, k, pkt, inPort)
	x.run(0)
	mode := p.mode.Load()
	if x.uncacheable || mode&modeNoCache != 0 {
		return &x.prog
	}
	prog := x.prog.clone()
	if w.mf.n >= p.opts.MaxMegaflows {
		w.retire()
		w.mf.clear()
	}
	if w.tracked {
		prog.deferred = true
		w.liveMu.Lock()
		w.live = append(w.live, prog)
		w.liveMu.Unlock()
	}
	mask := &x.seen
	if mode&modeExact != 0 {
		mask = &exactMask
	}
	w.mf.insert(k, mask, prog)
	return prog
}

// flush empties the caches for generation g.
func (w *Worker) flush(g uint64) {
	w.gen = g
	w.retire()
	w.mf.clear()
}

// retire credits the counts of every cached program and forgets them,
// with the exact-match entries that point to them (a new epoch): the caches
// are about to be emptied, and a program no cache reaches must have nothing
// left to credit.
func (w *Worker) retire() {
	w.liveMu.Lock()
	for _, pr := range w.live {
		pr.credit()
	}
	clear(w.live)
	w.live = w.live[:0]
	w.liveMu.Unlock()
	w.epoch++
}

// credit passes what the workers' cached programs counted on to the flows',
// groups', buckets' and tables' counters. Every reader of those counters
// calls it first. Safe from any goroutine; callers may hold p.mu.
func (p *Pipeline) credit() {
	p.workersMu.Lock()
	ws := p.workers
	p.workersMu.Unlock()
	for _, w := range ws {
		w.liveMu.Lock()
		for _, pr := range w.live {
			pr.credit()
		}
		w.liveMu.Unlock()
	}
}

// CacheStats counts packets by where their decision was found, summed over
// the pipeline's workers.
type CacheStats struct {
	EMCHits      uint64
	MegaflowHits uint64
	Misses       uint64 // translated through the tables
}

// CacheStats returns the cache counters of the workers made by NewWorker
// (not those of Pipeline.Process's pool). Safe from any goroutine.
func (p *Pipeline) CacheStats() CacheStats {
	p.workersMu.Lock()
	defer p.workersMu.Unlock()
	var s CacheStats
	for _, w := range p.workers {
		s.EMCHits += w.emcHits.Load()
		s.MegaflowHits += w.mfHits.Load()
		s.Misses += w.misses.Load()
	}
	return s
}
