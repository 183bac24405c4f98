package memifbench

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestQuick runs the whole set with tiny durations and checks that every
// measurement produced its row with plausible numbers.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts mswitchd and pktgen")
	}
	o := Quick()
	o.Logf = t.Logf
	o.NoTestpmd = true // TestTestpmdLoop runs it
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"interrupt", "poll"} {
		if r := rep.Find(KindThroughput, mode, 60); r == nil || r.Mpps <= 0 || r.CPUPct <= 0 {
			t.Errorf("throughput, %s: %+v", mode, r)
		}
		if r := rep.Find(KindRTT, mode, 0); r == nil || r.RTT == nil || r.RTT.Replies == 0 || r.RTT.P50 <= 0 {
			t.Errorf("rtt, %s: %+v", mode, r)
		}
		if r := rep.Find(KindRate, mode, 0); r == nil || r.Mpps <= 0 {
			t.Errorf("cpu-rate, %s: %+v", mode, r)
		}
	}
	if r := rep.FindProcs(KindThroughput, "poll", 60, 1<<BigRing, 1); r == nil || r.Mpps <= 0 {
		t.Errorf("throughput, poll, GOMAXPROCS=1: %+v", r)
	}
	if r := rep.Find(KindIdle, "", 0); r == nil || r.Ports != o.IdlePorts {
		t.Errorf("idle: %+v", r)
	}
	if r := rep.Find(KindScale, "", 0); r == nil || r.Reached != o.ScalePorts || r.Mpps <= 0 {
		t.Errorf("scale: %+v", r)
	}
	for _, tg := range rep.Targets() {
		t.Logf("%s: %s (goal %s): %s", tg.What, tg.Got, tg.Want, tg.Status)
	}
}

// TestTestpmdLoop checks that testpmd's memif loop runs and is parsed.
func TestTestpmdLoop(t *testing.T) {
	path, why := findTestpmd("")
	if why != "" {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("starts dpdk-testpmd")
	}
	dir := t.TempDir()
	r := &runner{o: Options{TestpmdDuration: 3 * time.Second}, dir: dir}
	defer func() {
		for _, p := range r.procs {
			p.Kill()
		}
	}()
	s, err := r.testpmdLoop(path, 60)
	if err != nil {
		t.Fatal(err)
	}
	if s.mpps <= 0 || len(s.intervals) == 0 {
		t.Fatalf("testpmd loop: %+v", s)
	}
	t.Logf("testpmd memif loop, 60 B: %.2f Mp/s per direction over %d intervals, %.0f%% CPU", s.mpps, len(s.intervals), s.cpuPct)
	if v := testpmdVersion(path); v == "" {
		t.Error("no testpmd version")
	} else {
		t.Log(v)
	}
}

func TestParseTestpmd(t *testing.T) {
	out := `Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 32         RX-missed: 0          RX-bytes:  1920
  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Rx-pps:            0          Rx-bps:            0
  ######################## NIC statistics for port 0  ########################
  Rx-pps:      7080218          Rx-bps:   3398505016
  ######################## NIC statistics for port 1  ########################
  Rx-pps:      7080300          Rx-bps:   3398544464
`
	per := parseTestpmd(out)
	if len(per[0]) != 2 || per[0][1] != 7080218 || len(per[1]) != 2 || per[1][1] != 7080300 {
		t.Fatalf("parsed %v", per)
	}
}

func TestCPUTime(t *testing.T) {
	c0, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r0, err := runTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until both readings have grown by 40 ms of CPU; on a loaded
	// machine that takes longer than 40 ms of wall time, so bound the wait
	// generously instead of asserting a rate.
	var c1, r1 time.Duration
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		c1, _ = cpuTime(os.Getpid())
		r1, _ = runTime(os.Getpid())
		if c1-c0 >= 40*time.Millisecond && r1-r0 >= 40*time.Millisecond {
			break
		}
	}
	if c1-c0 < 40*time.Millisecond || r1-r0 < 40*time.Millisecond {
		t.Errorf("after 10 s of busy loop: cpu time grew by %v, run time by %v", c1-c0, r1-r0)
	}
	if _, err := cpuTime(1 << 30); err == nil {
		t.Error("cpu time of a process that does not exist")
	}
}
