package kernelbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAFXDPCompare measures mswitchd with two afxdp ports at trafgen's
// maximum rate of 64-byte frames, for one or more mswitchd binaries taken
// in turn (A B A B ...), and prints each run and the medians: the
// comparison the port's performance changes are judged by, without the rest
// of the set.
//
//	MSWBENCH_AFXDP=old=/tmp/a/mswitchd,new=/tmp/b/mswitchd \
//	MSWBENCH_AFXDP_RUNS=5 MSWBENCH_AFXDP_MODE=interrupt \
//	go test -run AFXDPCompare -v -timeout 30m ./bench/kernel
//
// MSWBENCH_AFXDP_RATE offers a fixed rate instead (packets per second,
// steady: mswpace sends one frame every 1/rate seconds; trafgen 0.6.8's
// --rate sent each second's packets in one burst at its full speed and then
// idled: mxq-h1e's tx_packets, read every millisecond at 100,000 pps, rose by
// 100,000 in about 130 ms at 550-800 kp/s, then not at all for 850 ms),
// MSWBENCH_AFXDP_PING=2ms sends 500 pings at that interval instead,
// MSWBENCH_AFXDP_SIZE sets the frame size (default 60 bytes, 64 with the FCS),
// MSWBENCH_AFXDP_SECS is the window (default 3 s after a 1-s warmup), and
// MSWBENCH_AFXDP_PROBE a command run during each window with {pid} and
// {secs} replaced (perf stat -p {pid} ..., strace -c -f -p {pid}), whose
// output is printed. MSWBENCH_AFXDP_HOG=1 runs a busy loop on the switch's
// CPU, in a session of its own, through each run: another process's work
// on a shared core, which an Interrupt-mode queue's thread waits behind
// (with a 4,096-frame RX ring it lost 3.6-8.2 % at 100 kp/s). It uses the
// prefix mxq.
func TestAFXDPCompare(t *testing.T) {
	spec := os.Getenv("MSWBENCH_AFXDP")
	if spec == "" {
		t.Skip("MSWBENCH_AFXDP not set (label=path-to-mswitchd,...)")
	}
	if why := Missing(); why != "" {
		t.Skip(why)
	}
	bins := parseBins(spec)
	runs := envInt("MSWBENCH_AFXDP_RUNS", 3)
	secs := envInt("MSWBENCH_AFXDP_SECS", 3)
	mode := os.Getenv("MSWBENCH_AFXDP_MODE")
	if mode == "" {
		mode = "interrupt"
	}
	probe := os.Getenv("MSWBENCH_AFXDP_PROBE")
	rate := envInt("MSWBENCH_AFXDP_RATE", 0) // packets per second; 0: trafgen's maximum
	pingIv, _ := time.ParseDuration(os.Getenv("MSWBENCH_AFXDP_PING"))
	size := envInt("MSWBENCH_AFXDP_SIZE", 60) // bytes without the FCS
	hog := os.Getenv("MSWBENCH_AFXDP_HOG") == "1"

	o := Options{Duration: time.Duration(secs) * time.Second, Warmup: time.Second, Prefix: "mxq", Logf: t.Logf}
	o.defaults()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs*len(bins))*time.Duration(secs+30)*time.Second)
	defer cancel()
	if err := removeNamespaces(ctx, o.Prefix); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNamespaces(context.Background(), o.Prefix) })
	mach := describeMachine()

	type res struct{ rx, tx, ns, cyc, loss, kd, cpu []float64 }
	all := make(map[string]*res)
	for i := 0; i < runs; i++ {
		for _, b := range bins {
			r := &runner{o: o, dir: dir, name: b.label, t: newTopo(o.Prefix, false),
				rep: &Report{Machine: mach}}
			m := &mswitch{afxdp: true, mode: mode, bin: b.path, dir: dir}
			r.f = m
			rtCh := make(chan time.Duration, 1)
			s, out, err := func() (ppsSample, string, error) {
				defer func() {
					m.down(context.Background())
					removeNamespaces(context.Background(), o.Prefix)
				}()
				if err := r.t.up(ctx); err != nil {
					return ppsSample{}, "", err
				}
				if err := m.up(ctx, r.t); err != nil {
					return ppsSample{}, "", err
				}
				if hog {
					stop, err := startHog(ctx, switchCPU)
					if err != nil {
						return ppsSample{}, "", err
					}
					defer stop()
				}
				for try := 0; ; try++ {
					if err := r.prime(ctx); err == nil {
						break
					} else if try > 10 {
						return ppsSample{}, "", err
					}
				}
				var pout strings.Builder
				var pc *exec.Cmd
				if probe != "" {
					c := strings.NewReplacer("{pid}", strconv.Itoa(m.pid()), "{secs}", strconv.Itoa(secs)).Replace(probe)
					// From the window's start, after the warmup.
					pc = exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("sleep %g; %s", o.Warmup.Seconds(), c))
					pc.Stdout, pc.Stderr = &pout, &pout
					if err := pc.Start(); err != nil {
						return ppsSample{}, "", err
					}
				}
				// The run time of mswitchd's threads, in nanoseconds
				// (schedstat), over the window: exact, where utime+stime
				// are sampled at each tick.
				pid := m.pid()
				go func() {
					time.Sleep(o.Warmup)
					rt0 := runTime(pid)
					time.Sleep(o.Duration)
					rtCh <- runTime(pid) - rt0
				}()
				if pingIv > 0 {
					rtt, _, err := r.ping(ctx, 500, pingIv)
					if err == nil {
						t.Logf("%-8s run %d: ping -i %v: %d/%d replies, p50 %.0f µs, p99 %.0f µs", b.label, i, pingIv, rtt.Replies, rtt.Sent, rtt.P50, rtt.P99)
					}
					<-rtCh
					return ppsSample{}, "", err
				}
				s, err := r.pps(ctx, size, float64(rate))
				if pc != nil {
					pc.Wait()
				}
				return s, pout.String(), err
			}()
			if err == nil && pingIv > 0 {
				continue
			}
			if err != nil {
				if m.d != nil {
					t.Logf("mswitchd's output:\n%s", m.d.Out.String())
				}
				t.Fatalf("%s run %d: %v", b.label, i, err)
			}
			u := s.cpu
			pkts := s.rxPps * u.wall.Seconds()
			ns := float64((<-rtCh).Nanoseconds()) / pkts // the window of runTime is within a few ms of pps's
			x := all[b.label]
			if x == nil {
				x = &res{}
				all[b.label] = x
			}
			x.rx = append(x.rx, s.rxPps/1e3)
			x.tx = append(x.tx, s.txPps/1e3)
			x.ns = append(x.ns, ns)
			x.cyc = append(x.cyc, ns*mach.MHz/1e3)
			x.loss = append(x.loss, s.lossPct)
			x.kd = append(x.kd, float64(s.kernelDrops))
			x.cpu = append(x.cpu, u.switchPct)
			t.Logf("%-8s run %d: sent %.0f kp/s, received %.0f kp/s, loss %.3f%%, kernel ring drops %d, switch %.0f%% CPU (ticks), %.0f ns/packet (run time), %.0f cycles/packet, other %.0f%%, CPUs %.0f; switch drops: %s",
				b.label, i, s.txPps/1e3, s.rxPps/1e3, s.lossPct, s.kernelDrops, u.switchPct, ns, ns*mach.MHz/1e3, u.other, u.perPct, s.switchDrops)
			if out != "" {
				t.Logf("%s run %d probe:\n%s", b.label, i, out)
			}
		}
	}
	med := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	base := all[bins[0].label]
	for _, b := range bins {
		if pingIv > 0 {
			break
		}
		x := all[b.label]
		t.Logf("median %-8s: sent %.0f kp/s, received %.0f kp/s, loss %.3f%%, kernel ring drops %.0f, switch CPU %.0f%%, %.0f ns/packet, %.0f cycles/packet (x%.2f of %s), rate x%.2f",
			b.label, med(x.tx), med(x.rx), med(x.loss), med(x.kd), med(x.cpu), med(x.ns), med(x.cyc),
			med(x.cyc)/med(base.cyc), bins[0].label, med(x.rx)/med(base.rx))
	}
}

// startHog starts a busy loop pinned to cpu, in a session (and so an
// autogroup) of its own, as an unrelated process would be; stop ends it.
func startHog(ctx context.Context, cpu int) (stop func(), err error) {
	c := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(cpu), "sh", "-c", "while :; do :; done")
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start busy loop: %w", err)
	}
	return func() {
		c.Process.Kill()
		c.Wait()
	}, nil
}

// runTime sums the run time of every thread of process pid
// (/proc/PID/task/*/schedstat, first field), in nanoseconds.
func runTime(pid int) time.Duration {
	var sum time.Duration
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64); err == nil {
			sum += time.Duration(v)
		}
	}
	return sum
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v >= 0 {
		return v
	}
	return def
}
