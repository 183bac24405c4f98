package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The OpenFlow tests run mswitchd's openflow module with hosts in network
// namespaces (prefix "mxo") on afpacket ports, programmed by ovs-ofctl and
// by an os-ken controller.

var sweepOF sync.Once

func newOFTopo(t *testing.T) *netTopo {
	sweepOF.Do((&netTopo{prefix: "mxo"}).cleanup)
	n := &netTopo{t: t, prefix: fmt.Sprintf("mxo%03d", rand.Intn(1000)), subnet: 100 + rand.Intn(150)}
	t.Cleanup(n.cleanup)
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ofctl runs ovs-ofctl against a switch's passive target.
type ofctl struct {
	t      *testing.T
	target string
}

func (o ofctl) try(cmd string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	full := append([]string{"-O", "OpenFlow13", cmd, o.target}, args...)
	out, err := exec.CommandContext(ctx, "ovs-ofctl", full...).CombinedOutput()
	return string(out), err
}

func (o ofctl) run(cmd string, args ...string) string {
	o.t.Helper()
	out, err := o.try(cmd, args...)
	if err != nil {
		o.t.Fatalf("ovs-ofctl %s %s: %v\n%s", cmd, strings.Join(args, " "), err, out)
	}
	return out
}

// ofSwitch starts mswitchd with switch sw0 on the openflow module, secure,
// listening on a free port, with hosts 1..hosts on afpacket ports h1..
// (OpenFlow ports 1..hosts).
func ofSwitch(t *testing.T, n *netTopo, hosts int, targets ...string) (*daemon, ofctl) {
	t.Helper()
	d := startDaemon(t, t.TempDir())
	d.ctl(t, "switch", "add", "sw0")
	for i := 1; i <= hosts; i++ {
		h := strconv.Itoa(i)
		n.host(h, i, 1500)
		d.ctl(t, "port", "add", "sw0", "h"+h, "--type", "afpacket", "--interface", n.swIf(h))
	}
	port := freePort(t)
	d.ctl(t, append([]string{"openflow", "set-controller", "sw0", fmt.Sprintf("ptcp:%d:127.0.0.1", port)}, targets...)...)
	d.ctl(t, "openflow", "fail-mode", "sw0", "secure")
	d.ctl(t, "module", "set", "sw0", "openflow")
	o := ofctl{t: t, target: fmt.Sprintf("tcp:127.0.0.1:%d", port)}
	waitFor(t, 10*time.Second, "ovs-ofctl show", func() bool { _, err := o.try("show"); return err == nil })
	return d, o
}

// pingOnce reports whether one ping from host from reaches host to.
func (n *netTopo) pingOnce(from string, to int) bool {
	_, err := n.in(from, "ping", "-n", "-c", "1", "-W", "1", n.ip(to))
	return err == nil
}

// lockedBuffer is a bytes.Buffer for a process's output read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// capture starts tcpdump on host h's interface for the first frame that
// matches filter; the function it returns waits (at most 5 s) and returns
// what tcpdump printed.
func (n *netTopo) capture(h string, filter ...string) func() string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	args := append([]string{"netns", "exec", n.ns(h), "tcpdump", "-i", n.hostIf(h), "-n", "-e", "-l", "-c", "1"}, filter...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		cancel()
		n.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for i := 0; i < 100 && !strings.Contains(errOut.String(), "listening on"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Cleanup(func() { cancel(); <-done })
	return func() string {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		return out.String()
	}
}

var nPackets = regexp.MustCompile(`n_packets=(\d+)`)

// packets returns the n_packets of the dump-flows line that contains match.
func packets(t *testing.T, dump, match string) int {
	t.Helper()
	for _, l := range strings.Split(dump, "\n") {
		if strings.Contains(l, match) {
			if m := nPackets.FindStringSubmatch(l); m != nil {
				v, _ := strconv.Atoi(m[1])
				return v
			}
		}
	}
	t.Fatalf("no flow with %q in dump-flows:\n%s", match, dump)
	return 0
}

// TestOpenFlowOfctl programs mswitchd's openflow module with ovs-ofctl:
// flows, groups, statistics and PACKET_OUT, with traffic between hosts.
func TestOpenFlowOfctl(t *testing.T) {
	needRoot(t, "ovs-ofctl", "tcpdump", "ping")
	n := newOFTopo(t)
	d, o := ofSwitch(t, n, 3)
	t.Log(d.ctl(t, "openflow", "show", "sw0"))
	desc := o.run("dump-ports-desc")
	for _, p := range []string{"1(h1)", "2(h2)", "3(h3)"} {
		if !strings.Contains(desc, p) {
			t.Errorf("dump-ports-desc lacks %s:\n%s", p, desc)
		}
	}

	// Secure, no flows: nothing passes.
	if n.pingOnce("1", 2) {
		t.Error("ping 1 -> 2 went through a switch without flows")
	}

	// add-flow and add-flows.
	o.run("add-flow", "in_port=1,actions=output:2")
	file := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(file, []byte("# back\nin_port=2,actions=output:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.run("add-flows", file)
	if err := n.ping("1", 2); err != nil {
		t.Fatalf("with flows 1<->2: %v", err)
	}
	dump := o.run("dump-flows")
	t.Logf("dump-flows:\n%s", dump)
	before := packets(t, dump, "in_port=1")
	if before < 3 {
		t.Errorf("in_port=1 flow counted %d packets after a ping of 3", before)
	}
	if err := n.ping("1", 2); err != nil {
		t.Fatal(err)
	}
	if after := packets(t, o.run("dump-flows"), "in_port=1"); after < before+3 {
		t.Errorf("n_packets went from %d to %d over 3 more pings", before, after)
	}

	// mod-flows to a drop, and back.
	o.run("mod-flows", "in_port=1,actions=drop")
	if n.pingOnce("1", 2) {
		t.Error("ping 1 -> 2 went through a drop flow")
	}
	o.run("mod-flows", "in_port=1,actions=output:2")
	if err := n.ping("1", 2); err != nil {
		t.Fatalf("after mod-flows back: %v", err)
	}
	// A higher-priority drop flow (the others have the default, 32768)
	// stops it too; trace shows why.
	o.run("add-flow", "priority=40000,in_port=1,icmp,actions=drop")
	if n.pingOnce("1", 2) {
		t.Errorf("ping 1 -> 2 went through a priority drop flow:\n%s", o.run("dump-flows"))
	}
	tr := d.ctl(t, "openflow", "trace", "sw0", "h1",
		"020000000002020000000001080045000054000040004001000a0a0a0a010a0a0a020800f7ff0000000000000000000000000000000000000000")
	if !strings.Contains(tr, "priority 40000") {
		t.Errorf("openflow trace of an ICMP packet from h1:\n%s", tr)
	}
	o.run("del-flows", "--strict", "priority=40000,in_port=1,icmp")

	// Statistics.
	ports := o.run("dump-ports")
	t.Logf("dump-ports:\n%s", ports)
	if !regexp.MustCompile(`port\s+1: rx pkts=[1-9]`).MatchString(ports) {
		t.Errorf("dump-ports shows no traffic on port 1:\n%s", ports)
	}
	tables := o.run("dump-tables")
	if !strings.Contains(tables, "table 0") && !strings.Contains(tables, "table0") {
		t.Errorf("dump-tables:\n%s", tables)
	}
	if !regexp.MustCompile(`lookup=[1-9]`).MatchString(tables) && !regexp.MustCompile(`active=2`).MatchString(tables) {
		t.Logf("dump-tables (no lookups counted?):\n%s", tables)
	}

	// A group of type all floods from 1 to 2 and 3.
	o.run("add-group", "group_id=1,type=all,bucket=output:2,bucket=output:3")
	groups := o.run("dump-groups")
	if !strings.Contains(groups, "group_id=1,type=all") {
		t.Errorf("dump-groups:\n%s", groups)
	}
	o.run("mod-flows", "in_port=1,actions=group:1")
	mac1 := hostMAC(t, n, "1")
	got3 := n.capture("3", "ether", "src", mac1)
	if err := n.ping("1", 2); err != nil {
		t.Errorf("through the group: %v", err)
	}
	if out := got3(); !strings.Contains(out, mac1) {
		t.Errorf("host 3 saw nothing from host 1 through the group (tcpdump: %q)", out)
	}
	if gs := o.run("dump-group-stats"); !regexp.MustCompile(`packet_count=[1-9]`).MatchString(gs) {
		t.Errorf("dump-group-stats:\n%s", gs)
	}

	// PACKET_OUT from the controller to port 3.
	src := "026d786f0001"
	frame := "ffffffffffff" + src + "88b5" + strings.Repeat("ab", 46)
	got := n.capture("3", "ether", "src", "02:6d:78:6f:00:01")
	o.run("packet-out", "controller", "output:3", frame)
	if out := got(); !strings.Contains(out, "02:6d:78:6f:00:01") {
		t.Errorf("packet-out to port 3 did not reach host 3 (tcpdump: %q)", out)
	}

	// del-flows empties the table, and ping stops.
	o.run("del-flows")
	if dump := o.run("dump-flows"); strings.Contains(dump, "in_port") {
		t.Errorf("dump-flows after del-flows:\n%s", dump)
	}
	if n.pingOnce("1", 2) {
		t.Error("ping 1 -> 2 went through after del-flows")
	}
	t.Log(d.ctl(t, "openflow", "show", "sw0"))
}

func hostMAC(t *testing.T, n *netTopo, h string) string {
	t.Helper()
	out, err := n.in(h, "cat", "/sys/class/net/"+n.hostIf(h)+"/address")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// TestOpenFlowOsken: the switch dials an os-ken controller running a
// learning app (testdata/osken/simple_switch_13.py); the hosts ping each
// other through the flows it installs, which dump-flows then shows.
func TestOpenFlowOsken(t *testing.T) {
	needRoot(t, "ovs-ofctl", "osken-manager", "ping")
	n := newOFTopo(t)
	cport := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "osken-manager", "--ofp-listen-host", "127.0.0.1",
		"--ofp-tcp-listen-port", strconv.Itoa(cport), "testdata/osken/simple_switch_13.py")
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("osken-manager output:\n%s\n%s", out.String(), errOut.String())
		}
	}()
	d, o := ofSwitch(t, n, 3, fmt.Sprintf("tcp:127.0.0.1:%d", cport))
	waitFor(t, 20*time.Second, "the controller's CONNECTED line", func() bool { return strings.Contains(out.String(), "CONNECTED") })
	for _, p := range [][2]string{{"1", "2"}, {"2", "3"}, {"3", "1"}} {
		k, _ := strconv.Atoi(p[1])
		if err := n.ping(p[0], k); err != nil {
			t.Error(err)
		}
	}
	dump := o.run("dump-flows")
	t.Logf("dump-flows:\n%s", dump)
	if c := strings.Count(dump, "dl_dst="); c < 4 {
		t.Errorf("dump-flows shows %d learned flows, want at least 4", c)
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	flows := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "FLOW ") {
			flows++
		}
	}
	if flows < 4 {
		t.Errorf("the controller installed %d flows", flows)
	}
	show := d.ctl(t, "openflow", "show", "sw0")
	t.Log(show)
	if !strings.Contains(show, "controller connected") {
		t.Errorf("openflow show:\n%s", show)
	}
}
