package ofbench

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/internal/pktgen"
	"github.com/mswitch/mswitch/port/memif"
)

// The switches.
const (
	SwitchMswitch = "mswitch"
	SwitchOVS     = "ovs-dpdk"
)

// Kinds of rows.
const (
	KindThroughput  = "throughput"   // pktgen tx -> switch -> sink, as fast as possible
	KindSetup       = "setup"        // ovs-ofctl add-flows of many flows, to the final barrier
	KindFirstPacket = "first-packet" // add-flow to the first packet forwarded
)

// CPUs: each switch forwards on SwitchCPU (mswitchd's whole process with
// GOMAXPROCS=1; OVS's PMD thread), which nothing else of the set uses; the
// sender (pktgen), the receiver (sink), OVS's other threads and its
// database are on GenCPU. Unpinned, the scheduler puts the sender or the
// receiver on the switch's CPU half of the time, where OVS's PMD, which
// never yields, then trades the CPU with it in whole time slices: a memif
// ring per slice.
const (
	SwitchCPU = 1
	GenCPU    = 0
)

// rxQueues is the queue pairs the receiver asks for (OVS needs two, see
// ovs; mswitchd grants one).
const rxQueues = 2

// Namespace is where OVS's taps live.
const Namespace = "mxo-ovs"

// Options configure a run of the set. The zero value of a field means the
// default of Full.
type Options struct {
	// Bin is a directory holding mswitchd and pktgen; "" builds them into
	// a temporary directory.
	Bin string
	// Vswitchd is OVS's DPDK build (DefaultVswitchd).
	Vswitchd string
	// NoOVS runs mswitch only.
	NoOVS bool
	// Runs is how many times each throughput case runs, in rounds that
	// alternate the switches; rows hold the medians.
	Runs int
	// Duration is the length of one throughput run.
	Duration time.Duration
	// Flows is the number of traffic flows (and exact rules) of the
	// 1000-flow case, and the flows the NSX-like set is made for and the
	// traffic of that case spreads over.
	Flows int
	// NSXTables tables of NSXRules rules each (and a catch-all).
	NSXTables, NSXRules int
	// SetupCounts are the flow counts of the setup-rate runs.
	SetupCounts []int
	// FirstPacketRuns is how many times the time from add-flow to the
	// first packet is measured, with pktgen sending FirstPacketRate
	// packets per second.
	FirstPacketRuns int
	FirstPacketRate float64
	// Logf reports progress; nil means log.Printf.
	Logf func(format string, args ...any)
}

// Full is the published set: about ten minutes on two cores.
func Full() Options {
	return Options{
		Vswitchd:        DefaultVswitchd,
		Runs:            3,
		Duration:        3 * time.Second,
		Flows:           1000,
		NSXTables:       40,
		NSXRules:        2580,
		SetupCounts:     []int{10000, 100000},
		FirstPacketRuns: 3,
		FirstPacketRate: 1e6,
	}
}

// Quick is the same set with tiny durations and sizes, for tests.
func Quick() Options {
	return Options{
		Vswitchd:        DefaultVswitchd,
		Runs:            1,
		Duration:        time.Second,
		Flows:           100,
		NSXTables:       4,
		NSXRules:        100,
		SetupCounts:     []int{1000},
		FirstPacketRuns: 1,
		FirstPacketRate: 1e5,
	}
}

func (o *Options) defaults() {
	f := Full()
	if o.Vswitchd == "" {
		o.Vswitchd = f.Vswitchd
	}
	if o.Runs == 0 {
		o.Runs = f.Runs
	}
	if o.Duration == 0 {
		o.Duration = f.Duration
	}
	if o.Flows == 0 {
		o.Flows = f.Flows
	}
	if o.NSXTables == 0 {
		o.NSXTables = f.NSXTables
	}
	if o.NSXRules == 0 {
		o.NSXRules = f.NSXRules
	}
	if o.SetupCounts == nil {
		o.SetupCounts = f.SetupCounts
	}
	if o.FirstPacketRuns == 0 {
		o.FirstPacketRuns = f.FirstPacketRuns
	}
	if o.FirstPacketRate == 0 {
		o.FirstPacketRate = f.FirstPacketRate
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
}

// Missing says why the set cannot run here, or "".
func Missing(o Options) string {
	if os.Geteuid() != 0 {
		return "needs root (network namespace, DPDK)"
	}
	if runtime.NumCPU() < 2 {
		return "needs two CPUs"
	}
	for _, t := range []string{"ovs-ofctl", "taskset", "ip"} {
		if _, err := exec.LookPath(t); err != nil {
			return t + " not found (Debian: openvswitch-common, util-linux, iproute2)"
		}
	}
	return ""
}

// MissingOVS says why OVS cannot run here, or "".
func MissingOVS(o Options) string {
	vs := o.Vswitchd
	if vs == "" {
		vs = DefaultVswitchd
	}
	if _, err := os.Stat(vs); err != nil {
		return vs + " not found (Debian: apt-get install openvswitch-switch-dpdk librte-net-memif23)"
	}
	for _, t := range []string{"ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-appctl"} {
		if _, err := exec.LookPath(t); err != nil {
			return t + " not found (Debian: openvswitch-switch)"
		}
	}
	if _, err := os.Stat(ovsSchema); err != nil {
		return ovsSchema + " not found (Debian: openvswitch-common)"
	}
	return ""
}

// Row is one measurement: the median over its runs.
type Row struct {
	Kind   string // Kind*
	Switch string // Switch*
	// Set is the rule set (throughput), or "setup<N>".
	Set    string
	Rules  int // flows installed
	Tables int
	Flows  int   // traffic flows
	Cache  Cache // the switch's cache setting
	Runs   int
	// Mpps is what the receiver (sink) got over the sender's run time;
	// SentMpps what the sender put into the switch's ring.
	Mpps, MppsMin, MppsMax float64
	SentMpps               float64
	LossPct                float64
	// CPUPct is the switch process's run time (all threads) in percent of
	// one core over a window inside the traffic; CPUNs that per delivered
	// packet. A busy-polling switch uses its core at any load, so CPUNs is
	// its cost only when it is the bottleneck.
	CPUPct, CPUNs float64
	// Cycles is OVS's own count of processing cycles per packet (its PMD
	// statistics, idle polling excluded); 0 for mswitch.
	Cycles float64
	// Setup: FlowMods per second and seconds to the final barrier reply;
	// first packet: milliseconds from the start of ovs-ofctl add-flow to
	// the first packet at the receiver (Ms) and to ovs-ofctl's exit, i.e.
	// its barrier reply (BarrierMs).
	PerSec, Seconds float64
	Ms, BarrierMs   float64
	MsMin, MsMax    float64
	// Background is the CPU the machine spent on other work during the
	// windows (busy time from /proc/stat minus the run time of the switch,
	// pktgen and this process, the sink's), in percent of one core, the most over the
	// runs; -1: unknown.
	Background float64
	Note       string
}

// Report is the outcome of Run.
type Report struct {
	Start   time.Time
	Took    time.Duration
	Cores   int
	OVS     string // ovs-vswitchd's version line; "" when it did not run
	NoOVS   string // why OVS did not run
	Rows    []Row
	Options Options
	// Failed is why the set stopped before its end; "" when it did not.
	Failed string
	// OVSRestarts counts the times ovs-vswitchd died and was started again.
	OVSRestarts int
}

// A Cache is a cache setting of the switches.
type Cache string

const (
	// CacheOn: every cache (OVS: EMC and megaflows; mswitch: its
	// exact-match caches and megaflows).
	CacheOn Cache = "on"
	// CacheOff is as little caching as OVS allows: no exact-match cache
	// and exact-match megaflows, so that every microflow goes through the
	// tables once (OVS: other_config:emc-insert-inv-prob=0 and
	// upcall/disable-megaflows; mswitch: mswitchctl openflow cache on
	// --emc off --megaflows exact).
	CacheOff Cache = "off"
	// CacheNone: no cache at all, every packet through the tables
	// (mswitch only: OVS has no such setting).
	CacheNone Cache = "none"
)

// Caches are the cache settings of the throughput rows, in order.
var Caches = []Cache{CacheOn, CacheOff, CacheNone}

// has reports whether the switch named sw has cache setting c.
func has(sw string, c Cache) bool { return c != CacheNone || sw == SwitchMswitch }

// Find returns the first row of kind for sw, set and cache, or nil.
func (rep *Report) Find(kind, sw, set string, cache Cache) *Row {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Kind == kind && r.Switch == sw && r.Set == set && (kind != KindThroughput || r.Cache == cache) {
			return r
		}
	}
	return nil
}

// Sets are the throughput rule sets, in order.
var Sets = []string{SetOne, SetThousand, SetNSX}

// runner holds the state of one run of the set.
type runner struct {
	o    Options
	dir  string
	bin  string
	sws  []sut
	rep  *Report
	sets map[string]RuleSet
	// cur and cache are the rules and cache setting the switches have
	// now, for an OVS started again.
	cur      *RuleSet
	curCache Cache
	restarts int
}

// Run runs the whole set. Every process it starts is ended before it
// returns; SIGINT and SIGTERM cancel it.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if why := Missing(o); why != "" {
		return nil, errors.New(why)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{o: o, rep: &Report{Start: time.Now(), Cores: runtime.NumCPU(), Options: o}}
	dir, err := os.MkdirTemp("", "mxo-of")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	if os.Getenv("MSWBENCH_OPENFLOW_KEEP") != "" {
		o.Logf("openflow: keeping %s (MSWBENCH_OPENFLOW_KEEP)", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := r.build(); err != nil {
		return nil, err
	}
	ms, err := startMswitch(ctx, r.bin, filepath.Join(dir, "msw"))
	if err != nil {
		return nil, err
	}
	r.sws = append(r.sws, ms)
	defer func() {
		for _, s := range r.sws {
			if err := s.Down(); err != nil {
				o.Logf("openflow: %s: %v", s.Name(), err)
			}
		}
	}()
	if o.NoOVS {
		r.rep.NoOVS = "not asked for (Options.NoOVS)"
	} else if why := MissingOVS(o); why != "" {
		r.rep.NoOVS = why
	}
	if r.rep.NoOVS == "" {
		ms.Pause()
		ov, err := startOVS(ctx, o.Vswitchd, dir, Namespace)
		ms.Resume()
		if err != nil {
			return nil, fmt.Errorf("start OVS: %w", err)
		}
		r.sws = append(r.sws, ov)
		r.rep.OVS = ov.Version
	} else {
		o.Logf("openflow: OVS skipped: %s", r.rep.NoOVS)
	}
	r.sets = map[string]RuleSet{
		SetOne:      OneFlow(1, 2),
		SetThousand: PerFlow(DefaultTraffic, o.Flows, 2),
		SetNSX:      NSXLike(DefaultTraffic, o.Flows, o.NSXTables, o.NSXRules, 1, 2),
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"flow setup rate", r.setupRate},
		{"add-flow to first packet", r.firstPacket},
		{"throughput", r.throughput},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		o.Logf("openflow: %s", s.name)
		if err := s.fn(ctx); err != nil {
			err = fmt.Errorf("%s: %w", s.name, r.explain(err))
			r.rep.Failed = err.Error()
			r.rep.Took = time.Since(r.rep.Start)
			return r.rep, err
		}
	}
	r.rep.Took = time.Since(r.rep.Start)
	return r.rep, nil
}

// explain adds to err how a switch process ended, if one did.
func (r *runner) explain(err error) error {
	for _, sw := range r.sws {
		var p *proc
		switch s := sw.(type) {
		case *ovs:
			p = s.vs
		case *mswitch:
			p = s.d
		}
		if p != nil && p.Exited() {
			err = fmt.Errorf("%w\n%s (pid %d) exited: %v\n%s", err, p.Name, p.PID(), p.Err(), tail(p.Out.String()))
		}
	}
	return err
}

// revive starts OVS again if it died (ovs-vswitchd-dpdk can crash when
// a memif client connects, see the notes), with the rules and cache
// setting it had, and returns the switch to use; other switches are
// returned as they are.
func (r *runner) revive(ctx context.Context, i int) (sut, error) {
	o, ok := r.sws[i].(*ovs)
	if !ok {
		return r.sws[i], nil
	}
	if !o.vs.Exited() {
		o.Resume()
		if _, err := run(ctx, nil, "ovs-ofctl", "-O", "OpenFlow13", "show", o.Target()); err == nil {
			return o, nil
		}
		// Not answering: dead and not yet reaped, or hung.
		deadline := time.Now().Add(5 * time.Second)
		for !o.vs.Exited() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !o.vs.Exited() {
			r.o.Logf("openflow: ovs-vswitchd (pid %d) does not answer; killing it", o.vs.PID())
			o.vs.Kill()
		}
	}
	r.restarts++
	r.o.Logf("openflow: ovs-vswitchd (pid %d) exited: %v; starting it again (%d)\n%s", o.vs.PID(), o.vs.Err(), r.restarts, tail(o.vs.Out.String()))
	o.Down()
	for _, s := range r.sws {
		s.Pause()
	}
	n, err := startOVS(ctx, r.o.Vswitchd, filepath.Join(r.dir, fmt.Sprintf("restart%d", r.restarts)), Namespace)
	if err != nil {
		return nil, fmt.Errorf("start OVS again: %w", err)
	}
	r.sws[i] = n
	r.only(n)
	if r.cur != nil {
		if _, err := r.load(ctx, n, *r.cur); err != nil {
			return nil, err
		}
	}
	if err := n.SetCache(ctx, r.curCache); err != nil {
		return nil, err
	}
	r.rep.OVSRestarts = r.restarts
	return n, nil
}

// build compiles mswitchd and pktgen, unless Options.Bin has them.
func (r *runner) build() error {
	if r.o.Bin != "" {
		r.bin = r.o.Bin
		return nil
	}
	r.bin = filepath.Join(r.dir, "bin")
	out, err := exec.Command("go", "build", "-o", r.bin+"/",
		"github.com/mswitch/mswitch/cmd/mswitchd", "github.com/mswitch/mswitch/cmd/pktgen").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build mswitchd and pktgen: %w\n%s", err, out)
	}
	return nil
}

// only lets sw run and pauses the other switch: OVS's PMD busy-polls its
// core even when no client is attached.
func (r *runner) only(sw sut) {
	for _, s := range r.sws {
		if s != sw {
			s.Pause()
		}
	}
	sw.Resume()
}

// ofctl runs ovs-ofctl -O OpenFlow13 cmd on sw's connection.
func ofctl(ctx context.Context, sw sut, cmd string, args ...string) (string, error) {
	return run(ctx, nil, append([]string{"ovs-ofctl", "-O", "OpenFlow13", cmd, sw.Target()}, args...)...)
}

// load replaces sw's flows by rs and returns the time add-flows took
// (ovs-ofctl sends the flow mods and a barrier, and waits for its reply).
func (r *runner) load(ctx context.Context, sw sut, rs RuleSet) (time.Duration, error) {
	if _, err := ofctl(ctx, sw, "del-flows"); err != nil {
		return 0, err
	}
	file := filepath.Join(r.dir, rs.Name+".flows")
	if _, err := os.Stat(file); err != nil {
		if err := os.WriteFile(file, []byte(rs.Text()), 0o644); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if _, err := ofctl(ctx, sw, "add-flows", file); err != nil {
		return 0, err
	}
	took := time.Since(start)
	n, err := sw.Flows(ctx)
	if err != nil {
		return 0, err
	}
	if n != rs.Rules() {
		return 0, fmt.Errorf("%s has %d flows after add-flows of %d (%s)", sw.Name(), n, rs.Rules(), rs.Name)
	}
	return took, nil
}

// setupRate times add-flows of SetupCounts distinct flows on each switch.
func (r *runner) setupRate(ctx context.Context) error {
	for _, n := range r.o.SetupCounts {
		rs := Distinct(n, 2)
		r.cur = nil
		for i := range r.sws {
			sw, err := r.revive(ctx, i)
			if err != nil {
				return err
			}
			r.only(sw)
			var secs []float64
			for i := 0; i < r.o.Runs; i++ {
				took, err := r.load(ctx, sw, rs)
				if err != nil {
					return err
				}
				secs = append(secs, took.Seconds())
				r.o.Logf("openflow: %s: add-flows of %d flows: %.3f s, %.0f flow mods/s", sw.Name(), n, took.Seconds(), float64(n)/took.Seconds())
			}
			s := median(secs)
			r.rep.Rows = append(r.rep.Rows, Row{Kind: KindSetup, Switch: sw.Name(), Set: rs.Name, Rules: n, Tables: 1,
				Runs: len(secs), Seconds: s, PerSec: float64(n) / s, MsMin: 1e3 * slices.Min(secs), MsMax: 1e3 * slices.Max(secs)})
			if _, err := ofctl(ctx, sw, "del-flows"); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstPacket measures, on each switch with its caches on and no flows,
// pktgen sending into port 1 at FirstPacketRate (every packet dropped), the
// time from the start of `ovs-ofctl add-flow in_port=1,actions=output:2`
// to the first packet at a receiver on port 2 in this process.
func (r *runner) firstPacket(ctx context.Context) error {
	r.cur, r.curCache = nil, CacheOn
	for i := range r.sws {
		sw, err := r.revive(ctx, i)
		if err != nil {
			return err
		}
		r.only(sw)
		if err := sw.SetCache(ctx, CacheOn); err != nil {
			return err
		}
		var ms, bar []float64
		note := fmt.Sprintf("pktgen at %s p/s: resolution %.1f µs", rateString(r.o.FirstPacketRate), 1e6/r.o.FirstPacketRate)
		crashes := 0
		for i := 0; i < r.o.FirstPacketRuns; i++ {
			if sw, err = r.revive(ctx, slices.Index(r.sws, sw)); err != nil {
				return err
			}
			m, b, err := r.firstPacketOnce(ctx, sw)
			if err != nil && r.crashed(sw) && crashes < maxCrashRetries {
				// OVS died under the run (see revive): the run measured
				// nothing, so it is made again on a new ovs-vswitchd.
				crashes++
				r.o.Logf("openflow: %s: add-flow to first packet: the switch died (%v); run %d again", sw.Name(), err, i+1)
				i--
				continue
			}
			if err != nil {
				// Reported, not fatal: the throughput runs still count.
				r.o.Logf("openflow: %s: add-flow to first packet: %v", sw.Name(), err)
				note = fmt.Sprintf("run %d: %v", i+1, err)
				continue
			}
			r.o.Logf("openflow: %s: add-flow to first packet %.2f ms (barrier reply after %.2f ms)", sw.Name(), m, b)
			ms, bar = append(ms, m), append(bar, b)
		}
		row := Row{Kind: KindFirstPacket, Switch: sw.Name(), Set: SetOne, Rules: 1, Tables: 1, Flows: 1,
			Cache: CacheOn, Runs: len(ms), Note: note}
		if len(ms) > 0 {
			row.Ms, row.MsMin, row.MsMax, row.BarrierMs = median(ms), slices.Min(ms), slices.Max(ms), median(bar)
		}
		r.rep.Rows = append(r.rep.Rows, row)
	}
	return nil
}

// maxCrashRetries is how many runs of one case (a switch's first packet, a
// throughput round) may be made again because ovs-vswitchd died under them.
const maxCrashRetries = 3

// crashed reports whether sw is OVS and its ovs-vswitchd has ended, waiting
// up to two seconds for it to be reaped: a run's error (a reset connection)
// can come before the exit is seen. mswitchd dying is never retried.
func (r *runner) crashed(sw sut) bool {
	o, ok := sw.(*ovs)
	if !ok {
		return false
	}
	p := o.vs
	for deadline := time.Now().Add(2 * time.Second); !p.Exited() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	return p.Exited()
}

func rateString(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprint(v)
}

func (r *runner) firstPacketOnce(ctx context.Context, sw sut) (ms, barrierMs float64, err error) {
	if _, err := ofctl(ctx, sw, "del-flows"); err != nil {
		return 0, 0, err
	}
	rxSock, rxID := sw.Port(2)
	c, err := memif.Dial(rxSock, memif.ClientConfig{ID: uint32(rxID), Name: "mswbench", Queues: sw.Queues(), Mode: memif.Poll})
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		c.Close()
		if e := sw.WaitLink(ctx, 2, false); err == nil {
			err = e
		}
	}()
	if err := sw.WaitLink(ctx, 2, true); err != nil {
		return 0, 0, err
	}
	txSock, txID := sw.Port(1)
	args := append([]string{"-socket", txSock, "-id", fmt.Sprint(txID), "-f", "tx", "-mode", "poll", "-l", "60",
		"-R", fmt.Sprint(r.o.FirstPacketRate), "-d", "30s", "-q", "-json"}, DefaultTraffic.PktgenArgs()...)
	tx, err := startPktgen(filepath.Join(r.bin, "pktgen"), args...)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		tx.Kill()
		if e := sw.WaitLink(ctx, 1, false); err == nil {
			err = e
		}
	}()
	if err := sw.WaitLink(ctx, 1, true); err != nil {
		return 0, 0, err
	}
	// Traffic without a flow: the switch drops it (OVS caches the drop).
	drain := func(until time.Time) (int, time.Time, error) {
		for time.Now().Before(until) {
			for q := 0; q < c.Queues(); q++ {
				n, _, err := c.Discard(q)
				if err != nil {
					return 0, time.Time{}, err
				}
				if n > 0 {
					return n, time.Now(), nil
				}
			}
		}
		return 0, time.Time{}, nil
	}
	if n, _, err := drain(time.Now().Add(time.Second)); err != nil || n > 0 {
		return 0, 0, fmt.Errorf("%d packets forwarded without a flow (%v)", n, err)
	}
	type done struct {
		at  time.Time
		err error
	}
	barrier := make(chan done, 1)
	start := time.Now()
	go func() {
		_, err := ofctl(ctx, sw, "add-flow", "table=0,priority=10,in_port=1,actions=output:2")
		barrier <- done{time.Now(), err}
	}()
	n, first, err := drain(start.Add(3 * time.Second))
	b := <-barrier
	if b.err != nil {
		return 0, 0, b.err
	}
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, errors.New("no packet within 3 s of add-flow")
	}
	return float64(first.Sub(start).Microseconds()) / 1e3, float64(b.at.Sub(start).Microseconds()) / 1e3, nil
}

// startPktgen starts a program (pktgen) with args, in its own process group.
func startPktgen(path string, args ...string) (*proc, error) {
	return startProc(nil, append([]string{path}, args...)...)
}

// sample is the outcome of one throughput run.
type sample struct {
	mpps, sentMpps, loss float64
	cpuPct, cpuNs        float64
	cycles               float64
	other                float64 // the machine's CPU on other work, % of a core
}

// traffic runs pktgen tx -> sw -> sink for Duration with flows flows, and
// measures the switch's CPU in a window inside the run.
func (r *runner) traffic(ctx context.Context, sw sut, flows int) (s sample, err error) {
	d := r.o.Duration
	rxSock, rxID := sw.Port(2)
	rx, err := startSink(rxSock, rxID, sw.Queues(), GenCPU)
	if err != nil {
		return s, err
	}
	defer rx.stop()
	if err := sw.WaitLink(ctx, 2, true); err != nil {
		return s, err
	}
	txSock, txID := sw.Port(1)
	args := append([]string{"-socket", txSock, "-id", fmt.Sprint(txID), "-f", "tx", "-mode", "poll", "-l", "60",
		"-flows", fmt.Sprint(flows), "-d", d.String(), "-q", "-json"}, DefaultTraffic.PktgenArgs()...)
	tx, err := startProc(nil, append([]string{"taskset", "-c", fmt.Sprint(GenCPU), filepath.Join(r.bin, "pktgen")}, args...)...)
	if err != nil {
		return s, err
	}
	defer tx.Kill()

	t0 := time.Now()
	time.Sleep(d / 6)
	if err := sw.ClearCycles(ctx); err != nil {
		return s, err
	}
	m, err := startMeter(sw.PID())
	if err != nil {
		return s, err
	}
	lm := startLoad(sw.PID(), tx.PID(), os.Getpid())
	// The window ends before the sender does, however long the commands
	// around it took.
	time.Sleep(time.Until(t0.Add(d - d/10)))
	cpu, wall, err := m.read()
	if err != nil {
		return s, err
	}
	s.other = lm.read()
	if s.cycles, err = sw.Cycles(ctx); err != nil {
		return s, err
	}
	s.cpuPct = pct(cpu, wall)

	if err := tx.Wait(d + 10*time.Second); err != nil {
		return s, fmt.Errorf("pktgen tx: %w\n%s", err, tail(tx.Out.String()))
	}
	time.Sleep(300 * time.Millisecond) // the last packets
	received, err := rx.stop()
	if err != nil {
		return s, fmt.Errorf("sink: %w", err)
	}
	var ts pktgen.Summary
	if err := tx.JSON(&ts); err != nil {
		return s, err
	}
	if ts.TX == nil {
		return s, errors.New("pktgen summary without tx counts")
	}
	// Delivered over the sender's whole run.
	if ts.TX.Seconds > 0 {
		s.mpps = float64(received) / ts.TX.Seconds / 1e6
	}
	s.sentMpps = ts.TX.Mpps
	if ts.TX.Packets > 0 {
		s.loss = 100 * float64(ts.TX.Packets-min(ts.TX.Packets, received)) / float64(ts.TX.Packets)
	}
	if s.mpps > 0 {
		s.cpuNs = s.cpuPct / 100 * 1e9 / (s.mpps * 1e6)
	}
	// Both clients gone before the next run attaches to the same ids.
	if err := sw.WaitLink(ctx, 1, false); err != nil {
		return s, err
	}
	return s, sw.WaitLink(ctx, 2, false)
}

// throughput loads each rule set into every switch (the load time is a
// setup row too) and measures, for each cache setting a switch has, Runs
// rounds of each switch in turn.
func (r *runner) throughput(ctx context.Context) error {
	for _, name := range Sets {
		rs := r.sets[name]
		flows := 1
		if name != SetOne {
			flows = r.o.Flows
		}
		r.cur = &rs
		for i := range r.sws {
			sw, err := r.revive(ctx, i)
			if err != nil {
				return err
			}
			r.only(sw)
			took, err := r.load(ctx, sw, rs)
			if err != nil {
				return err
			}
			r.o.Logf("openflow: %s: loaded %s (%d flows, %d tables) in %.3f s", sw.Name(), name, rs.Rules(), rs.Tables, took.Seconds())
			if rs.Rules() >= 1000 {
				r.rep.Rows = append(r.rep.Rows, Row{Kind: KindSetup, Switch: sw.Name(), Set: name, Rules: rs.Rules(), Tables: rs.Tables,
					Runs: 1, Seconds: took.Seconds(), PerSec: float64(rs.Rules()) / took.Seconds()})
			}
		}
		for _, cache := range Caches {
			samples := make(map[string][]sample)
			r.curCache = cache
			for i := range r.sws {
				if !has(r.sws[i].Name(), cache) {
					continue
				}
				sw, err := r.revive(ctx, i)
				if err != nil {
					return err
				}
				r.only(sw)
				if err := sw.SetCache(ctx, cache); err != nil {
					return err
				}
			}
			failed := make(map[string][]string)
			for round := 1; round <= r.o.Runs; round++ {
				for i := range r.sws {
					if !has(r.sws[i].Name(), cache) {
						continue
					}
					sw, err := r.revive(ctx, i)
					if err != nil {
						return err
					}
					r.only(sw)
					s, err := r.traffic(ctx, sw, flows)
					// A failed run is made once more, and again each time
					// ovs-vswitchd died under it (up to maxCrashRetries);
					// then the case goes on without this run.
					for again, crashes := 1, 0; err != nil && ctx.Err() == nil; {
						if r.crashed(sw) && crashes < maxCrashRetries {
							crashes++
						} else if again > 0 {
							again--
						} else {
							break
						}
						r.o.Logf("openflow: round %d, %s, %s, cache %s: %v; once more", round, sw.Name(), name, cache, r.explain(err))
						time.Sleep(2 * time.Second)
						if sw, err = r.revive(ctx, i); err != nil {
							return err
						}
						r.only(sw)
						s, err = r.traffic(ctx, sw, flows)
					}
					if err != nil {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						r.o.Logf("openflow: round %d, %s, %s, cache %s: failed again: %v", round, sw.Name(), name, cache, err)
						first, _, _ := strings.Cut(err.Error(), "\n")
						failed[sw.Name()] = append(failed[sw.Name()], fmt.Sprintf("round %d failed: %s", round, first))
						continue
					}
					r.o.Logf("openflow: round %d, %s, %s, cache %s: %.3f Mp/s (sent %.3f), loss %.1f%%, CPU %.0f%%, %.0f ns/packet%s; background %.0f%%",
						round, sw.Name(), name, cache, s.mpps, s.sentMpps, s.loss, s.cpuPct, s.cpuNs, cyclesNote(s.cycles), s.other)
					samples[sw.Name()] = append(samples[sw.Name()], s)
				}
			}
			for _, sw := range r.sws {
				if !has(sw.Name(), cache) {
					continue
				}
				ss := samples[sw.Name()]
				if len(ss) == 0 {
					r.rep.Rows = append(r.rep.Rows, Row{Kind: KindThroughput, Switch: sw.Name(), Set: name, Rules: rs.Rules(),
						Tables: rs.Tables, Flows: flows, Cache: cache, Background: -1, Note: strings.Join(failed[sw.Name()], "; ")})
					continue
				}
				mpps := pick(ss, func(s sample) float64 { return s.mpps })
				r.rep.Rows = append(r.rep.Rows, Row{Kind: KindThroughput, Switch: sw.Name(), Set: name, Rules: rs.Rules(),
					Tables: rs.Tables, Flows: flows, Cache: cache, Runs: len(ss),
					Mpps: median(mpps), MppsMin: slices.Min(mpps), MppsMax: slices.Max(mpps),
					SentMpps:   median(pick(ss, func(s sample) float64 { return s.sentMpps })),
					LossPct:    median(pick(ss, func(s sample) float64 { return s.loss })),
					CPUPct:     median(pick(ss, func(s sample) float64 { return s.cpuPct })),
					CPUNs:      median(pick(ss, func(s sample) float64 { return s.cpuNs })),
					Cycles:     median(pick(ss, func(s sample) float64 { return s.cycles })),
					Background: slices.Max(pick(ss, func(s sample) float64 { return s.other })),
					Note:       strings.Join(failed[sw.Name()], "; ")})
			}
		}
		r.curCache = CacheOn
		for i := range r.sws {
			sw, err := r.revive(ctx, i)
			if err != nil {
				return err
			}
			r.only(sw)
			if err := sw.SetCache(ctx, CacheOn); err != nil {
				return err
			}
		}
	}
	return nil
}

func cyclesNote(c float64) string {
	if c == 0 {
		return ""
	}
	return fmt.Sprintf(", PMD %.0f cycles/packet", c)
}

// A Target is a goal of the issue, checked against the medians.
type Target struct {
	What, Want, Got string
	Status          string // "met", "not met" or "not measured"
}

// Ratio is mswitch's median throughput over OVS's for a case, or false.
func (rep *Report) Ratio(set string, cache Cache) (float64, bool) {
	m := rep.Find(KindThroughput, SwitchMswitch, set, cache)
	o := rep.Find(KindThroughput, SwitchOVS, set, cache)
	if m == nil || o == nil || m.Runs == 0 || o.Runs == 0 || o.Mpps <= 0 {
		return 0, false
	}
	return m.Mpps / o.Mpps, true
}

// Targets checks mswitch's throughput against twice OVS's, per case.
func (rep *Report) Targets() []Target {
	var ts []Target
	for _, set := range Sets {
		for _, cache := range []Cache{CacheOn, CacheOff} {
			t := Target{What: fmt.Sprintf("%s, caches %s: mswitch / OVS-DPDK throughput", set, cache), Want: ">= 2.00x"}
			if v, ok := rep.Ratio(set, cache); ok {
				t.Got = fmt.Sprintf("%.2fx", v)
				t.Status = "not met"
				if v >= 2 {
					t.Status = "met"
				}
			} else {
				t.Got, t.Status = "-", "not measured"
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// WriteCSV writes every row.
func WriteCSV(w *strings.Builder, rep *Report) {
	fmt.Fprintln(w, "kind,switch,set,rules,tables,flows,cache,runs,mpps,mpps_min,mpps_max,sent_mpps,loss_pct,cpu_pct,cpu_ns_per_pkt,pmd_cycles_per_pkt,flow_mods_per_s,seconds,ms,ms_min,ms_max,barrier_ms,background_pct,note")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%s,%s,%s,%d,%d,%d,%s,%d,%.4f,%.4f,%.4f,%.4f,%.3f,%.1f,%.1f,%.0f,%.0f,%.4f,%.3f,%.3f,%.3f,%.3f,%.0f,%q\n",
			r.Kind, r.Switch, r.Set, r.Rules, r.Tables, r.Flows, r.Cache, r.Runs, r.Mpps, r.MppsMin, r.MppsMax, r.SentMpps,
			r.LossPct, r.CPUPct, r.CPUNs, r.Cycles, r.PerSec, r.Seconds, r.Ms, r.MsMin, r.MsMax, r.BarrierMs, r.Background, r.Note)
	}
}
