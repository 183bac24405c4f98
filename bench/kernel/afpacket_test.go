package kernelbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAFPacketCompare measures mswitchd with two afpacket ports, for one or
// more mswitchd binaries taken in turn (A B A B ...): trafgen's maximum
// rate (unless MSWBENCH_AFPACKET_PPS=0), then (unless
// MSWBENCH_AFPACKET_TCP=0) one iperf3 TCP stream with the veths' offloads
// on. It prints each run and the medians, with ratios against the first
// binary: the comparison the port's performance changes are judged by,
// without the rest of the set.
//
//	MSWBENCH_AFPACKET=old=/tmp/a/mswitchd,new=/tmp/b/mswitchd \
//	MSWBENCH_AFPACKET_RUNS=3 go test -run AFPacketCompare -v -timeout 30m ./bench/kernel
//
// An entry "bridge=bridge" runs the Linux bridge instead of mswitchd, the
// reference of the TCP target, in the same run (its ratios are against the
// first entry too).
//
// MSWBENCH_AFPACKET_FRAME is the packet rate's frame size with FCS (64 or
// 1518; default 64), MSWBENCH_AFPACKET_RATE a fixed rate in packets per
// second (steady, mswpace) instead of trafgen's maximum, MSWBENCH_AFPACKET_SECS the window (default 3 s after a
// 1-s warmup), MSWBENCH_AFPACKET_MODE the ports' mode (default interrupt), and
// MSWBENCH_AFPACKET_PROBE a command run during each packet-rate window
// with {pid} and {secs} replaced (perf stat -p {pid} ..., strace -c -f -p
// {pid}), whose output is printed; MSWBENCH_AFPACKET_TCPPROBE the same
// during each TCP stream (from 1 s into it). MSWBENCH_AFPACKET_RPS,
// "label:cpus,...", sets the ports' --rps-cpus of an entry (default 0, "-"
// for none).
// It uses the prefix mxp.
func TestAFPacketCompare(t *testing.T) {
	spec := os.Getenv("MSWBENCH_AFPACKET")
	if spec == "" {
		t.Skip("MSWBENCH_AFPACKET not set (label=path-to-mswitchd,...)")
	}
	if why := Missing(); why != "" {
		t.Skip(why)
	}
	bins := parseBins(spec)
	runs := envInt("MSWBENCH_AFPACKET_RUNS", 3)
	secs := max(envInt("MSWBENCH_AFPACKET_SECS", 3), 1)
	withTCP := envInt("MSWBENCH_AFPACKET_TCP", 1) != 0
	withPPS := envInt("MSWBENCH_AFPACKET_PPS", 1) != 0
	frame := envInt("MSWBENCH_AFPACKET_FRAME", 64)
	rate := envInt("MSWBENCH_AFPACKET_RATE", 0)
	mode := os.Getenv("MSWBENCH_AFPACKET_MODE")
	if mode == "" {
		mode = "interrupt"
	}
	probe := os.Getenv("MSWBENCH_AFPACKET_PROBE")
	tcpProbe := os.Getenv("MSWBENCH_AFPACKET_TCPPROBE")
	rps := make(map[string]string)
	for _, e := range strings.Split(os.Getenv("MSWBENCH_AFPACKET_RPS"), ",") {
		if label, cpus, ok := strings.Cut(e, ":"); ok {
			rps[label] = cpus
		}
	}

	o := Options{Duration: time.Duration(secs) * time.Second, Warmup: time.Second, Prefix: "mxp", Logf: t.Logf}
	o.defaults()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs*len(bins))*time.Duration(2*secs+60)*time.Second)
	defer cancel()
	if err := removeNamespaces(ctx, o.Prefix); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNamespaces(context.Background(), o.Prefix) })
	mach := describeMachine()

	type res struct{ rx, tx, ns, cyc, loss, kd, cpu, gbps, tcpCPU []float64 }
	all := make(map[string]*res)
	for i := 0; i < runs; i++ {
		for _, b := range bins {
			r := &runner{o: o, dir: dir, name: b.label, t: newTopo(o.Prefix, false), rep: &Report{Machine: mach}}
			var f fwd = &mswitch{mode: mode, bin: b.path, dir: dir, rps: rps[b.label]}
			if b.path == "bridge" {
				f = &bridge{}
			}
			r.f = f
			var ts tcpSample
			tcpDrops := "-"
			var pout strings.Builder
			// startProbe runs cmd after delay, unless there is no switch process.
			startProbe := func(cmd string, delay float64) (*exec.Cmd, error) {
				if cmd == "" || f.pid() == 0 {
					return nil, nil
				}
				c := strings.NewReplacer("{pid}", strconv.Itoa(f.pid()), "{secs}", strconv.Itoa(secs)).Replace(cmd)
				pc := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("sleep %g; %s", delay, c))
				pc.Stdout, pc.Stderr = &pout, &pout
				return pc, pc.Start()
			}
			s, err := func() (ppsSample, error) {
				defer func() {
					f.down(context.Background())
					removeNamespaces(context.Background(), o.Prefix)
				}()
				if err := r.t.up(ctx); err != nil {
					return ppsSample{}, err
				}
				if err := f.up(ctx, r.t); err != nil {
					return ppsSample{}, err
				}
				var s ppsSample
				if withPPS {
					// From the window's start, after prime's pings and the warmup.
					pc, err := startProbe(probe, o.Warmup.Seconds()+0.2)
					if err != nil {
						return s, err
					}
					s, err = r.pps(ctx, frame-4, float64(rate))
					if pc != nil {
						pc.Wait()
					}
					if err != nil {
						return s, err
					}
				}
				if !withTCP {
					return s, nil
				}
				pc, err := startProbe(tcpProbe, 1.5)
				if err != nil {
					return s, err
				}
				ts, err = r.tcp(ctx, true)
				if pc != nil {
					pc.Wait()
				}
				if dr, ok := f.(dropper); ok && err == nil {
					tcpDrops = "none"
					if d, derr := dr.drops(ctx); derr == nil && len(d) > 0 {
						tcpDrops = fmt.Sprint(d) // over the switch's life: the packet rate's too
					}
				}
				return s, err
			}()
			out := pout.String()
			if err != nil {
				t.Fatalf("%s run %d: %v", b.label, i, err)
			}
			x := all[b.label]
			if x == nil {
				x = &res{}
				all[b.label] = x
			}
			if withTCP {
				x.gbps = append(x.gbps, ts.gbps)
				x.tcpCPU = append(x.tcpCPU, ts.cpu.switchPct)
				t.Logf("%-8s run %d: TCP %.2f Gb/s, %d retransmits, switch %.0f%% CPU; switch drops: %s", b.label, i, ts.gbps, ts.retransmits, ts.cpu.switchPct, tcpDrops)
			}
			if !withPPS {
				if out != "" {
					t.Logf("%s run %d probe:\n%s", b.label, i, out)
				}
				continue
			}
			u := s.cpu
			ns := float64(u.switchCPU.Nanoseconds()) / (s.rxPps * u.wall.Seconds())
			x.rx = append(x.rx, s.rxPps/1e3)
			x.tx = append(x.tx, s.txPps/1e3)
			x.ns = append(x.ns, ns)
			x.cyc = append(x.cyc, ns*mach.MHz/1e3)
			x.loss = append(x.loss, s.lossPct)
			x.kd = append(x.kd, float64(s.kernelDrops))
			x.cpu = append(x.cpu, u.switchPct)
			t.Logf("%-8s run %d: sent %.0f kp/s, received %.0f kp/s, loss %.3f%% (%d of %d), kernel ring drops %d, switch %.0f%% CPU, %.0f ns/packet, %.0f cycles/packet, other %.0f%%; switch drops: %s",
				b.label, i, s.txPps/1e3, s.rxPps/1e3, s.lossPct, s.sent-min(s.received, s.sent), s.sent, s.kernelDrops,
				u.switchPct, ns, ns*mach.MHz/1e3, u.other, s.switchDrops)
			if out != "" {
				t.Logf("%s run %d probe:\n%s", b.label, i, out)
			}
		}
	}
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		v = slices.Clone(v)
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	base := all[bins[0].label]
	for _, b := range bins {
		x := all[b.label]
		if withPPS {
			t.Logf("median %-8s: sent %.0f kp/s, received %.0f kp/s (x%.2f), loss %.3f%%, kernel ring drops %.0f, switch CPU %.0f%%, %.0f ns/packet, %.0f cycles/packet (x%.2f of %s)",
				b.label, med(x.tx), med(x.rx), med(x.rx)/med(base.rx), med(x.loss), med(x.kd), med(x.cpu), med(x.ns), med(x.cyc),
				med(x.cyc)/med(base.cyc), bins[0].label)
		}
		if withTCP {
			t.Logf("median %-8s: TCP %.2f Gb/s (x%.2f), switch CPU %.0f%%", b.label, med(x.gbps), med(x.gbps)/med(base.gbps), med(x.tcpCPU))
		}
	}
}
