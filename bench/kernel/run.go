package kernelbench

import (
	"bufio"
	"cmp"
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Workloads, in Row.Workload.
const (
	WorkPPS  = "pps"  // trafgen, one UDP flow, at its maximum or a fixed rate
	WorkTCP  = "tcp"  // iperf3, one stream
	WorkPing = "ping" // iputils ping
	// WorkIdle is no traffic at all: the switch process's CPU while its
	// ports are up and idle (Options.IdleWindow).
	WorkIdle = "idle"
)

// Options configure a run of the set. The zero value of a field means the
// default of Full.
type Options struct {
	// Switches to run, of AllSwitches; nil: all.
	Switches []string
	// Duration is the measurement window of each packet-rate run and the
	// length of each TCP run; every packet-rate run sends for Warmup
	// before its window.
	Duration, Warmup time.Duration
	// Sizes are the frame sizes of the maximum-rate runs, in bytes
	// without the FCS (60: a 64-byte frame on the wire).
	Sizes []int
	// FixedRate is the offered rate, in packets per second, of the
	// fixed-rate run (60-byte frames); negative: none.
	FixedRate float64
	// Pings is the number of pings at each of PingIntervals, each run
	// bounded by PingLimit.
	Pings         int
	PingIntervals []time.Duration
	PingLimit     time.Duration
	// IdleWindow is how long the switch process's CPU is measured with
	// no traffic (switches with a process only); negative: not at all.
	IdleWindow time.Duration
	// TCPRuns is how many iperf3 runs make a switch's TCP row: each
	// offload setting is tried once, and the best one is run until there
	// are TCPRuns; the row is the run of median goodput.
	TCPRuns int
	// Bin is a directory holding mswitchd; "" builds it from the module:
	// from the work tree, or from Commit when set.
	Bin, Commit string
	// Prefix names every namespace and interface the set makes.
	Prefix string
	// QuietWait bounds the wait, before each switch, for the CPU used by
	// other processes to fall below a quarter of a core; negative: no wait.
	QuietWait time.Duration
	// RedoBudget bounds the time spent running measurements again
	// because other processes used more than a quarter of a core during
	// them; negative: none.
	RedoBudget time.Duration
	// Logf reports progress; nil means log.Printf.
	Logf func(format string, args ...any)
}

// Full is the published set: 10-s windows, eight minutes on a quiet
// machine, up to about twelve with the waits and redos of a busy one.
func Full() Options {
	return Options{
		Switches:      AllSwitches,
		Duration:      10 * time.Second,
		Warmup:        time.Second,
		Sizes:         []int{60, 1514},
		FixedRate:     100e3,
		Pings:         1000,
		PingIntervals: []time.Duration{2 * time.Millisecond, 10 * time.Millisecond},
		PingLimit:     30 * time.Second,
		IdleWindow:    5 * time.Second,
		TCPRuns:       3,
		Prefix:        "mxk",
		QuietWait:     20 * time.Second,
		RedoBudget:    150 * time.Second,
	}
}

// Quick is the same set with one-second windows, for tests: about two
// minutes.
func Quick() Options {
	return Options{
		Switches:      AllSwitches,
		Duration:      time.Second,
		Warmup:        300 * time.Millisecond,
		Sizes:         []int{60, 1514},
		FixedRate:     100e3,
		Pings:         200,
		PingIntervals: []time.Duration{2 * time.Millisecond},
		PingLimit:     10 * time.Second,
		IdleWindow:    time.Second,
		TCPRuns:       1,
		Prefix:        "mxk",
		QuietWait:     -1,
		RedoBudget:    -1,
	}
}

func (o *Options) defaults() {
	f := Full()
	if o.Switches == nil {
		o.Switches = f.Switches
	}
	if o.Duration == 0 {
		o.Duration = f.Duration
	}
	if o.Warmup == 0 {
		o.Warmup = f.Warmup
	}
	if o.Sizes == nil {
		o.Sizes = f.Sizes
	}
	if o.FixedRate == 0 {
		o.FixedRate = f.FixedRate
	}
	if o.Pings == 0 {
		o.Pings = f.Pings
	}
	if o.PingIntervals == nil {
		o.PingIntervals = f.PingIntervals
	}
	if o.PingLimit == 0 {
		o.PingLimit = f.PingLimit
	}
	if o.IdleWindow == 0 {
		o.IdleWindow = f.IdleWindow
	}
	if o.TCPRuns == 0 {
		o.TCPRuns = f.TCPRuns
	}
	if o.Prefix == "" {
		o.Prefix = f.Prefix
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

// Row is one measurement of one switch.
type Row struct {
	Switch   string // Switch*
	Workload string // Work*
	// Size is the frame size in bytes without the FCS (pps rows).
	Size int
	// Offered is trafgen's configured rate in packets per second; 0: its
	// maximum.
	Offered float64
	// Sent and Received count over the whole run: mxk-h1e's tx_packets +
	// tx_dropped, mxk-h2e's rx_packets. LossPct = (Sent-Received)/Sent.
	Sent, Received uint64
	LossPct        float64
	// SwitchIn and SwitchOut count, over the whole run, what the
	// switch's veths mxk-v1 received and mxk-v2 sent (rx_packets,
	// tx_packets): Sent − SwitchIn was lost before the switch,
	// SwitchIn − SwitchOut in it, SwitchOut − Received after it.
	SwitchIn, SwitchOut uint64
	// KernelDrops counts, over the whole run, the packets the kernel
	// dropped on their way into the switch's sockets (part of SwitchIn −
	// SwitchOut): mxk-v1's rx_dropped, where veth counts an XDP redirect to
	// a full AF_XDP RX ring, and mswitchd's ring-full drops (its control
	// API), where an afpacket port reports its sockets' full TPACKET rings
	// (PACKET_STATISTICS, which neither ss nor the interface shows).
	KernelDrops uint64
	// SentPps and RxPps are the rates over the window; Gbps is the
	// received frame bytes (without FCS) per second (pps rows), or
	// iperf3's received goodput (tcp rows).
	SentPps, RxPps, Gbps float64
	// SwitchCPUPct is the switch process's utime+stime over the window,
	// in % of one core; -1 for the kernel's switches. SwitchNs is that
	// per forwarded (received) packet, SwitchCycles the same in CPU
	// cycles.
	SwitchCPUPct, SwitchNs, SwitchCycles float64
	// PMDCycles is OVS's processing cycles per packet in the window
	// (dpif-netdev/pmd-stats-show), PMDBusyPct its threads' processing
	// share.
	PMDCycles, PMDBusyPct float64
	// MachinePct is the busy time of all CPUs (/proc/stat) in % of one
	// core, CPUPct each CPU's, SoftirqPct the softirq part; MachineNs and
	// SoftirqNs are per forwarded packet.
	MachinePct, SoftirqPct float64
	CPUPct                 []float64
	MachineNs, SoftirqNs   float64
	// Retransmits are iperf3's (tcp rows); Offloads the veths' offloads
	// during the run: "on" or "off".
	Retransmits int64
	Offloads    string
	RTT         *RTT // ping rows
	// Background is the CPU other processes used during the window, in %
	// of one core; -1: unknown.
	Background float64
	Note       string
}

// SwitchRun says how one switch ran.
type SwitchRun struct {
	Name string
	Note string // how it was set up
	// Skipped says why it did not run or stopped, "" when it ran through.
	Skipped string
	// Failed are the workloads that failed (the switch went on with the
	// next), with why.
	Failed []string
}

// Machine describes where the set ran.
type Machine struct {
	CPU    string
	MHz    float64 // cycles per microsecond of the CPU, from /proc/cpuinfo
	Cores  int
	Kernel string
}

// Report is the outcome of Run.
type Report struct {
	Start    time.Time
	Took     time.Duration
	Machine  Machine
	Versions map[string]string // tool -> its version line
	Switches []SwitchRun
	Rows     []Row
	Options  Options
	// Redone counts the measurements run again because other work used
	// the machine during them.
	Redone int
}

// Find returns the first row of sw and workload with size and offered rate
// (pps rows), or nil.
func (rep *Report) Find(sw, workload string, size int, offered float64) *Row {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Switch == sw && r.Workload == workload && (workload != WorkPPS || r.Size == size && r.Offered == offered) {
			return r
		}
	}
	return nil
}

// FindPing returns the ping row of sw at interval, or nil.
func (rep *Report) FindPing(sw string, interval time.Duration) *Row {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Switch == sw && r.Workload == WorkPing && r.RTT != nil && r.RTT.Interval == interval {
			return r
		}
	}
	return nil
}

// Ran returns how switch sw ran, or nil.
func (rep *Report) Ran(sw string) *SwitchRun {
	for i := range rep.Switches {
		if rep.Switches[i].Name == sw {
			return &rep.Switches[i]
		}
	}
	return nil
}

// tools the set needs in every case.
var tools = []string{"ip", "ethtool", "taskset", "nft", "trafgen", "iperf3", "ping", "sysctl"}

// Missing says why the set cannot run here: not root, fewer than two
// CPUs, or a tool not found (with its Debian package); "" if it can.
func Missing() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces)"
	}
	if runtime.NumCPU() < 2 {
		return "needs two CPUs"
	}
	pkgs := map[string]string{"nft": "nftables", "trafgen": "netsniff-ng", "iperf3": "iperf3", "ping": "iputils-ping",
		"ethtool": "ethtool", "ip": "iproute2", "taskset": "util-linux", "sysctl": "procps"}
	var miss []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			miss = append(miss, fmt.Sprintf("%s (Debian package %s)", t, pkgs[t]))
		}
	}
	if len(miss) > 0 {
		return "not found: " + strings.Join(miss, ", ")
	}
	return ""
}

// runner holds the state of one run of the set.
type runner struct {
	o      Options
	dir    string
	rep    *Report
	redo   time.Duration // what is left of Options.RedoBudget
	msdBin string        // mswitchd, once built
	msdWhy string        // why there is none
	// of the switch being measured
	failed []string // its workloads that failed
	name   string
	t      *topo
	f      fwd
}

// ErrBusy is returned when another run of the set with the same prefix is
// under way.
var ErrBusy = errors.New("another run of the kernel set is under way")

// Run runs the set. Every process it starts is ended, and every namespace
// it makes removed, before it returns, also on SIGINT or SIGTERM (which
// cancel it). A switch that cannot run or fails is reported in
// Report.Switches and the set goes on with the next.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if why := Missing(); why != "" {
		return nil, errors.New("kernel set: " + why)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), o.Prefix+"-kernelbench.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("%w (prefix %s): %v", ErrBusy, o.Prefix, err)
	}
	dir, err := os.MkdirTemp("", o.Prefix)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// Left over by a run that was killed: ours (the lock says no other
	// run uses the prefix).
	if err := removeNamespaces(ctx, o.Prefix); err != nil {
		return nil, err
	}
	r := &runner{o: o, dir: dir, redo: o.RedoBudget,
		rep: &Report{Start: time.Now(), Machine: describeMachine(), Versions: versions(ctx), Options: o}}
	for _, name := range o.Switches {
		if err := ctx.Err(); err != nil {
			return r.rep, err
		}
		sr := SwitchRun{Name: name}
		f, why := newFwd(name, r)
		if why != "" {
			sr.Skipped = why
			o.Logf("kernel: %s skipped: %s", name, why)
			r.rep.Switches = append(r.rep.Switches, sr)
			continue
		}
		if isMswitch(name) {
			r.rep.Versions["mswitchd"] = r.version(ctx)
		}
		o.Logf("kernel: %s", name)
		r.failed = nil
		err := r.runSwitch(ctx, name, f)
		sr.Note, sr.Failed = f.note(), r.failed
		if err != nil {
			sr.Skipped = "failed: " + err.Error()
			o.Logf("kernel: %s: %v", name, err)
		}
		r.rep.Switches = append(r.rep.Switches, sr)
		if ctx.Err() != nil {
			return r.rep, ctx.Err()
		}
	}
	r.rep.Took = time.Since(r.rep.Start)
	return r.rep, nil
}

// runSwitch builds the topology, starts switch f and runs every workload
// through it; the switch is stopped and the topology removed at the end.
func (r *runner) runSwitch(ctx context.Context, name string, f fwd) (err error) {
	r.name, r.f = name, f
	r.t = newTopo(r.o.Prefix, name == SwitchDirect)
	defer func() {
		// Cleanup runs even when ctx is cancelled.
		bg, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = errors.Join(err, f.down(bg), removeNamespaces(bg, r.o.Prefix))
	}()
	if err := r.t.up(ctx); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	if err := f.up(ctx, r.t); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	// The path may take a moment (OVS's ports, XDP programs).
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := r.prime(ctx); err == nil {
			break
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
	}
	r.quiet()
	var work []func(context.Context) error
	if r.o.IdleWindow > 0 && f.pid() != 0 {
		work = append(work, r.idleRow)
	}
	for _, size := range r.o.Sizes {
		work = append(work, func(ctx context.Context) error { return r.ppsRow(ctx, size, 0) })
	}
	if r.o.FixedRate > 0 {
		work = append(work, func(ctx context.Context) error { return r.ppsRow(ctx, 60, r.o.FixedRate) })
	}
	for _, iv := range r.o.PingIntervals {
		work = append(work, func(ctx context.Context) error { return r.pingRow(ctx, iv) })
	}
	work = append(work, r.tcpRow)
	for _, w := range work {
		if err := w(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// The switch may still carry the other workloads.
			r.failed = append(r.failed, err.Error())
			r.o.Logf("kernel: %v", err)
		}
	}
	return nil
}

func (r *runner) ppsRow(ctx context.Context, size int, rate float64) error {
	what := fmt.Sprintf("%s, %d B, %s", r.name, size, rateLabel(rate))
	busy := 0
	s, n, err := redo(r, what, func() (ppsSample, float64, error) {
		for {
			s, err := r.pps(ctx, size, rate)
			if errors.Is(err, errTrafgenBusy) && busy < maxBusy {
				busy++
				r.o.Logf("kernel: %s: %v; running it again", what, err)
				continue
			}
			return s, s.cpu.other, err
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	row := Row{Switch: r.name, Workload: WorkPPS, Size: size, Offered: rate, Sent: s.sent, Received: s.received,
		LossPct: s.lossPct, SwitchIn: s.switchIn, SwitchOut: s.switchOut, KernelDrops: s.kernelDrops, SentPps: s.txPps, RxPps: s.rxPps, Gbps: float64(s.rxBytes) * 8 / s.cpu.wall.Seconds() / 1e9,
		Background: s.cpu.other, Note: joinNotes(redoNote(n), busyNote(busy))}
	if s.switchDrops != "" {
		row.Note = joinNotes(row.Note, "the switch's drops: "+s.switchDrops)
	}
	r.fillCPU(&row, s.cpu, s.rxPps)
	if _, ok := r.f.(cycler); ok {
		if s.pmdErr != nil {
			row.Note = joinNotes(row.Note, "pmd-stats: "+s.pmdErr.Error())
		}
		row.PMDCycles, row.PMDBusyPct = s.pmdCycles, s.pmdBusy
	}
	r.o.Logf("kernel: %s: sent %.0f kp/s, received %.0f kp/s, loss %.3f%% (%d dropped by the kernel into the switch), switch %.0f%% CPU (%.0f ns/packet), machine %.0f%% (%.0f ns/packet)",
		what, s.txPps/1e3, s.rxPps/1e3, s.lossPct, s.kernelDrops, row.SwitchCPUPct, row.SwitchNs, row.MachinePct, row.MachineNs)
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

// fillCPU sets the CPU fields of row from u, per packet at pps.
func (r *runner) fillCPU(row *Row, u cpuUse, pps float64) {
	row.SwitchCPUPct = u.switchPct
	row.MachinePct, row.SoftirqPct, row.CPUPct = u.busyPct, u.softPct, u.perPct
	if pps <= 0 {
		return
	}
	pkts := pps * u.wall.Seconds()
	if u.switchPct >= 0 {
		row.SwitchNs = float64(u.switchCPU.Nanoseconds()) / pkts
		row.SwitchCycles = row.SwitchNs * r.rep.Machine.MHz / 1e3
	}
	row.MachineNs = float64(u.busy.Nanoseconds()) / pkts
	row.SoftirqNs = float64(u.soft.Nanoseconds()) / pkts
}

// idleRow measures the switch process's CPU over Options.IdleWindow with
// no traffic: what its ports cost while nothing happens.
func (r *runner) idleRow(ctx context.Context) error {
	what := r.name + ", idle"
	u, n, err := redo(r, what, func() (cpuUse, float64, error) {
		if err := sleep(ctx, 200*time.Millisecond); err != nil { // the last ping's echo
			return cpuUse{}, 0, err
		}
		w, err := r.startWindow()
		if err != nil {
			return cpuUse{}, 0, err
		}
		if err := sleep(ctx, r.o.IdleWindow); err != nil {
			return cpuUse{}, 0, err
		}
		u, err := r.endWindow(w)
		return u, u.other, err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	row := Row{Switch: r.name, Workload: WorkIdle, Background: u.other, Note: redoNote(n)}
	r.fillCPU(&row, u, 0)
	r.o.Logf("kernel: %s: switch %.2f%% CPU over %v", what, row.SwitchCPUPct, u.wall.Round(time.Millisecond))
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

func (r *runner) pingRow(ctx context.Context, iv time.Duration) error {
	what := fmt.Sprintf("%s, ping -i %v", r.name, iv)
	type res struct {
		rtt *RTT
		u   cpuUse
	}
	v, n, err := redo(r, what, func() (res, float64, error) {
		rtt, u, err := r.ping(ctx, r.o.Pings, iv)
		return res{rtt, u}, u.other, err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	row := Row{Switch: r.name, Workload: WorkPing, RTT: v.rtt, Background: v.u.other, Note: redoNote(n)}
	r.fillCPU(&row, v.u, 0)
	r.o.Logf("kernel: %s: %d/%d replies, p50 %.0f µs, p99 %.0f µs", what, v.rtt.Replies, v.rtt.Sent, v.rtt.P50, v.rtt.P99)
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

// tcpWorks is the least goodput, in Gb/s, at which an offload setting is
// taken to carry TCP; of the settings a switch is tried with, the one with
// the most goodput is kept.
const tcpWorks = 0.1

func (r *runner) tcpRow(ctx context.Context) error {
	type result struct {
		s   tcpSample
		n   int
		err error
	}
	var res []result
	best := -1
	for _, on := range r.f.offloads() {
		what := fmt.Sprintf("%s, tcp, offloads %s", r.name, onOff(on))
		s, n, err := redo(r, what, func() (tcpSample, float64, error) {
			s, err := r.tcp(ctx, on)
			return s, s.cpu.other, err
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.o.Logf("kernel: %s: %v", what, err)
		} else {
			r.o.Logf("kernel: %s: %.2f Gb/s, %d retransmits, switch %.0f%% CPU", what, s.gbps, s.retransmits, s.cpu.switchPct)
		}
		res = append(res, result{s, n, err})
		if err == nil && s.gbps >= tcpWorks && (best < 0 || s.gbps > res[best].s.gbps) {
			best = len(res) - 1
		}
	}
	if best < 0 {
		var whys []string
		for _, x := range res {
			why := fmt.Sprintf("%.2f Gb/s", x.s.gbps)
			if x.err != nil {
				why = x.err.Error()
			}
			whys = append(whys, fmt.Sprintf("offloads %s: %s", onOff(x.s.offloads), why))
		}
		return fmt.Errorf("%s, tcp: no offload setting carries %.1f Gb/s: %s", r.name, tcpWorks, strings.Join(whys, "; "))
	}
	// The best setting is the row; the others are its note.
	var others []string
	for i, x := range res {
		if i == best {
			continue
		}
		if x.err != nil {
			others = append(others, fmt.Sprintf("offloads %s: %v", onOff(x.s.offloads), x.err))
		} else {
			others = append(others, fmt.Sprintf("offloads %s: %.2f Gb/s, %d retransmits", onOff(x.s.offloads), x.s.gbps, x.s.retransmits))
		}
	}
	// More runs of the best setting; the row is the median one.
	runs, n := []tcpSample{res[best].s}, res[best].n
	what := fmt.Sprintf("%s, tcp, offloads %s", r.name, onOff(res[best].s.offloads))
	for len(runs) < r.o.TCPRuns {
		s, k, err := redo(r, what, func() (tcpSample, float64, error) {
			s, err := r.tcp(ctx, res[best].s.offloads)
			return s, s.cpu.other, err
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n += k
		if err != nil {
			// The runs made so far still make the row.
			r.o.Logf("kernel: %s, run %d: %v", what, len(runs)+1, err)
			others = append(others, fmt.Sprintf("run %d: %v", len(runs)+1, err))
			break
		}
		r.o.Logf("kernel: %s, run %d: %.2f Gb/s, %d retransmits, switch %.0f%% CPU", what, len(runs)+1, s.gbps, s.retransmits, s.cpu.switchPct)
		runs = append(runs, s)
	}
	var runNote string
	if len(runs) > 1 {
		gb := make([]string, len(runs))
		for i, x := range runs {
			gb[i] = fmt.Sprintf("%.2f", x.gbps)
		}
		runNote = fmt.Sprintf("median of %d runs (%s Gb/s)", len(runs), strings.Join(gb, ", "))
	}
	slices.SortFunc(runs, func(a, b tcpSample) int { return cmp.Compare(a.gbps, b.gbps) })
	s := runs[(len(runs)-1)/2]
	row := Row{Switch: r.name, Workload: WorkTCP, Gbps: s.gbps, Retransmits: s.retransmits, Offloads: onOff(s.offloads),
		Background: s.cpu.other, Note: joinNotes(append([]string{runNote}, append(others, redoNote(n))...)...)}
	r.fillCPU(&row, s.cpu, 0)
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// maxRedo is how many times one measurement is run again at most, so that
// the redo budget is not spent on one.
const maxRedo = 2

// quietLimit is the CPU other processes may use, in percent of one core,
// before a measurement counts as disturbed.
const quietLimit = 25

// quiet waits, at most QuietWait, for the CPU used by other processes to
// fall below quietLimit.
func (r *runner) quiet() {
	if r.o.QuietWait < 0 {
		return
	}
	deadline := time.Now().Add(r.o.QuietWait)
	for {
		s0 := takeSnapshot()
		time.Sleep(500 * time.Millisecond)
		load := takeSnapshot().othersSince(s0)
		if load < quietLimit {
			return
		}
		if time.Now().After(deadline) {
			r.o.Logf("kernel: other processes use %.0f%% of a core; measuring anyway", load)
			return
		}
	}
}

// redo runs a measurement, and runs it again while other processes used
// more than quietLimit during it and the redo budget lasts. It returns the
// last result and how many runs were thrown away.
func redo[T any](r *runner, what string, run func() (T, float64, error)) (T, int, error) {
	for n := 0; ; n++ {
		start := time.Now()
		v, other, err := run()
		if err != nil || other < quietLimit || r.redo <= 0 || n >= maxRedo {
			if err == nil && other >= quietLimit {
				r.o.Logf("kernel: %s: other processes used %.0f%% of a core; kept (redone %d times, %v of the budget left)",
					what, other, n, max(r.redo, 0).Round(time.Second))
			}
			return v, n, err
		}
		r.rep.Redone++
		r.o.Logf("kernel: %s: other processes used %.0f%% of a core; running it again", what, other)
		r.quiet()
		r.redo -= time.Since(start)
	}
}

// maxBusy is how many times a packet-rate run is tried again after
// trafgen stopped on EAGAIN.
const maxBusy = 2

// busyNote says how many runs trafgen's EAGAIN cut short.
func busyNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d run(s) before this one ended early: %v", n, errTrafgenBusy)
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

// rateLabel writes an offered rate: "max", "100 kp/s".
func rateLabel(pps float64) string {
	if pps == 0 {
		return "max rate"
	}
	return strconv.FormatFloat(pps/1e3, 'f', -1, 64) + " kp/s"
}

func describeMachine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if m.CPU == "unknown" {
					m.CPU = strings.TrimSpace(v)
				}
			case "cpu MHz":
				if m.MHz == 0 {
					m.MHz, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// versions returns the first line of each tool's version.
func versions(ctx context.Context) map[string]string {
	v := make(map[string]string)
	for _, c := range [][]string{
		{"ovs-vswitchd", "--version"}, {"trafgen", "-v"}, {"iperf3", "-v"}, {"ping", "-V"}, {"nft", "-v"},
	} {
		out, err := run(ctx, nil, c...)
		if err != nil && out == "" {
			continue
		}
		line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		v[c[0]] = strings.TrimSpace(line)
	}
	return v
}

// version is mswitchd's version line.
func (r *runner) version(ctx context.Context) string {
	bin, why := r.mswitchd()
	if why != "" {
		return ""
	}
	out, _ := run(ctx, nil, bin, "-version")
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	// The commit it was built from, and whether the work tree had changes.
	switch {
	case r.o.Bin != "":
	case r.o.Commit != "":
		if rev, err := run(ctx, nil, "git", "rev-parse", "--short=12", r.o.Commit); err == nil {
			line += ", built from commit " + strings.TrimSpace(rev)
		}
	default:
		if rev, err := run(ctx, nil, "git", "rev-parse", "--short=12", "HEAD"); err == nil {
			line += ", built from " + strings.TrimSpace(rev)
			// Changes to the Go code that goes into mswitchd (tests
			// and docs aside), new files included.
			if st, err := run(ctx, nil, "git", "status", "--porcelain", "--untracked-files=all", "--",
				":(top,glob)**/*.go", ":(top,exclude,glob)**/*_test.go", ":(top,exclude)bench"); err == nil && strings.TrimSpace(st) != "" {
				line += " and the work tree's uncommitted changes"
			}
		}
	}
	return line
}
