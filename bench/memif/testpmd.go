package memifbench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// findTestpmd returns the path of testpmd, or why it cannot run.
func findTestpmd(name string) (path, why string) {
	if name == "" {
		name = "dpdk-testpmd"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Sprintf("%s not found (Debian: apt-get install dpdk-dev librte-net-memif23)", name)
	}
	if os.Geteuid() != 0 {
		return "", "testpmd needs root (it maps its memory and writes /var/run/dpdk)"
	}
	return p, ""
}

// testpmdVersion asks testpmd's EAL for the DPDK version.
func testpmdVersion(path string) string {
	out, _ := exec.Command(path, "-v", "--no-huge", "-m", "64", "--no-pci", "--file-prefix",
		fmt.Sprintf("mswb-memif-v%d", os.Getpid()), "--", "--help").CombinedOutput()
	os.RemoveAll(fmt.Sprintf("/var/run/dpdk/mswb-memif-v%d", os.Getpid()))
	if m := regexp.MustCompile(`RTE Version: '([^']*)'`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "DPDK (version unknown)"
}

// testpmdSample is one run of testpmd's memif loop.
type testpmdSample struct {
	intervals []float64 // Mpps of one port, per counted interval
	mpps      float64   // their median
	cpuPct    float64   // testpmd's CPU over the counted part of the run
	other     float64   // the others' load meanwhile
}

// testpmdLoop runs one testpmd with two memif ports on one socket, a
// server and a client, looped to each other in io forwarding on one lcore,
// as ../shared/reference/peer-measurements.md §2 did, for TestpmdDuration.
func (r *runner) testpmdLoop(path string, size int) (testpmdSample, error) {
	var s testpmdSample
	sock := filepath.Join(r.dir, "tpmd.sock")
	os.Remove(sock)
	prefix := fmt.Sprintf("mswb-memif-%d", os.Getpid())
	defer os.RemoveAll("/var/run/dpdk/" + prefix)
	vdev := "socket=" + sock + ",socket-abstract=no"
	p, err := start(path, "--lcores=0@0,1@1", "--no-huge", "-m", "1024", "--no-pci", "--file-prefix="+prefix,
		"--vdev=net_memif0,role=server,"+vdev, "--vdev=net_memif1,role=client,"+vdev,
		"--", "--forward-mode=io", "--tx-first", fmt.Sprintf("--txpkts=%d", size),
		"--stats-period=1", "--nb-cores=1")
	if err != nil {
		return s, err
	}
	r.procs = append(r.procs, p)
	defer p.Kill()
	// Skip the start-up and the first two seconds of forwarding.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.Out.String(), "Port statistics") {
		if p.Exited() || time.Now().After(deadline) {
			return s, fmt.Errorf("testpmd did not start forwarding\n%s", tail(p.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	m, err := startMeter(p.PID())
	if err != nil {
		return s, err
	}
	lm := r.load(p)
	time.Sleep(max(r.o.TestpmdDuration-2*time.Second, time.Second))
	cpu, wall, err := m.read()
	if err != nil {
		return s, err
	}
	s.other = lm.read()
	s.cpuPct = pct(cpu, wall)
	if err := p.Stop(syscall.SIGINT, 10*time.Second); err != nil {
		return s, fmt.Errorf("testpmd: %w", err)
	}
	per := parseTestpmd(p.Out.String())
	if len(per[0]) == 0 || len(per[1]) == 0 {
		return s, fmt.Errorf("no Rx-pps of both ports in testpmd's output\n%s", tail(p.Out.String()))
	}
	// Each port's series starts with the intervals before forwarding (0)
	// and a partial one: drop the leading zeros and one more. Count the
	// intervals of port 0 and port 1 alike: both are one direction.
	for port := 0; port < 2; port++ {
		v := per[port]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > 1 {
			v = v[1:]
		}
		for _, x := range v {
			s.intervals = append(s.intervals, x/1e6)
		}
	}
	if len(s.intervals) == 0 {
		return s, fmt.Errorf("testpmd forwarded nothing\n%s", tail(p.Out.String()))
	}
	s.mpps = median(s.intervals)
	return s, nil
}

var (
	tpmdPort = regexp.MustCompile(`NIC statistics for port (\d+)`)
	tpmdRx   = regexp.MustCompile(`Rx-pps:\s*(\d+)`)
)

// parseTestpmd returns the Rx-pps testpmd printed for each port, in order,
// from the blocks of its --stats-period output.
func parseTestpmd(out string) map[int][]float64 {
	per := make(map[int][]float64)
	port := -1
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := tpmdPort.FindStringSubmatch(line); m != nil {
			port, _ = strconv.Atoi(m[1])
			continue
		}
		if m := tpmdRx.FindStringSubmatch(line); m != nil && port >= 0 {
			v, _ := strconv.ParseFloat(m[1], 64)
			per[port] = append(per[port], v)
			port = -1
		}
	}
	return per
}
