package kernelbench

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// udpFrame is the set's frame of size bytes (without the FCS) from src to
// dst: IPv4 h1 -> h2, UDP to sinkPort, a zero payload and no UDP checksum.
func udpFrame(src, dst string, size int) ([]byte, error) {
	s, err1 := net.ParseMAC(src)
	d, err2 := net.ParseMAC(dst)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if size < 42 {
		return nil, fmt.Errorf("frame of %d bytes: less than the headers", size)
	}
	f := make([]byte, size)
	copy(f[0:], d)
	copy(f[6:], s)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 17
	copy(ip[12:], net.ParseIP(h1Addr).To4())
	copy(ip[16:], net.ParseIP(h2Addr).To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], sinkPort)
	binary.BigEndian.PutUint16(udp[2:], sinkPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(size-34))
	return f, nil
}

// trafgenConf is trafgen's configuration for udpFrame(src, dst, size).
func trafgenConf(src, dst string, size int) (string, error) {
	f, err := udpFrame(src, dst, size)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("/* mswitch kernel benchmark set: one UDP flow */\n{\n")
	for i, x := range f {
		if i > 0 {
			b.WriteString(",")
			if i%16 == 0 {
				b.WriteString("\n")
			} else {
				b.WriteString(" ")
			}
		}
		fmt.Fprintf(&b, "0x%02x", x)
	}
	b.WriteString("\n}\n")
	return b.String(), nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// window is the CPU accounting of a window inside a traffic run.
type window struct {
	t0    time.Time
	sw0   time.Duration // the switch process's utime+stime
	m0    cpuStat
	per0  []cpuStat
	snap0 snapshot
}

func (r *runner) startWindow() (*window, error) {
	w := &window{snap0: takeSnapshot()}
	if pid := r.f.pid(); pid != 0 {
		c, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		w.sw0 = c
	}
	var err error
	if w.m0, w.per0, err = machineStat(); err != nil {
		return nil, err
	}
	w.t0 = time.Now()
	return w, nil
}

// cpuUse is the CPU spent over a window.
type cpuUse struct {
	wall      time.Duration
	switchPct float64 // the switch process, % of one core; -1: none
	switchCPU time.Duration
	busyPct   float64   // all CPUs, % of one core (200 = two busy)
	softPct   float64   // softirq, all CPUs
	perPct    []float64 // busy % of each CPU
	busy      time.Duration
	soft      time.Duration
	other     float64 // the others' processes, % of one core
}

func (r *runner) endWindow(w *window) (cpuUse, error) {
	var u cpuUse
	u.wall = time.Since(w.t0)
	u.switchPct = -1
	if pid := r.f.pid(); pid != 0 {
		c, err := cpuTime(pid)
		if err != nil {
			return u, err
		}
		u.switchCPU = c - w.sw0
		u.switchPct = 100 * u.switchCPU.Seconds() / u.wall.Seconds()
	}
	m1, per1, err := machineStat()
	if err != nil {
		return u, err
	}
	u.other = takeSnapshot().othersSince(w.snap0)
	cores := float64(len(per1))
	if d := m1.total - w.m0.total; d > 0 {
		// total counts every CPU's ticks: the wall time in ticks times
		// the CPUs.
		u.busyPct = 100 * cores * float64(m1.busy-w.m0.busy) / float64(d)
		u.softPct = 100 * cores * float64(m1.softirq-w.m0.softirq) / float64(d)
		u.busy = time.Duration(float64(u.wall) * u.busyPct / 100)
		u.soft = time.Duration(float64(u.wall) * u.softPct / 100)
	}
	for i := range min(len(per1), len(w.per0)) {
		if d := per1[i].total - w.per0[i].total; d > 0 {
			u.perPct = append(u.perPct, 100*float64(per1[i].busy-w.per0[i].busy)/float64(d))
		}
	}
	return u, nil
}

// prime sends one ping h1 -> h2, so that the learning switches know both
// hosts' MACs before a run, and fails when the path does not work.
func (r *runner) prime(ctx context.Context) error {
	var err error
	for range 3 {
		if _, err = run(ctx, nil, inNS(r.t.h1, hostCPU, "ping", "-n", "-q", "-c", "1", "-W", "1", h2Addr)...); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no path h1 -> h2 through %s: %w", r.name, err)
}

// ppsSample is one trafgen run.
type ppsSample struct {
	sent, received uint64 // over the whole run
	// switchIn and switchOut are what v1 received and v2 sent, over the
	// whole run (0 for direct).
	switchIn, switchOut uint64
	kernelDrops         uint64  // topo.kernelDrops + the switch's ring-full drops, over the whole run
	switchDrops         string  // the switch's own drops over the whole run, by reason (dropper)
	lossPct             float64 // (sent-received)/sent
	txPps, rxPps        float64 // over the window
	rxBytes             uint64  // h2e's, over the window
	cpu                 cpuUse
	pmdCycles           float64 // OVS: processing cycles per packet in the window
	pmdBusy             float64
	pmdErr              error
}

// pps sends frames of size bytes at rate packets per second and measures
// over a window of Options.Duration after Options.Warmup: with trafgen as
// fast as it goes when rate is 0, otherwise with mswpace, one frame every
// 1/rate seconds.
func (r *runner) pps(ctx context.Context, size int, rate float64) (ppsSample, error) {
	var s ppsSample
	var args []string
	if rate > 0 {
		f, err := udpFrame(r.t.mac1, r.t.mac2, size)
		if err != nil {
			return s, err
		}
		bin, err := r.pacer()
		if err != nil {
			return s, err
		}
		// Bounded by -for too, should the stop below not come.
		limit := r.o.Warmup + r.o.Duration + time.Minute
		args = []string{bin, "-dev", r.t.h1e, "-frame", hex.EncodeToString(f), "-pps", fmt.Sprint(rate), "-for", limit.String()}
	} else {
		conf, err := trafgenConf(r.t.mac1, r.t.mac2, size)
		if err != nil {
			return s, err
		}
		path := filepath.Join(r.dir, fmt.Sprintf("trafgen-%d.cfg", size))
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return s, err
		}
		args = []string{"trafgen", "--notouch-irq", "--no-sock-mem", "--cpus", "1", "--dev", r.t.h1e, "--conf", path}
	}
	if err := r.prime(ctx); err != nil {
		return s, err
	}
	s0, r0, err := r.t.counters(ctx)
	if err != nil {
		return s, err
	}
	in0, out0, err := r.t.switchCounters(ctx)
	if err != nil {
		return s, err
	}
	kd0, err := r.t.kernelDrops(ctx)
	if err != nil {
		return s, err
	}
	dr, _ := r.f.(dropper)
	var sd0 map[string]uint64
	if dr != nil {
		if sd0, err = dr.drops(ctx); err != nil {
			return s, err
		}
	}
	tg, err := start(nil, inNS(r.t.h1, hostCPU, args...)...)
	if err != nil {
		return s, err
	}
	defer tg.Kill()
	if err := sleep(ctx, r.o.Warmup); err != nil {
		return s, err
	}
	if tg.Exited() {
		return s, trafgenErr(args[0], tg.Err(), tg.Out.String())
	}
	cyc, _ := r.f.(cycler)
	if cyc != nil {
		s.pmdErr = cyc.clearCycles(ctx)
	}
	ws0, wr0, wt0, err := r.t.stats2(ctx)
	if err != nil {
		return s, err
	}
	w, err := r.startWindow()
	if err != nil {
		return s, err
	}
	if err := sleep(ctx, r.o.Duration); err != nil {
		return s, err
	}
	s.cpu, err = r.endWindow(w)
	if err != nil {
		return s, err
	}
	ws1, wr1, wt1, err := r.t.stats2(ctx)
	if err != nil {
		return s, err
	}
	if cyc != nil && s.pmdErr == nil {
		s.pmdCycles, s.pmdBusy, s.pmdErr = cyc.cycles(ctx)
	}
	if err := tg.Stop(syscall.SIGINT, 5*time.Second); err != nil && !isSignalExit(err) {
		return s, trafgenErr(args[0], err, tg.Out.String())
	}
	if err := sleep(ctx, 200*time.Millisecond); err != nil { // the last packets
		return s, err
	}
	s1, r1, err := r.t.counters(ctx)
	if err != nil {
		return s, err
	}
	in1, out1, err := r.t.switchCounters(ctx)
	if err != nil {
		return s, err
	}
	kd1, err := r.t.kernelDrops(ctx)
	if err != nil {
		return s, err
	}
	s.switchIn, s.switchOut, s.kernelDrops = in1-in0, out1-out0, kd1-min(kd0, kd1)
	if dr != nil {
		sd1, err := dr.drops(ctx)
		if err != nil {
			return s, err
		}
		var why []string
		for k, n := range sd1 {
			if d := n - min(n, sd0[k]); d > 0 {
				why = append(why, fmt.Sprintf("%s %d", k, d))
				if k == ringFull {
					s.kernelDrops += d
				}
			}
		}
		slices.Sort(why)
		s.switchDrops = strings.Join(why, ", ")
	}
	// The rates are over the time between the counters' reads, which
	// brackets the CPU window.
	secs := wt1.Sub(wt0).Seconds()
	s.txPps = float64(ws1.txPackets+ws1.txDropped-ws0.txPackets-ws0.txDropped) / secs
	s.rxPps = float64(wr1.rxPackets-wr0.rxPackets) / secs
	s.rxBytes = wr1.rxBytes - wr0.rxBytes
	s.sent, s.received = s1-s0, r1-r0
	if rate > 0 {
		// Frames the interface refused count as sent and lost: the
		// counters above do not have them.
		var sent, refused, late uint64
		if _, err := fmt.Sscanf(tg.Out.String(), "sent %d refused %d late %d", &sent, &refused, &late); err != nil {
			return s, fmt.Errorf("read mswpace's summary: %w\n%s", err, tail(tg.Out.String()))
		}
		s.sent += refused
		if refused > 0 || late > 0 {
			r.o.Logf("%s: mswpace: %d frames refused, %d late (more than 1 ms behind its schedule)", r.name, refused, late)
		}
	}
	if s.sent > 0 {
		s.lossPct = 100 * float64(s.sent-min(s.sent, s.received)) / float64(s.sent)
	}
	if s.sent == 0 {
		return s, fmt.Errorf("%s sent nothing\n%s", filepath.Base(args[0]), tail(tg.Out.String()))
	}
	return s, nil
}

// errTrafgenBusy is trafgen stopping because sending returned EAGAIN: the
// veth's transmit queue was stopped, which veth does while its peer's
// ring is full (XDP on the peer: the switch does not keep up), and trafgen
// takes only ENOBUFS as a reason to retry.
var errTrafgenBusy = errors.New("trafgen stopped: sending returned EAGAIN (mxk-h1e's queue stopped: the switch's ring was full)")

// trafgenErr is the error of the generator bin (trafgen or mswpace).
func trafgenErr(bin string, err error, out string) error {
	if strings.Contains(out, "Resource temporarily unavailable") {
		return errTrafgenBusy
	}
	return fmt.Errorf("%s: %v\n%s", filepath.Base(bin), err, tail(out))
}

// stats2 returns the counters of h1e and h2e, and when it read them (the
// middle of the two reads).
func (t *topo) stats2(ctx context.Context) (h1e, h2e linkStats, at time.Time, err error) {
	start := time.Now()
	if h1e, err = t.stats(ctx, t.h1, t.h1e); err != nil {
		return
	}
	h2e, err = t.stats(ctx, t.h2, t.h2e)
	return h1e, h2e, start.Add(time.Since(start) / 2), err
}

// tcpSample is one iperf3 run.
type tcpSample struct {
	gbps        float64
	retransmits int64
	offloads    bool
	cpu         cpuUse
	tried       string // what the settings tried before this one gave
}

// iperf3 answers with -J; the fields the set reads.
type iperf3JSON struct {
	Error string `json:"error"`
	End   struct {
		SumSent struct {
			Bytes       uint64  `json:"bytes"`
			Retransmits int64   `json:"retransmits"`
			BPS         float64 `json:"bits_per_second"`
		} `json:"sum_sent"`
		SumReceived struct {
			Bytes uint64  `json:"bytes"`
			BPS   float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

// tcp runs iperf3, one stream h1 -> h2 for Options.Duration, with the
// veths' offloads on or off.
func (r *runner) tcp(ctx context.Context, offloads bool) (tcpSample, error) {
	s := tcpSample{offloads: offloads}
	if err := r.t.offloads(ctx, offloads); err != nil {
		return s, err
	}
	if err := r.prime(ctx); err != nil {
		return s, err
	}
	const port = "5201"
	srv, err := start(nil, inNS(r.t.h2, hostCPU, "iperf3", "-s", "-1", "-p", port)...)
	if err != nil {
		return s, err
	}
	defer srv.Kill()
	secs := int(math.Ceil(r.o.Duration.Seconds()))
	var res iperf3JSON
	for try := 0; ; try++ {
		if err := sleep(ctx, 200*time.Millisecond); err != nil { // the server's listen
			return s, err
		}
		w, err := r.startWindow()
		if err != nil {
			return s, err
		}
		cl, err := start(nil, inNS(r.t.h1, hostCPU, "iperf3", "-c", h2Addr, "-p", port, "-t", strconv.Itoa(secs),
			"-J", "--connect-timeout", "3000")...)
		if err != nil {
			return s, err
		}
		werr := cl.Wait(time.Duration(secs)*time.Second + 20*time.Second)
		if s.cpu, err = r.endWindow(w); err != nil {
			return s, err
		}
		res = iperf3JSON{}
		out := cl.Out.String()
		if i := strings.IndexByte(out, '{'); i >= 0 {
			json.Unmarshal([]byte(out[i:]), &res)
		}
		// Refused: the server was not listening yet.
		if strings.Contains(res.Error, "refused") && try < 5 && !srv.Exited() {
			continue
		}
		if res.Error != "" {
			return s, fmt.Errorf("iperf3: %s", res.Error)
		}
		if werr != nil {
			return s, fmt.Errorf("iperf3: %w\n%s", werr, tail(out))
		}
		break
	}
	s.gbps = res.End.SumReceived.BPS / 1e9
	s.retransmits = res.End.SumSent.Retransmits
	return s, nil
}

// RTT is a distribution of round-trip times, in microseconds.
type RTT struct {
	Interval           time.Duration // between requests
	Sent, Replies      int
	Min, P50, P99, Max float64
	Mean               float64
}

// ping runs n pings h1 -> h2 at interval (at most Options.PingLimit).
func (r *runner) ping(ctx context.Context, n int, interval time.Duration) (*RTT, cpuUse, error) {
	if err := r.prime(ctx); err != nil {
		return nil, cpuUse{}, err
	}
	limit := int(math.Ceil(r.o.PingLimit.Seconds()))
	w, err := r.startWindow()
	if err != nil {
		return nil, cpuUse{}, err
	}
	out, err := run(ctx, nil, inNS(r.t.h1, hostCPU, "ping", "-n", "-c", strconv.Itoa(n),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', -1, 64), "-W", "1", "-w", strconv.Itoa(limit), h2Addr)...)
	u, uerr := r.endWindow(w)
	if uerr != nil {
		return nil, u, uerr
	}
	rtt, perr := parsePing(out)
	if perr != nil {
		return nil, u, errors.Join(err, perr)
	}
	rtt.Interval = interval
	return rtt, u, nil // ping exits 1 when replies are missing: the counts say so
}

var pingTime = regexp.MustCompile(`time=([0-9.]+) ms`)
var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// parsePing reads iputils ping's output: every reply's time, and the
// summary's counts. Percentiles are nearest-rank.
func parsePing(out string) (*RTT, error) {
	var us []float64
	for _, m := range pingTime.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return nil, err
		}
		us = append(us, v*1000)
	}
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("no summary in ping's output:\n%s", tail(out))
	}
	rtt := &RTT{}
	rtt.Sent, _ = strconv.Atoi(m[1])
	rtt.Replies, _ = strconv.Atoi(m[2])
	if len(us) == 0 {
		return rtt, nil
	}
	slices.Sort(us)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(us)))) - 1
		return us[max(i, 0)]
	}
	rtt.Min, rtt.Max = us[0], us[len(us)-1]
	rtt.P50, rtt.P99 = rank(50), rank(99)
	var sum float64
	for _, v := range us {
		sum += v
	}
	rtt.Mean = sum / float64(len(us))
	return rtt, nil
}

// pacer returns mswpace, built into the set's directory on first use
// (from the work tree: it is the set's tool, not what it measures), or
// taken from Options.Bin when that holds one.
func (r *runner) pacer() (string, error) {
	if r.o.Bin != "" {
		if p := filepath.Join(r.o.Bin, "mswpace"); fileExists(p) {
			return p, nil
		}
	}
	p := filepath.Join(r.dir, "bin", "mswpace")
	if fileExists(p) {
		return p, nil
	}
	b, err := exec.Command("go", "build", "-o", p, "github.com/mswitch/mswitch/bench/kernel/mswpace").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build mswpace: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return p, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
