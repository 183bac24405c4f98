package memifbench

import (
	"context"
	"errors"
	"fmt"
	"github.com/mswitch/mswitch/internal/pktgen"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/control"
)

// Kinds of rows.
const (
	KindThroughput = "throughput" // pktgen tx -> mswitchd -> pktgen rx, as fast as possible
	KindTestpmd    = "testpmd"    // testpmd's memif loop
	KindRTT        = "rtt"        // pktgen ping -> mswitchd -> pktgen pong
	KindRate       = "cpu-rate"   // pktgen tx at a fixed rate: mswitchd's CPU
	KindIdle       = "cpu-idle"   // idle memif clients: mswitchd's CPU
	KindScale      = "scale"      // many memif ports on one switch
)

// Options configure a run of the set. The zero value of a field means the
// default of Full.
type Options struct {
	// Bin is a directory holding mswitchd and pktgen; "" builds them from
	// the module into a temporary directory.
	Bin string
	// Runs is how many times each throughput and testpmd measurement runs
	// (in rounds); rows hold the medians.
	Runs int
	// Duration is the length of one throughput run.
	Duration time.Duration
	// Sizes are the frame sizes of the throughput runs.
	Sizes []int
	// Rings are the ring sizes (log2: DefaultRing or BigRing) of the
	// throughput runs.
	Rings []uint8
	// OneCore adds throughput runs in poll mode, with BigRing rings,
	// through a second mswitchd started with GOMAXPROCS=1: its polling
	// goroutines then share one core, as testpmd's forwarding lcore does,
	// and leave the other to pktgen.
	OneCore bool
	// Testpmd is the testpmd command; "" means dpdk-testpmd in PATH. The
	// testpmd rows are skipped, with the reason, when it is absent.
	Testpmd string
	// NoTestpmd skips the testpmd rows.
	NoTestpmd bool
	// TestpmdDuration is the length of one testpmd run; its first two
	// seconds of statistics are not counted.
	TestpmdDuration time.Duration
	// Pings is the number of round trips of each RTT measurement, which
	// stops after PingLimit.
	Pings     int
	PingLimit time.Duration
	// IdlePorts idle clients are attached for IdleWindow.
	IdlePorts  int
	IdleWindow time.Duration
	// Rates are the fixed offered rates, in packets per second, of the CPU
	// measurements; each runs for RateDuration.
	Rates        []float64
	RateDuration time.Duration
	// ScalePorts ports receive round-robin traffic, ScaleRuns times for
	// ScaleDuration.
	ScalePorts    int
	ScaleRuns     int
	ScaleDuration time.Duration
	// RedoBudget bounds the time spent running measurements again because
	// other work used more than a quarter of a core during them.
	RedoBudget time.Duration
	// QuietWait bounds the wait, before each phase, for the machine's load
	// from elsewhere to fall below a quarter of a core; a negative one
	// skips the half-second sample of that load (Background is then -1).
	QuietWait time.Duration
	// Logf reports progress; nil means log.Printf.
	Logf func(format string, args ...any)
}

// Full is the published set: about four minutes on two cores.
func Full() Options {
	return Options{
		Runs:            3,
		Duration:        3 * time.Second,
		Sizes:           []int{60, 1514},
		Rings:           []uint8{DefaultRing, BigRing},
		OneCore:         true,
		TestpmdDuration: 5 * time.Second,
		Pings:           10000,
		PingLimit:       10 * time.Second,
		IdlePorts:       100,
		IdleWindow:      5 * time.Second,
		Rates:           []float64{1e4, 1e5, 3e5, 1e6},
		RateDuration:    3 * time.Second,
		ScalePorts:      1000,
		ScaleRuns:       3,
		ScaleDuration:   3 * time.Second,
		QuietWait:       5 * time.Second,
		RedoBudget:      60 * time.Second,
	}
}

// Quick is the same set with tiny durations and counts, for tests: a few
// seconds (plus testpmd's start-up, when it is installed).
func Quick() Options {
	return Options{
		Runs:            1,
		Duration:        400 * time.Millisecond,
		Sizes:           []int{60},
		Rings:           []uint8{DefaultRing},
		OneCore:         true,
		TestpmdDuration: time.Second,
		Pings:           200,
		PingLimit:       5 * time.Second,
		IdlePorts:       5,
		IdleWindow:      200 * time.Millisecond,
		Rates:           []float64{1e4},
		RateDuration:    400 * time.Millisecond,
		ScalePorts:      20,
		ScaleRuns:       1,
		ScaleDuration:   300 * time.Millisecond,
		QuietWait:       -1,
		RedoBudget:      -1,
	}
}

func (o *Options) defaults() {
	f := Full()
	if o.Runs == 0 {
		o.Runs = f.Runs
	}
	if o.Duration == 0 {
		o.Duration = f.Duration
	}
	if o.Sizes == nil {
		o.Sizes = f.Sizes
	}
	if o.TestpmdDuration == 0 {
		o.TestpmdDuration = f.TestpmdDuration
	}
	if o.Rings == nil {
		o.Rings = f.Rings
	}
	if o.Pings == 0 {
		o.Pings = f.Pings
	}
	if o.PingLimit == 0 {
		o.PingLimit = f.PingLimit
	}
	if o.IdlePorts == 0 {
		o.IdlePorts = f.IdlePorts
	}
	if o.IdleWindow == 0 {
		o.IdleWindow = f.IdleWindow
	}
	if o.Rates == nil {
		o.Rates = f.Rates
	}
	if o.RateDuration == 0 {
		o.RateDuration = f.RateDuration
	}
	if o.ScalePorts == 0 {
		o.ScalePorts = f.ScalePorts
	}
	if o.ScaleRuns == 0 {
		o.ScaleRuns = f.ScaleRuns
	}
	if o.ScaleDuration == 0 {
		o.ScaleDuration = f.ScaleDuration
	}
	if o.QuietWait == 0 {
		o.QuietWait = f.QuietWait
	}
	if o.RedoBudget == 0 {
		o.RedoBudget = f.RedoBudget
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
}

// RTT is a round-trip time distribution, in microseconds.
type RTT struct {
	Sent, Replies, Timeouts  uint64
	Min, P50, P90, P99, P999 float64
	Max, Mean                float64
}

// Row is one measurement: the median over its runs.
type Row struct {
	Kind string // Kind*
	Mode string // "interrupt" or "poll" (mswitchd's ports and the clients); "testpmd"
	Size int    // frame bytes, without CRC
	Ring int    // slots of each memif ring (the ports' and the clients')
	// Procs is mswitchd's GOMAXPROCS when set (OneCore); 0: Go's default,
	// the number of cores.
	Procs int
	Ports int // memif ports attached to the switch
	Dests int // scale: destinations the traffic is spread over
	// Offered is the offered rate in packets per second; 0: as fast as
	// the sender goes.
	Offered float64
	Runs    int
	// Mpps and Gbps are delivered: received by the sink (throughput,
	// scale), forwarded by mswitchd (cpu-rate), or testpmd's Rx-pps of one
	// port (one direction of its loop). Gbps counts frame bytes only.
	Mpps, MppsMin, MppsMax float64
	Gbps                   float64
	// SentMpps is the sender's rate (throughput, scale): what the switch
	// took from the sender's ring, delivered or dropped.
	SentMpps float64
	LossPct  float64 // sent but not delivered
	// CPUPct is mswitchd's (testpmd's) utime+stime in percent of one core,
	// over a window inside the traffic; CPUNs is that CPU per delivered
	// packet, in nanoseconds.
	CPUPct, CPUNs float64
	// ClientCPUPct is the CPU of the clients living in this process (idle,
	// scale), in percent of one core.
	ClientCPUPct float64
	// BatchesPerSec is how many forwarding batches mswitchd ran for the
	// sender's port per second in the window (cpu-rate, throughput); in
	// interrupt mode, each wake-up runs one batch or more.
	BatchesPerSec float64
	RTT           *RTT
	// Reached is the number of ports that received traffic, in the run
	// where the fewest did (scale).
	Reached int
	// Background is the CPU the machine spent on other work during the
	// measurement windows (the most over the runs): busy time from
	// /proc/stat minus the utime+stime of the set's processes, in percent
	// of one core (all cores busy: 100 * cores); -1 if unknown.
	Background float64
	Note       string
}

// Report is the outcome of Run.
type Report struct {
	Start   time.Time
	Took    time.Duration
	Cores   int
	Testpmd string // testpmd's version line; "" when it did not run
	// TestpmdSkipped says why testpmd did not run.
	TestpmdSkipped string
	Rows           []Row
	Options        Options
	// Redone counts the measurements run again because other work used
	// the machine during them.
	Redone int
}

// Find returns the first row of kind with mode and size (0: any), or nil.
func (rep *Report) Find(kind, mode string, size int) *Row {
	return rep.FindRing(kind, mode, size, 0)
}

// FindRing is Find for rows with ring slots per ring (0: any), through
// the default mswitchd.
func (rep *Report) FindRing(kind, mode string, size, ring int) *Row {
	return rep.FindProcs(kind, mode, size, ring, 0)
}

// FindProcs is FindRing through the mswitchd with GOMAXPROCS procs (0:
// the default one).
func (rep *Report) FindProcs(kind, mode string, size, ring, procs int) *Row {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Kind == kind && (mode == "" || r.Mode == mode) && (size == 0 || r.Size == size) &&
			(ring == 0 || r.Ring == ring) && r.Procs == procs {
			return r
		}
	}
	return nil
}

// runner holds the state of one run of the set.
type runner struct {
	o       Options
	dir     string // sockets and the daemon's directory
	bin     string
	env     []string      // added to mswitchd's environment
	oneCore *runner       // the same with a GOMAXPROCS=1 mswitchd (Options.OneCore)
	main    *runner       // of oneCore: the runner it belongs to
	redo    time.Duration // what is left of Options.RedoBudget
	redone  int           // measurements run again
	d       *proc
	c       *control.Client
	sock    string // the daemon's memif socket
	procs   []*proc
	rep     *Report
}

// Run runs the whole set. Every process it starts is ended before it
// returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	r := &runner{o: o, rep: &Report{Start: time.Now(), Cores: runtime.NumCPU(), Options: o}, redo: o.RedoBudget}
	// Short paths: a unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "mswb-memif")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	defer os.RemoveAll(dir)
	defer func() {
		for _, p := range r.procs {
			p.Kill()
		}
	}()
	if err := r.build(); err != nil {
		return nil, err
	}
	if err := r.startDaemon(); err != nil {
		return nil, err
	}
	if o.OneCore {
		r.oneCore = &runner{o: o, dir: filepath.Join(dir, "1p"), bin: r.bin, env: []string{"GOMAXPROCS=1"}, rep: r.rep, main: r}
		defer func() {
			for _, p := range r.oneCore.procs {
				p.Kill()
			}
		}()
		if err := r.oneCore.startDaemon(); err != nil {
			return nil, err
		}
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"throughput and testpmd loop", r.throughput},
		{"round-trip time", r.rtt},
		{"CPU at fixed rates", r.rates},
		{"CPU with idle ports", r.idle},
		{"scale", r.scale},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.o.Logf("memif: %s", s.name)
		if err := s.fn(ctx); err != nil {
			return r.rep, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if err := r.d.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		return r.rep, fmt.Errorf("mswitchd did not stop cleanly: %w", err)
	}
	if r.oneCore != nil {
		if err := r.oneCore.d.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
			return r.rep, fmt.Errorf("mswitchd (GOMAXPROCS=1) did not stop cleanly: %w", err)
		}
	}
	r.rep.Took = time.Since(r.rep.Start)
	r.rep.Redone = r.redone
	return r.rep, nil
}

// build compiles mswitchd and pktgen, unless Options.Bin has them.
func (r *runner) build() error {
	if r.o.Bin != "" {
		r.bin = r.o.Bin
		return nil
	}
	r.bin = filepath.Join(r.dir, "bin")
	cmd := exec.Command("go", "build", "-o", r.bin+"/",
		"github.com/mswitch/mswitch/cmd/mswitchd", "github.com/mswitch/mswitch/cmd/pktgen")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build mswitchd and pktgen: %w\n%s", err, out)
	}
	return nil
}

// start starts one of the binaries and keeps it for the final cleanup.
func (r *runner) start(name string, args ...string) (*proc, error) {
	p, err := start(filepath.Join(r.bin, name), args...)
	if err != nil {
		return nil, err
	}
	r.procs = append(r.procs, p)
	return p, nil
}

func (r *runner) startDaemon() error {
	d, err := startEnv(filepath.Join(r.bin, "mswitchd"), r.env, "-dir", r.dir, "-state", "none", "-log-level", "warn")
	if err != nil {
		return err
	}
	r.procs = append(r.procs, d)
	r.d = d
	r.sock = filepath.Join(r.dir, "memif.sock")
	r.c = control.NewClient(filepath.Join(r.dir, "mswitchd.sock"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := r.c.Version(context.Background()); err == nil {
			return nil
		}
		if d.Exited() || time.Now().After(deadline) {
			d.Kill()
			return fmt.Errorf("mswitchd did not come up\n%s", tail(d.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// background samples, for half a second, how busy the machine is with
// work other than ours (the daemon is idle when it is called), in percent
// of one core. It waits, at most QuietWait, for that load to fall below a
// quarter of a core, and returns the last sample.
func (r *runner) background() float64 {
	if r.o.QuietWait < 0 {
		return -1
	}
	deadline := time.Now().Add(r.o.QuietWait)
	for {
		b0, t0, err1 := machineTimes()
		self0, _ := cpuTime(os.Getpid())
		d0, _ := cpuTime(r.d.PID())
		time.Sleep(500 * time.Millisecond)
		b1, t1, err2 := machineTimes()
		self1, _ := cpuTime(os.Getpid())
		d1, _ := cpuTime(r.d.PID())
		if err1 != nil || err2 != nil || t1 == t0 {
			return -1
		}
		busy := 100 * float64(r.rep.Cores) * float64(b1-b0) / float64(t1-t0)
		ours := pct(self1-self0+d1-d0, 500*time.Millisecond)
		load := max(busy-ours, 0)
		if load < 25 || time.Now().After(deadline) {
			if load >= 25 {
				r.o.Logf("memif: the machine is busy with other work (%.0f%% of a core); measuring anyway", load)
			}
			return load
		}
	}
}

// load starts measuring the others' load, with pids and the set's own
// processes (this one, the daemons) counted as ours.
func (r *runner) load(procs ...*proc) *loadMeter {
	ours := procs
	if r.d != nil {
		ours = append(ours, r.d)
	}
	if r.oneCore != nil && r.oneCore.d != nil {
		ours = append(ours, r.oneCore.d)
	}
	if r.main != nil {
		ours = append(ours, r.main.d)
	}
	return startLoad(runtime.NumCPU(), ours...)
}

// quietLimit is the load from other work, in percent of one core, above
// which a measurement is run again while the redo budget lasts.
const quietLimit = 25

// redo runs a measurement, and runs it again while other work used more
// than quietLimit of the machine during it and the redo budget lasts. It
// returns the last result and how many runs were thrown away.
func redo[T any](r *runner, what string, run func() (T, float64, error)) (T, int, error) {
	for n := 0; ; n++ {
		start := time.Now()
		v, other, err := run()
		if err != nil || other < quietLimit || r.redo <= 0 {
			if err == nil && other >= quietLimit {
				r.o.Logf("memif: %s: %.0f%% of a core busy with other work during the run; kept (no redo budget left)", what, other)
			}
			return v, n, err
		}
		r.redone++
		r.o.Logf("memif: %s: %.0f%% of a core busy with other work during the run; running it again", what, other)
		r.background()
		r.redo -= time.Since(start) // the run thrown away and the wait
	}
}

// addPort adds a memif port to switch sw.
func (r *runner) addPort(ctx context.Context, sw, name string, id int, mode string, log2Ring uint8) error {
	_, err := r.c.AddPort(ctx, sw, control.PortSpec{Name: name, Type: control.TypeMemif,
		Memif: &control.MemifSpec{ID: uint32(id), Mode: mode, Log2RingSize: log2Ring}})
	return err
}

// waitLink waits until the memif link of port sw/name is up (or down).
func (r *runner) waitLink(ctx context.Context, sw, name string, up bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := r.c.Port(ctx, sw, name)
		if err != nil {
			return err
		}
		if (p.Link != nil && p.Link.Connected) == up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s/%s: link still %v after 10s", sw, name, !up)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counters returns the packets sw0 sent out of p's receiver port and the
// forwarding batches of p's sender port, all its input queues.
func (r *runner) counters(ctx context.Context, p pair) (tx, batches uint64, err error) {
	st, err := r.c.SwitchStats(ctx, "sw0")
	if err != nil {
		return 0, 0, err
	}
	found := false
	for _, ps := range st.Ports {
		if ps.Name == p.rxPort {
			tx, found = ps.TxPackets, true
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("switch sw0 has no port %s", p.rxPort)
	}
	for _, w := range st.Workers {
		if w.Port == p.txPort {
			batches += w.Batches
		}
	}
	return tx, batches, nil
}

// pktgen's MAC for memif id n.
func pgMAC(n int) string {
	return fmt.Sprintf("02:70:67:%02x:%02x:%02x", n>>16&0xff, n>>8&0xff, n&0xff)
}

// pgSummary is pktgen's -json summary, with what the set adds to it.
type pgSummary struct {
	pktgen.Summary
	load float64 // not pktgen's: the others' load while it ran
}

// DefaultRing is the log2 ring size of memif ports and clients unless told
// otherwise (1024 slots, as DPDK's net_memif).
const DefaultRing = 10

// BigRing is the largest ring mswitchd accepts (16384 slots).
const BigRing = 14

// A pair is two ports of switch sw0, a sender's and a receiver's, in one
// mode with one ring size, with pktgen's MACs of their ids as static
// entries.
type pair struct {
	mode           string
	ring           uint8  // log2 of the ring size, of the ports and pktgen
	txPort, rxPort string // port names
	txID, rxID     int    // memif ids
}

var pairs = []pair{
	{"interrupt", DefaultRing, "p1", "p2", 1, 2},
	{"poll", DefaultRing, "p3", "p4", 3, 4},
	{"interrupt", BigRing, "p5", "p6", 5, 6},
	{"poll", BigRing, "p7", "p8", 7, 8},
}

// pairFor returns the pair of mode and ring.
func pairFor(mode string, ring uint8) pair {
	for _, p := range pairs {
		if p.mode == mode && p.ring == ring {
			return p
		}
	}
	panic(fmt.Sprintf("no port pair in %s mode with 2^%d slots", mode, ring))
}

func (r *runner) setupSw0(ctx context.Context) error {
	if _, err := r.c.Switch(ctx, "sw0"); err == nil {
		return nil
	}
	if _, err := r.c.AddSwitch(ctx, control.SwitchSpec{Name: "sw0"}); err != nil {
		return err
	}
	for _, p := range pairs {
		for _, x := range []struct {
			name string
			id   int
		}{{p.txPort, p.txID}, {p.rxPort, p.rxID}} {
			if err := r.addPort(ctx, "sw0", x.name, x.id, p.mode, p.ring); err != nil {
				return err
			}
			// The receivers never send: without a static entry, the
			// learning switch would flood to them.
			if err := r.c.AddStatic(ctx, "sw0", control.LearningEntry{MAC: pgMAC(x.id), Port: x.name}); err != nil {
				return err
			}
		}
	}
	return nil
}

// sample is the outcome of one traffic run through sw0.
type sample struct {
	sent, received   uint64
	mpps, gbps, loss float64
	sentMpps         float64 // the sender's rate
	fwdMpps          float64 // forwarded by mswitchd in the window
	other            float64 // the others' load in the window
	batchesPerSec    float64 // forwarding batches of the sender's port in the window
	cpuPct, cpuNs    float64 // mswitchd in the window
}

// traffic runs pktgen tx -> sw0 -> pktgen rx for d, at rate pps (0: as
// fast as possible), and measures mswitchd's CPU and forwarding in a
// window inside the run.
func (r *runner) traffic(ctx context.Context, p pair, size int, rate float64, d time.Duration) (sample, error) {
	var s sample
	ring := fmt.Sprint(p.ring)
	rx, err := r.start("pktgen", "-socket", r.sock, "-id", fmt.Sprint(p.rxID), "-f", "rx", "-mode", p.mode, "-ring", ring,
		"-d", (d + 10*time.Second).String(), "-q", "-json")
	if err != nil {
		return s, err
	}
	defer rx.Kill()
	if err := r.waitLink(ctx, "sw0", p.rxPort, true); err != nil {
		return s, err
	}
	args := []string{"-socket", r.sock, "-id", fmt.Sprint(p.txID), "-f", "tx", "-mode", p.mode, "-ring", ring,
		"-l", fmt.Sprint(size), "-d", d.String(), "-dst-mac", pgMAC(p.rxID), "-q", "-json"}
	if rate > 0 {
		args = append(args, "-R", fmt.Sprint(rate))
	}
	tx, err := r.start("pktgen", args...)
	if err != nil {
		return s, err
	}
	defer tx.Kill()

	// The window: after the start-up, before the end.
	time.Sleep(d / 6)
	st0, b0, err := r.counters(ctx, p)
	if err != nil {
		return s, err
	}
	m, err := startMeter(r.d.PID())
	if err != nil {
		return s, err
	}
	lm := r.load(rx, tx)
	time.Sleep(d - d/6 - d/10)
	cpu, wall, err := m.read()
	if err != nil {
		return s, err
	}
	s.other = lm.read()
	st1, b1, err := r.counters(ctx, p)
	if err != nil {
		return s, err
	}
	fwd := st1 - st0
	s.batchesPerSec = float64(b1-b0) / wall.Seconds()
	s.fwdMpps = float64(fwd) / wall.Seconds() / 1e6
	s.cpuPct = pct(cpu, wall)
	if fwd > 0 {
		s.cpuNs = float64(cpu.Nanoseconds()) / float64(fwd)
	}

	if err := tx.Wait(d + 10*time.Second); err != nil {
		return s, fmt.Errorf("pktgen tx: %w\n%s", err, tail(tx.Out.String()))
	}
	time.Sleep(300 * time.Millisecond) // the last packets
	if err := rx.Stop(syscall.SIGINT, 5*time.Second); err != nil {
		return s, fmt.Errorf("pktgen rx: %w\n%s", err, tail(rx.Out.String()))
	}
	var ts, rs pgSummary
	if err := tx.JSON(&ts); err != nil {
		return s, err
	}
	if err := rx.JSON(&rs); err != nil {
		return s, err
	}
	if ts.TX == nil || rs.RX == nil {
		return s, errors.New("pktgen summaries without tx or rx counts")
	}
	s.sent, s.received = ts.TX.Packets, rs.RX.Packets
	s.mpps, s.gbps, s.sentMpps = rs.RX.Mpps, rs.RX.Gbps, ts.TX.Mpps
	if s.sent > 0 {
		s.loss = 100 * float64(s.sent-min(s.sent, s.received)) / float64(s.sent)
	}
	// Both clients gone before the next run attaches to the same ids.
	if err := r.waitLink(ctx, "sw0", p.txPort, false); err != nil {
		return s, err
	}
	return s, r.waitLink(ctx, "sw0", p.rxPort, false)
}

// throughput measures, in rounds, pktgen through mswitchd in both modes and
// testpmd's memif loop, at every size.
func (r *runner) throughput(ctx context.Context) error {
	if err := r.setupSw0(ctx); err != nil {
		return err
	}
	tpmd, why := findTestpmd(r.o.Testpmd)
	if r.o.NoTestpmd {
		tpmd, why = "", "not asked for (Options.NoTestpmd)"
	}
	if why != "" {
		r.rep.TestpmdSkipped = why
		r.o.Logf("memif: testpmd rows skipped: %s", why)
	} else {
		r.rep.Testpmd = testpmdVersion(tpmd)
	}
	type key struct {
		mode  string
		ring  uint8
		size  int
		procs int // 1: through r.oneCore
	}
	samples := make(map[key][]sample)
	tsamples := make(map[int][]testpmdSample)
	bg := make(map[key]float64)
	redone := make(map[key]int)
	addLoad := func(k key, load float64) {
		if old, ok := bg[k]; !ok || load > old {
			bg[k] = load
		}
	}
	var keys []key
	for _, ring := range r.o.Rings {
		for _, size := range r.o.Sizes {
			for _, mode := range []string{"interrupt", "poll"} {
				keys = append(keys, key{mode, ring, size, 0})
			}
		}
	}
	if r.oneCore != nil {
		if err := r.oneCore.setupSw0(ctx); err != nil {
			return err
		}
		for _, size := range r.o.Sizes {
			keys = append(keys, key{"poll", BigRing, size, 1})
		}
	}
	for round := 1; round <= r.o.Runs; round++ {
		r.background()
		for _, k := range keys {
			via, label := r, ""
			if k.procs == 1 {
				via, label = r.oneCore, ", mswitchd GOMAXPROCS=1"
			}
			what := fmt.Sprintf("round %d, %s, %d slots, %d B%s", round, k.mode, 1<<k.ring, k.size, label)
			s, n, err := redo(r, what, func() (sample, float64, error) {
				s, err := via.traffic(ctx, pairFor(k.mode, k.ring), k.size, 0, r.o.Duration)
				return s, s.other, err
			})
			redone[k] += n
			if err != nil {
				return fmt.Errorf("%s, %d slots, %d bytes%s: %w", k.mode, 1<<k.ring, k.size, label, err)
			}
			r.o.Logf("memif: round %d, %s, %d slots, %d B%s: %.2f Mp/s, %.2f Gb/s, loss %.2f%%, mswitchd %.0f%% CPU",
				round, k.mode, 1<<k.ring, k.size, label, s.mpps, s.gbps, s.loss, s.cpuPct)
			samples[k] = append(samples[k], s)
			addLoad(k, s.other)
		}
		if tpmd == "" {
			continue
		}
		for _, size := range r.o.Sizes {
			ts, n, err := redo(r, fmt.Sprintf("round %d, testpmd loop, %d B", round, size), func() (testpmdSample, float64, error) {
				ts, err := r.testpmdLoop(tpmd, size)
				return ts, ts.other, err
			})
			redone[key{"testpmd", 0, size, 0}] += n
			if err != nil {
				return fmt.Errorf("testpmd loop, %d bytes: %w", size, err)
			}
			r.o.Logf("memif: round %d, testpmd loop, %d B: %.2f Mp/s per direction, testpmd %.0f%% CPU",
				round, size, ts.mpps, ts.cpuPct)
			tsamples[size] = append(tsamples[size], ts)
			addLoad(key{"testpmd", 0, size, 0}, ts.other)
		}
	}
	for _, size := range r.o.Sizes {
		for _, k := range keys {
			if k.size != size {
				continue
			}
			ss := samples[k]
			row := Row{Kind: KindThroughput, Mode: k.mode, Ring: 1 << k.ring, Procs: k.procs, Size: size, Ports: 2,
				Runs: len(ss), Background: bg[k], Note: redoNote(redone[k])}
			mpps := pick(ss, func(s sample) float64 { return s.mpps })
			row.Mpps, row.MppsMin, row.MppsMax = median(mpps), slices.Min(mpps), slices.Max(mpps)
			row.Gbps = median(pick(ss, func(s sample) float64 { return s.gbps }))
			row.SentMpps = median(pick(ss, func(s sample) float64 { return s.sentMpps }))
			row.LossPct = median(pick(ss, func(s sample) float64 { return s.loss }))
			row.CPUPct = median(pick(ss, func(s sample) float64 { return s.cpuPct }))
			row.CPUNs = median(pick(ss, func(s sample) float64 { return s.cpuNs }))
			row.BatchesPerSec = median(pick(ss, func(s sample) float64 { return s.batchesPerSec }))
			r.rep.Rows = append(r.rep.Rows, row)
		}
		if ts := tsamples[size]; len(ts) > 0 {
			var all []float64
			for _, t := range ts {
				all = append(all, t.intervals...)
			}
			per := pick(ts, func(t testpmdSample) float64 { return t.mpps })
			row := Row{Kind: KindTestpmd, Mode: "testpmd", Size: size, Ports: 2, Runs: len(ts),
				Mpps: median(all), MppsMin: slices.Min(per), MppsMax: slices.Max(per),
				CPUPct:     median(pick(ts, func(t testpmdSample) float64 { return t.cpuPct })),
				Background: bg[key{"testpmd", 0, size, 0}], Ring: 1 << DefaultRing,
				Note: joinNotes(fmt.Sprintf("median of %d one-second Rx-pps intervals of one port", len(all)),
					redoNote(redone[key{"testpmd", 0, size, 0}]))}
			row.Gbps = row.Mpps * float64(size) * 8 / 1e3
			if row.Mpps > 0 {
				// testpmd forwards both directions on its one lcore.
				row.CPUNs = row.CPUPct / 100 * 1e9 / (2 * row.Mpps * 1e6)
			}
			r.rep.Rows = append(r.rep.Rows, row)
		}
	}
	return nil
}

// rtt measures ping -> sw0 -> pong round trips in both modes.
func (r *runner) rtt(ctx context.Context) error {
	type config struct {
		mode string
		via  *runner
	}
	configs := []config{{"interrupt", r}, {"poll", r}}
	if r.oneCore != nil {
		configs = append(configs, config{"poll", r.oneCore})
	}
	for _, c := range configs {
		mode := c.mode
		r.background()
		p := pairFor(mode, DefaultRing)
		via := c.via
		procs := 0
		if via != r {
			procs = 1
		}
		what := fmt.Sprintf("rtt, %s, mswitchd GOMAXPROCS=%d", mode, procs)
		s, n, err := redo(r, what, func() (pgSummary, float64, error) { return via.pingPong(ctx, p, mode) })
		if err != nil {
			return err
		}
		load := s.load
		us := func(ns int64) float64 { return float64(ns) / 1e3 }
		row := Row{Kind: KindRTT, Mode: mode, Ring: 1 << DefaultRing, Procs: procs, Size: 60, Ports: 2, Runs: 1,
			Background: load, Note: redoNote(n),
			RTT: &RTT{Sent: s.RTT.Sent, Replies: s.RTT.Replies, Timeouts: s.RTT.Timeouts,
				Min: us(s.RTT.Min), P50: us(s.RTT.P50), P90: us(s.RTT.P90), P99: us(s.RTT.P99),
				P999: us(s.RTT.P999), Max: us(s.RTT.Max), Mean: s.RTT.Mean / 1e3}}
		label := ""
		if procs > 0 {
			label = fmt.Sprintf(", mswitchd GOMAXPROCS=%d", procs)
		}
		r.o.Logf("memif: rtt, %s%s: p50 %.1f µs, p99 %.1f µs, %d/%d replies",
			mode, label, row.RTT.P50, row.RTT.P99,
			row.RTT.Replies, row.RTT.Sent)
		r.rep.Rows = append(r.rep.Rows, row)
	}
	return nil
}

// pingPong runs pktgen pong and ping on pair p and returns ping's summary,
// with the others' load while it ran.
func (r *runner) pingPong(ctx context.Context, p pair, mode string) (pgSummary, float64, error) {
	var s pgSummary
	pong, err := r.start("pktgen", "-socket", r.sock, "-id", fmt.Sprint(p.rxID), "-f", "pong", "-mode", mode,
		"-d", "60s", "-q", "-json")
	if err != nil {
		return s, 0, err
	}
	defer pong.Kill()
	if err := r.waitLink(ctx, "sw0", p.rxPort, true); err != nil {
		return s, 0, err
	}
	ping, err := r.start("pktgen", "-socket", r.sock, "-id", fmt.Sprint(p.txID), "-f", "ping", "-mode", mode,
		"-n", fmt.Sprint(r.o.Pings), "-d", r.o.PingLimit.String(), "-dst-mac", pgMAC(p.rxID), "-q", "-json")
	if err != nil {
		return s, 0, err
	}
	lm := r.load(ping, pong)
	err = ping.Wait(r.o.PingLimit + 10*time.Second)
	s.load = lm.read()
	pong.Stop(syscall.SIGINT, 5*time.Second)
	if err != nil {
		return s, 0, fmt.Errorf("pktgen ping: %w\n%s", err, tail(ping.Out.String()))
	}
	if err := ping.JSON(&s); err != nil {
		return s, 0, err
	}
	if s.RTT == nil {
		return s, 0, errors.New("pktgen ping: no rtt in its summary")
	}
	if err := r.waitLink(ctx, "sw0", p.txPort, false); err != nil {
		return s, 0, err
	}
	return s, s.load, r.waitLink(ctx, "sw0", p.rxPort, false)
}

// joinNotes joins the non-empty notes with "; ".
func joinNotes(notes ...string) string {
	var nn []string
	for _, n := range notes {
		if n != "" {
			nn = append(nn, n)
		}
	}
	return strings.Join(nn, "; ")
}

// redoNote says how many runs of a row were thrown away.
func redoNote(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "1 run redone: other work used the machine"
	}
	return fmt.Sprintf("%d runs redone: other work used the machine", n)
}

// rates measures mswitchd's CPU at fixed offered rates, 60-byte frames, in
// both modes.
func (r *runner) rates(ctx context.Context) error {
	for _, mode := range []string{"interrupt", "poll"} {
		for _, rate := range r.o.Rates {
			r.background()
			s, n, err := redo(r, fmt.Sprintf("%s at %s p/s", mode, Rate(rate)), func() (sample, float64, error) {
				s, err := r.traffic(ctx, pairFor(mode, DefaultRing), 60, rate, r.o.RateDuration)
				return s, s.other, err
			})
			if err != nil {
				return fmt.Errorf("%s at %.0f p/s: %w", mode, rate, err)
			}
			r.o.Logf("memif: %s at %.0f p/s: forwarded %.3f Mp/s, mswitchd %.1f%% CPU, %.0f ns/packet",
				mode, rate, s.fwdMpps, s.cpuPct, s.cpuNs)
			r.rep.Rows = append(r.rep.Rows, Row{Kind: KindRate, Mode: mode, Ring: 1 << DefaultRing, Size: 60, Ports: 2, Offered: rate,
				Runs: 1, Mpps: s.fwdMpps, MppsMin: s.fwdMpps, MppsMax: s.fwdMpps, Gbps: s.fwdMpps * 60 * 8 / 1e3,
				LossPct: s.loss, CPUPct: s.cpuPct, CPUNs: s.cpuNs, BatchesPerSec: s.batchesPerSec, Background: s.other,
				Note: redoNote(n)})
		}
	}
	return nil
}

func pick[T any](xs []T, f func(T) float64) []float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return v
}

// median of vs; 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
