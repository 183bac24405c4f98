package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kernelbench "github.com/mswitch/mswitch/bench/kernel"
)

// fakeKernel is a report shaped like a full run's.
func fakeKernel() *kernelbench.Report {
	o := kernelbench.Full()
	rep := &kernelbench.Report{Start: time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC), Took: 480 * time.Second,
		Machine:  kernelbench.Machine{CPU: "cpu", MHz: 2000, Cores: 2, Kernel: "6.18"},
		Versions: map[string]string{"ovs-vswitchd": "ovs-vswitchd (Open vSwitch) 3.1.0", "trafgen": "trafgen 0.6.8"},
		Options:  o}
	for i, sw := range o.Switches {
		if sw == kernelbench.SwitchMswitchAFPacket {
			rep.Switches = append(rep.Switches, kernelbench.SwitchRun{Name: sw, Skipped: "failed: start: no afpacket | here"})
			continue
		}
		sr := kernelbench.SwitchRun{Name: sw, Note: "set-up of " + sw}
		if sw == kernelbench.SwitchOVSSystem {
			sr.Failed = []string{"ovs-system, tcp, offloads on: iperf3: boom"}
		}
		rep.Switches = append(rep.Switches, sr)
		cpu := -1.0
		if i >= 2 {
			cpu = 50
		}
		for _, size := range o.Sizes {
			rep.Rows = append(rep.Rows, kernelbench.Row{Switch: sw, Workload: kernelbench.WorkPPS, Size: size,
				SentPps: 500e3, RxPps: float64(500-50*i) * 1e3, LossPct: float64(i) * 0.01, Gbps: 1, SwitchCPUPct: cpu,
				SwitchNs: 2000, SwitchCycles: 4000, PMDCycles: float64(i) * 1000, PMDBusyPct: 70, CPUPct: []float64{100, 30},
				MachineNs: 3000})
		}
		rep.Rows = append(rep.Rows, kernelbench.Row{Switch: sw, Workload: kernelbench.WorkPPS, Size: 60, Offered: o.FixedRate,
			SentPps: 100e3, RxPps: 100e3, SwitchCPUPct: cpu, SwitchNs: float64(1000 * i), MachineNs: 3000 + float64(1000*i)})
		for _, iv := range o.PingIntervals {
			rep.Rows = append(rep.Rows, kernelbench.Row{Switch: sw, Workload: kernelbench.WorkPing, SwitchCPUPct: cpu,
				RTT: &kernelbench.RTT{Interval: iv, Sent: 1000, Replies: 1000, Min: 5, P50: 20, P99: float64(40 + i), Max: 90}})
		}
		rep.Rows = append(rep.Rows, kernelbench.Row{Switch: sw, Workload: kernelbench.WorkTCP, Gbps: float64(12 - i),
			Offloads: "on", SwitchCPUPct: cpu})
	}
	return rep
}

func TestKernelPublish(t *testing.T) {
	dir := os.Getenv("MSWB_PLOT_DIR") // to look at the plots
	if dir == "" {
		dir = t.TempDir()
	}
	rep := fakeKernel()
	if err := plotKernel(rep, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kernel-pps.png", "kernel-cpu.png", "kernel-tcp.png", "kernel-ping.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var md bytes.Buffer
	writeKernelMarkdown(&md, rep, machine{CPU: "cpu", Cores: 2, Kernel: "k", Go: "go"}, "go run ./cmd/mswbench -kernel", "## Notes\n\nby hand")
	for _, want := range []string{"| linux-bridge | 64 | max |", "| ovs-afxdp | 64 | 100 kp/s |", "by hand",
		"**no**: failed: start: no afpacket \\| here", "| mswitch-afxdp | on | 8.00 |", "| 2ms | 1000/1000 |",
		"(Open vSwitch) 3.1.0", "not measured", "yes; **failed**: ovs-system, tcp, offloads on: iperf3: boom", "100 + 30"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestSpliceKernel(t *testing.T) {
	doc := "# B\n\n<!-- generated:start -->\nfabric\n<!-- generated:end -->\n\n" + memifSection.start() + "\nm\n" + memifSection.end() + "\n"
	got := kernelSection.splice(doc, "one\n")
	if !strings.HasPrefix(got, doc) || !strings.HasSuffix(got, kernelSection.start()+"\none\n"+kernelSection.end()+"\n") {
		t.Fatalf("first splice:\n%s", got)
	}
	again := kernelSection.splice(got, "two\n")
	if strings.Contains(again, "one") || !strings.Contains(again, kernelSection.start()+"\ntwo\n"+kernelSection.end()) || !strings.HasPrefix(again, doc) {
		t.Fatalf("second splice:\n%s", again)
	}
	if m := memifSection.splice(again, "m2\n"); !strings.Contains(m, kernelSection.start()+"\ntwo\n"+kernelSection.end()) || !strings.Contains(m, "m2") {
		t.Fatalf("memif splice:\n%s", m)
	}
}
