package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	memifbench "github.com/mswitch/mswitch/bench/memif"
)

// fakeMemif is a report shaped like a full run's.
func fakeMemif() *memifbench.Report {
	o := memifbench.Full()
	rep := &memifbench.Report{Start: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Took: 200 * time.Second,
		Cores: 2, Testpmd: "DPDK 22.11.11", Options: o}
	add := func(r memifbench.Row) { rep.Rows = append(rep.Rows, r) }
	for _, size := range o.Sizes {
		for _, ring := range o.Rings {
			for i, mode := range []string{"interrupt", "poll"} {
				v := float64(ring-9) * float64(2-i) * 60 / float64(size)
				add(memifbench.Row{Kind: memifbench.KindThroughput, Mode: mode, Ring: 1 << ring, Size: size, Ports: 2, Runs: 3,
					Mpps: v, MppsMin: v * 0.9, MppsMax: v * 1.1, Gbps: v * float64(size) * 8 / 1e3, CPUPct: 50, CPUNs: 100})
			}
		}
		add(memifbench.Row{Kind: memifbench.KindThroughput, Mode: "poll", Ring: 1 << 14, Procs: 1, Size: size, Ports: 2, Runs: 3,
			Mpps: 7, MppsMin: 6, MppsMax: 8, Gbps: 7 * float64(size) * 8 / 1e3, CPUPct: 100, CPUNs: 140})
		v := 12.0 * 60 / float64(size)
		add(memifbench.Row{Kind: memifbench.KindTestpmd, Mode: "testpmd", Ring: 1024, Size: size, Ports: 2, Runs: 3,
			Mpps: v, MppsMin: v, MppsMax: v, Gbps: v * float64(size) * 8 / 1e3, CPUPct: 100, CPUNs: 40})
	}
	for _, mode := range []string{"interrupt", "poll"} {
		add(memifbench.Row{Kind: memifbench.KindRTT, Mode: mode, Ring: 1024, Size: 60, Runs: 1,
			RTT: &memifbench.RTT{Sent: 10000, Replies: 10000, Min: 20, P50: 40, P90: 50, P99: 80, P999: 200, Max: 900}})
		for _, rate := range o.Rates {
			cpu := rate / 1e4
			if mode == "poll" {
				cpu = 190
			}
			add(memifbench.Row{Kind: memifbench.KindRate, Mode: mode, Ring: 1024, Size: 60, Offered: rate, Runs: 1,
				Mpps: rate / 1e6, CPUPct: cpu, CPUNs: cpu / 100 * 1e9 / rate})
		}
	}
	add(memifbench.Row{Kind: memifbench.KindIdle, Mode: "interrupt", Ports: 100, Runs: 1, CPUPct: 0.2})
	add(memifbench.Row{Kind: memifbench.KindScale, Mode: "interrupt", Size: 60, Ports: 1001, Dests: 1000, Runs: 3,
		Mpps: 1, SentMpps: 1, Reached: 1000})
	return rep
}

func TestMemifPublish(t *testing.T) {
	dir := os.Getenv("MSWB_PLOT_DIR") // to look at the plots
	if dir == "" {
		dir = t.TempDir()
	}
	rep := fakeMemif()
	if err := plotMemif(rep, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memif-throughput.png", "memif-cpu.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var md bytes.Buffer
	writeMemifMarkdown(&md, rep, machine{CPU: "cpu", Cores: 2, Kernel: "k", Go: "go"}, "go run ./cmd/mswbench -memif", "## Notes\n\nby hand")
	for _, want := range []string{"| mswitchd (learning) | poll | 16384 | 60 |", "testpmd memif loop", "by hand",
		"1000/1000 ports reached", "**met**", "| interrupt | 10k p/s |", "poll, mswitchd GOMAXPROCS=1"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestSpliceMemif(t *testing.T) {
	doc := "# B\n\n<!-- generated:start -->\nfabric\n<!-- generated:end -->\n\n## Where\n\nhand\n"
	got := memifSection.splice(doc, "one\n")
	if !strings.HasPrefix(got, doc) || !strings.HasSuffix(got, memifSection.start()+"\none\n"+memifSection.end()+"\n") {
		t.Fatalf("first splice:\n%s", got)
	}
	again := memifSection.splice(got, "two\n")
	if strings.Contains(again, "one") || !strings.Contains(again, memifSection.start()+"\ntwo\n"+memifSection.end()) || !strings.HasPrefix(again, doc) {
		t.Fatalf("second splice:\n%s", again)
	}
	// The fabric's splice leaves the memif section alone.
	if f := splice(again, "fabric2\n"); !strings.Contains(f, memifSection.start()+"\ntwo\n"+memifSection.end()) || !strings.Contains(f, "fabric2") {
		t.Fatalf("fabric splice:\n%s", f)
	}
}
