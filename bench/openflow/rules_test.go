package ofbench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRuleSets(t *testing.T) {
	if rs := OneFlow(1, 2); rs.Rules() != 1 || rs.Lines[0] != "table=0,priority=10,in_port=1,actions=output:2" {
		t.Errorf("one flow: %q", rs.Lines)
	}
	pf := PerFlow(DefaultTraffic, 1000, 2)
	if pf.Rules() != 1000 || pf.Lines[0] != "table=0,priority=10,ip,nw_src=10.0.0.1,actions=output:2" ||
		pf.Lines[999] != "table=0,priority=10,ip,nw_src=10.0.3.232,actions=output:2" {
		t.Errorf("per flow: %q ... %q", pf.Lines[0], pf.Lines[len(pf.Lines)-1])
	}
	nsx := NSXLike(DefaultTraffic, 1000, 40, 2580, 1, 2)
	if nsx.Rules() != 40*2581 || nsx.Tables != 40 {
		t.Errorf("nsx: %d rules in %d tables", nsx.Rules(), nsx.Tables)
	}
	seen := make(map[string]bool)
	for _, l := range nsx.Lines {
		if seen[l] {
			continue
		}
		seen[l] = true
		if !strings.HasPrefix(l, "table=") || !strings.Contains(l, ",actions=") {
			t.Fatalf("malformed line %q", l)
		}
		if strings.Contains(l, "table=39,") != strings.HasSuffix(l, "actions=output:2") {
			t.Fatalf("only table 39 outputs: %q", l)
		}
	}
	// Deterministic: both switches and every run get the same set.
	if again := NSXLike(DefaultTraffic, 1000, 40, 2580, 1, 2); again.Text() != nsx.Text() {
		t.Error("NSXLike is not deterministic")
	}
	if d := Distinct(100000, 2); d.Rules() != 100000 || len(uniq(d.Lines)) != 100000 {
		t.Errorf("distinct: %d rules, %d different", d.Rules(), len(uniq(d.Lines)))
	}
}

func uniq(ss []string) map[string]bool {
	m := make(map[string]bool)
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func TestTraffic(t *testing.T) {
	mac, ip, port := DefaultTraffic.Flow(999)
	if macString(mac) != "02:70:67:00:03:e8" || ipString(ip) != "10.0.3.232" || port != 2233 {
		t.Errorf("flow 999: %s %s %d", macString(mac), ipString(ip), port)
	}
	args := strings.Join(DefaultTraffic.PktgenArgs(), " ")
	if args != "-src-mac 02:70:67:00:00:01 -dst-mac 02:00:00:00:00:02 -src-ip 10.0.0.1 -dst-ip 10.0.0.2 -sport 1234 -dport 4321" {
		t.Errorf("pktgen args: %s", args)
	}
	for _, c := range []struct {
		ip   uint32
		plen int
		want string
	}{{0x0a010203, 32, "10.1.2.3"}, {0x0a010203, 24, "10.1.2.0/24"}, {0x0a01ff03, 16, "10.1.0.0/16"}, {0x0a0102ff, 28, "10.1.2.240/28"}} {
		if got := prefix(c.ip, c.plen); got != c.want {
			t.Errorf("prefix(%x, %d) = %s, want %s", c.ip, c.plen, got, c.want)
		}
	}
}

func TestParsers(t *testing.T) {
	n, err := parseFlowCount("OFPST_AGGREGATE reply (OF1.3) (xid=0x2): packet_count=0 byte_count=0 flow_count=103240\n")
	if err != nil || n != 103240 {
		t.Errorf("flow count %d, %v", n, err)
	}
	if _, err := parseFlowCount("garbage"); err == nil {
		t.Error("flow count of garbage")
	}
	pmd := `pmd thread numa_id 0 core_id 1:
  packets received: 5623424
  megaflow hits: 31
  idle cycles: 68567553684 (91.54%)
  processing cycles: 6337028442 (8.46%)
  avg cycles per packet: 13320.10 (74904582126/5623424)
main thread:
  packets received: 0
  processing cycles: 0 (0%)
`
	c, err := parsePMDCycles(pmd)
	if err != nil || c < 1126 || c > 1127 {
		t.Errorf("pmd cycles %v, %v", c, err)
	}
	if _, err := parsePMDCycles("nothing"); err == nil {
		t.Error("pmd cycles of nothing")
	}
	if d, err := parseSchedstat("123456789 2000 17\n"); err != nil || d != 123456789 {
		t.Errorf("schedstat %v %v", d, err)
	}
}

func TestReport(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Kind: KindThroughput, Switch: SwitchMswitch, Set: SetOne, Cache: CacheOn, Runs: 1, Mpps: 5},
		{Kind: KindThroughput, Switch: SwitchOVS, Set: SetOne, Cache: CacheOn, Runs: 1, Mpps: 2},
		{Kind: KindThroughput, Switch: SwitchMswitch, Set: SetOne, Cache: CacheOff, Runs: 1, Mpps: 1},
		{Kind: KindThroughput, Switch: SwitchOVS, Set: SetOne, Cache: CacheOff, Runs: 1, Mpps: 2},
		{Kind: KindThroughput, Switch: SwitchMswitch, Set: SetOne, Cache: CacheNone, Runs: 1, Mpps: 0.5},
	}}
	ts := rep.Targets()
	if len(ts) != 6 || ts[0].Status != "met" || ts[0].Got != "2.50x" || ts[1].Status != "not met" || ts[2].Status != "not measured" {
		t.Errorf("targets: %+v", ts)
	}
	var b strings.Builder
	WriteCSV(&b, rep)
	if lines := strings.Count(b.String(), "\n"); lines != 6 || !strings.Contains(b.String(), ",mswitch,1flow,0,0,0,none,1,") {
		t.Errorf("csv has %d lines:\n%s", lines, b.String())
	}
}

// TestQuick runs the whole set with tiny sizes (as root, with OVS-DPDK
// installed; mswitch alone without it).
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mswitchd and OVS")
	}
	o := Quick()
	if why := Missing(o); why != "" {
		t.Skip(why)
	}
	o.Logf = t.Logf
	if os.Getenv("MSWITCH_OFBENCH_NO_OVS") != "" {
		o.NoOVS = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	sws := []string{SwitchMswitch}
	if rep.NoOVS == "" {
		sws = append(sws, SwitchOVS)
	} else {
		t.Logf("OVS skipped: %s", rep.NoOVS)
	}
	for _, sw := range sws {
		for _, set := range Sets {
			for _, cache := range Caches {
				r := rep.Find(KindThroughput, sw, set, cache)
				if !has(sw, cache) {
					if r != nil {
						t.Errorf("%s, %s, cache %s: a row: %+v", sw, set, cache, r)
					}
					continue
				}
				if r == nil || r.Mpps <= 0 || r.CPUPct <= 0 {
					t.Errorf("%s, %s, cache %v: %+v", sw, set, cache, r)
				}
			}
		}
		if r := rep.Find(KindSetup, sw, "setup1000", ""); r == nil || r.PerSec <= 0 {
			t.Errorf("%s setup: %+v", sw, r)
		}
		if r := rep.Find(KindFirstPacket, sw, SetOne, ""); r == nil || r.Ms <= 0 {
			t.Errorf("%s first packet: %+v", sw, r)
		}
	}
}

func TestParseLinkDown(t *testing.T) {
	out := `OFPST_PORT_DESC reply (OF1.3) (xid=0x2):
 1(m1): addr:5e:80:cc:28:f6:d7
     config:     0
     state:      LINK_DOWN
     current:    10GB-FD
     speed: 10000 Mbps now, 0 Mbps max
 2(m2): addr:ee:d9:ee:2c:7b:3e
     config:     0
     state:      LIVE
     speed: 10000 Mbps now, 0 Mbps max
 LOCAL(br0): addr:da:ea:29:c1:f5:4e
     config:     PORT_DOWN
     state:      LINK_DOWN
`
	if down, err := parseLinkDown(out, 1); err != nil || !down {
		t.Errorf("port 1: %v %v", down, err)
	}
	if down, err := parseLinkDown(out, 2); err != nil || down {
		t.Errorf("port 2: %v %v", down, err)
	}
	if _, err := parseLinkDown(out, 3); err == nil {
		t.Error("port 3 found")
	}
	if b, tot, err := parseStat("cpu  100 0 50 800 50 0 10 0 0 0"); err != nil || b != 160 || tot != 1010 {
		t.Errorf("stat: %d %d %v", b, tot, err)
	}
}
