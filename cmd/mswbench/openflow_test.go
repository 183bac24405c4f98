package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ofbench "github.com/mswitch/mswitch/bench/openflow"
)

// fakeOpenflow is a report shaped like a full run's.
func fakeOpenflow() *ofbench.Report {
	o := ofbench.Full()
	rep := &ofbench.Report{Start: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), Took: 600 * time.Second, Cores: 2,
		OVS: "ovs-vswitchd (Open vSwitch) 3.1.0", Options: o}
	add := func(r ofbench.Row) { rep.Rows = append(rep.Rows, r) }
	for _, sw := range []string{ofbench.SwitchMswitch, ofbench.SwitchOVS} {
		for _, n := range o.SetupCounts {
			add(ofbench.Row{Kind: ofbench.KindSetup, Switch: sw, Set: "setup" + strings.TrimRight(strings.TrimRight(
				strings.Replace(time.Duration(n).String(), "ns", "", 1), "0"), "."), Rules: n, Tables: 1, Runs: 3,
				Seconds: float64(n) / 5e4, PerSec: 5e4, MsMin: 100, MsMax: 300})
		}
		add(ofbench.Row{Kind: ofbench.KindSetup, Switch: sw, Set: ofbench.SetNSX, Rules: 103240, Tables: 40, Runs: 1, Seconds: 3, PerSec: 34413})
		add(ofbench.Row{Kind: ofbench.KindFirstPacket, Switch: sw, Set: ofbench.SetOne, Rules: 1, Runs: 3, Ms: 12, MsMin: 10, MsMax: 20, BarrierMs: 11})
	}
	for i, set := range ofbench.Sets {
		for _, cache := range ofbench.Caches {
			for j, sw := range []string{ofbench.SwitchMswitch, ofbench.SwitchOVS} {
				if cache == ofbench.CacheNone && sw == ofbench.SwitchOVS {
					continue
				}
				v := float64(3-i) * float64(1+j)
				add(ofbench.Row{Kind: ofbench.KindThroughput, Switch: sw, Set: set, Rules: 1000 * i, Tables: 1 + 39*(i/2),
					Flows: 1000, Cache: cache, Runs: 3, Mpps: v, MppsMin: v * 0.9, MppsMax: v * 1.1, SentMpps: v, CPUPct: 100,
					CPUNs: 1e3 / v, Cycles: float64(j) * 500})
			}
		}
	}
	return rep
}

func TestOpenflowPublish(t *testing.T) {
	dir := os.Getenv("MSWB_PLOT_DIR") // to look at the plots
	if dir == "" {
		dir = t.TempDir()
	}
	rep := fakeOpenflow()
	if err := plotOpenflow(rep, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"openflow-throughput.png", "openflow-setup.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var md bytes.Buffer
	writeOpenflowMarkdown(&md, rep, machine{CPU: "cpu", Cores: 2, Kernel: "k", Go: "go"}, "go run ./cmd/mswbench -openflow",
		"abc1234", "## Notes\n\nby hand")
	for _, want := range []string{"at commit abc1234", "| 1flow | 0 | 1 | 1000 | on | mswitch | 3.00 [2.70-3.30]",
		"**0.50x**", "| not met |", "by hand", "| mswitch | 3 | 12.0 [10.0-20.0] | 11.0 |", "| nsx (103240) | 40 | ovs-dpdk | 1 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestSpliceOpenflow(t *testing.T) {
	doc := "# B\n\n<!-- generated:start -->\nfabric\n<!-- generated:end -->\n\n" + memifSection.start() + "\nm\n" + memifSection.end() + "\n"
	got := openflowSection.splice(doc, "one\n")
	if !strings.HasPrefix(got, doc) || !strings.HasSuffix(got, openflowSection.start()+"\none\n"+openflowSection.end()+"\n") {
		t.Fatalf("first splice:\n%s", got)
	}
	again := openflowSection.splice(got, "two\n")
	if strings.Contains(again, "one") || !strings.Contains(again, openflowSection.start()+"\ntwo\n"+openflowSection.end()) || !strings.HasPrefix(again, doc) {
		t.Fatalf("second splice:\n%s", again)
	}
	if m := memifSection.splice(again, "m2\n"); !strings.Contains(m, openflowSection.start()+"\ntwo\n"+openflowSection.end()) {
		t.Fatalf("memif splice:\n%s", m)
	}
}
