package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The kernel-port tests build hosts in network namespaces, each on a veth
// whose other end is a port of mswitchd (running in the root namespace),
// plus a TAP port for the root namespace's own stack. Every device and
// namespace has the test's unique prefix and is removed when the test ends,
// failed or not.

// netTopo is the set of namespaces and devices of one test.
type netTopo struct {
	t      *testing.T
	prefix string
	subnet int // 10.79.<subnet>.0/24
}

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian: iproute2, iperf3): %v", tool, err)
		}
	}
}

var sweep sync.Once

func newTopo(t *testing.T) *netTopo {
	// A run killed by a timeout leaves its devices: the first test of a
	// run removes whatever carries this package's prefix.
	sweep.Do((&netTopo{prefix: "mxe"}).cleanup)
	n := &netTopo{t: t, prefix: fmt.Sprintf("mxe%03d", rand.Intn(1000)), subnet: 100 + rand.Intn(150)}
	t.Cleanup(n.cleanup)
	return n
}

// sh runs a command and fails the test if it fails.
func (n *netTopo) sh(args ...string) string {
	n.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// try runs a command and returns its output and error.
func (n *netTopo) try(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

func (n *netTopo) ns(h string) string     { return n.prefix + h }
func (n *netTopo) swIf(h string) string   { return n.prefix + "s" + h }
func (n *netTopo) hostIf(h string) string { return n.prefix + "h" + h }
func (n *netTopo) ip(k int) string        { return fmt.Sprintf("10.79.%d.%d", n.subnet, k) }

// host creates namespace h with a veth whose host end has address k and
// whose switch end stays in the root namespace.
func (n *netTopo) host(h string, k int, mtu int) {
	n.t.Helper()
	n.sh("ip", "netns", "add", n.ns(h))
	n.sh("ip", "link", "add", n.swIf(h), "mtu", fmt.Sprint(mtu), "type", "veth", "peer", "name", n.hostIf(h), "mtu", fmt.Sprint(mtu))
	n.sh("ip", "link", "set", n.hostIf(h), "netns", n.ns(h))
	n.sh("ip", "-n", n.ns(h), "addr", "add", n.ip(k)+"/24", "dev", n.hostIf(h))
	n.sh("ip", "-n", n.ns(h), "link", "set", n.hostIf(h), "up")
	n.sh("ip", "-n", n.ns(h), "link", "set", "lo", "up")
	n.sh("ip", "link", "set", n.swIf(h), "up")
}

// in runs a command inside host h's namespace.
func (n *netTopo) in(h string, args ...string) (string, error) {
	return n.try(append([]string{"ip", "netns", "exec", n.ns(h)}, args...)...)
}

func (n *netTopo) ping(from string, to int, extra ...string) error {
	args := append([]string{"ping", "-n", "-c", "3", "-i", "0.2", "-W", "2"}, extra...)
	out, err := n.in(from, append(args, n.ip(to))...)
	if err != nil {
		return fmt.Errorf("ping %s -> %s: %v\n%s", from, n.ip(to), err, out)
	}
	return nil
}

func (n *netTopo) cleanup() {
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
			if strings.HasPrefix(name, n.prefix) {
				exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
	out, _ = exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], n.prefix) {
			exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
}

// iperf runs a TCP stream from host a to host b (address kb) for d and
// returns Gb/s and retransmits.
func (n *netTopo) iperf(a, b string, kb int, d time.Duration, udp bool) (gbps float64, retrans int, err error) {
	srv := exec.Command("ip", "netns", "exec", n.ns(b), "iperf3", "-s", "-1", "-p", "5201")
	if err := srv.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	time.Sleep(300 * time.Millisecond)
	args := []string{"iperf3", "-c", n.ip(kb), "-p", "5201", "-t", fmt.Sprint(int(d.Seconds())), "-J"}
	if udp {
		args = append(args, "-u", "-b", "200M")
	}
	out, err := n.in(a, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("iperf3 %s -> %s: %v\n%s", a, b, err, out)
	}
	var r struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			Sum struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				LostPercent   float64 `json:"lost_percent"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return 0, 0, fmt.Errorf("iperf3 output: %v\n%s", err, out)
	}
	if udp {
		gbps = r.End.Sum.BitsPerSecond / 1e9
	} else {
		gbps, retrans = r.End.SumReceived.BitsPerSecond/1e9, r.End.SumSent.Retransmits
	}
	if gbps == 0 {
		return 0, 0, fmt.Errorf("iperf3 %s -> %s: nothing received\n%s", a, b, out)
	}
	return gbps, retrans, nil
}

// TestKernelPorts: three hosts on afxdp, afpacket and afxdp (generic XDP)
// ports of one learning switch, and the root namespace's stack on a TAP
// port: ping, UDP and TCP between every pair, the host stack reaches every
// host, a host moved to another port is relearned.
func TestKernelPorts(t *testing.T) {
	needRoot(t, "iperf3")
	n := newTopo(t)
	d := startDaemon(t, t.TempDir())
	d.ctl(t, "switch", "add", "sw0")
	n.host("1", 1, 1500)
	n.host("2", 2, 1500)
	n.host("3", 3, 1500)
	// h1 moderates its interrupts less than by default, h2 not at all.
	d.ctl(t, "port", "add", "sw0", "h1", "--type", "afxdp", "--coalesce", "5us", "--interface", n.swIf("1"))
	// h2 steers what it receives to CPU 0 (RPS), so TCP arrives in order.
	d.ctl(t, "port", "add", "sw0", "h2", "--type", "afpacket", "--rps-cpus", "0", "--coalesce", "off", "--interface", n.swIf("2"))
	rps := func() uint64 {
		b, err := os.ReadFile("/sys/class/net/" + n.swIf("2") + "/queues/rx-0/rps_cpus")
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(string(b)), ",", ""), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := rps(); v != 1 {
		t.Errorf("h2's interface steers to CPU mask %#x, want 0x1", v)
	}
	// h3 polls: mswitchd's poll thread drains it; its RX ring is small
	// (512 frames, not 16,384).
	d.ctl(t, "port", "add", "sw0", "h3", "--type", "afxdp", "--xdp-mode", "generic", "--mode", "poll", "--rx-ring", "512", "--interface", n.swIf("3"))
	if out := d.ctl(t, "poll-threads"); !strings.Contains(out, "sw0/h3/0") {
		t.Errorf("the poll thread does not drain h3:\n%s", out)
	}
	tapName := n.prefix + "t"
	d.ctl(t, "port", "add", "sw0", "host", "--type", "tap", "--interface", tapName)
	n.sh("ip", "addr", "add", n.ip(254)+"/24", "dev", tapName)
	n.sh("ip", "link", "set", tapName, "up")
	if out := d.ctl(t, "port", "list", "sw0"); !regexp.MustCompile(`(?m)^h3 .* mode=poll xdp-mode=generic rx-ring=512 via=afxdp`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^h1 .* coalesce=5µs via=afxdp`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^h2 .* rps-cpus=0 coalesce=off via=afpacket`).MatchString(out) {
		t.Errorf("port list does not show h3's RX ring, or h1's and h2's coalescing:\n%s", out)
	} else {
		t.Log(out)
	}

	hosts := map[string]int{"1": 1, "2": 2, "3": 3}
	for a := range hosts {
		for b, kb := range hosts {
			if a != b {
				if err := n.ping(a, kb); err != nil {
					t.Error(err)
				}
			}
		}
	}
	// The root namespace's stack, through the TAP port.
	for _, k := range hosts {
		out, err := n.try("ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-I", tapName, n.ip(k))
		if err != nil {
			t.Errorf("ping from the host stack to %s: %v\n%s", n.ip(k), err, out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// UDP and TCP between every pair (one direction each), and from the
	// host stack.
	for _, p := range [][2]string{{"1", "2"}, {"2", "3"}, {"3", "1"}} {
		g, err := func() (float64, error) {
			g, _, err := n.iperf(p[0], p[1], hosts[p[1]], time.Second, true)
			return g, err
		}()
		if err != nil {
			t.Error(err)
			continue
		}
		gt, re, err := n.iperf(p[0], p[1], hosts[p[1]], 2*time.Second, false)
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("h%s -> h%s: UDP %.2f Gb/s, TCP %.2f Gb/s, %d retransmits", p[0], p[1], g, gt, re)
		if gt < 0.1 {
			t.Errorf("h%s -> h%s: TCP %.3f Gb/s", p[0], p[1], gt)
		}
	}

	// Move host 1 to a new port: a new veth with the same MAC and address.
	out := n.sh("ip", "-n", n.ns("1"), "-o", "link", "show", n.hostIf("1"))
	f := strings.Fields(out[strings.Index(out, "link/ether"):])
	mac := f[1]
	n.sh("ip", "-n", n.ns("1"), "link", "del", n.hostIf("1"))
	n.sh("ip", "link", "add", n.swIf("4"), "type", "veth", "peer", "name", n.hostIf("4"))
	n.sh("ip", "link", "set", n.hostIf("4"), "address", mac, "netns", n.ns("1"))
	n.sh("ip", "-n", n.ns("1"), "addr", "add", n.ip(1)+"/24", "dev", n.hostIf("4"))
	n.sh("ip", "-n", n.ns("1"), "link", "set", n.hostIf("4"), "up")
	n.sh("ip", "link", "set", n.swIf("4"), "up")
	d.ctl(t, "port", "add", "sw0", "h1b", "--type", "afpacket", "--mode", "adaptive", "--poll-window", "200us", "--interface", n.swIf("4"))
	if err := n.ping("1", 2); err != nil {
		t.Errorf("after the move: %v", err)
	}
	if err := n.ping("2", 1); err != nil {
		t.Errorf("after the move: %v", err)
	}
	table := d.ctl(t, "learning", "show", "sw0")
	if !strings.Contains(table, mac) || !strings.Contains(table, "h1b") {
		t.Errorf("learning table does not put %s on h1b:\n%s", mac, table)
	}
	// Deleting h2 gives its interface its RPS setting back.
	d.ctl(t, "port", "del", "sw0", "h2")
	if v := rps(); v != 0 {
		t.Errorf("after deleting h2, its interface steers to CPU mask %#x, want 0", v)
	}
}

// TestKernelJumbo: MTU 9000 end to end, between an afxdp and an afpacket
// port.
func TestKernelJumbo(t *testing.T) {
	needRoot(t)
	n := newTopo(t)
	d := startDaemon(t, t.TempDir())
	d.ctl(t, "switch", "add", "sw0")
	n.host("1", 1, 9000)
	n.host("2", 2, 9000)
	d.ctl(t, "port", "add", "sw0", "h1", "--type", "afxdp", "--interface", n.swIf("1"))
	d.ctl(t, "port", "add", "sw0", "h2", "--type", "afpacket", "--interface", n.swIf("2"))
	t.Log(d.ctl(t, "port", "list", "sw0"))
	if err := n.ping("1", 2, "-s", "8972", "-M", "do"); err != nil {
		t.Error(err)
	}
	if err := n.ping("2", 1, "-s", "8972", "-M", "do"); err != nil {
		t.Error(err)
	}
}

// TestKernelMalformed injects broken frames into a host's veth: runts, a
// bogus VLAN stack, IPv4 headers with bad lengths. The daemon keeps
// running, counts what it drops, and the other hosts' traffic goes on.
func TestKernelMalformed(t *testing.T) {
	needRoot(t, "python3")
	n := newTopo(t)
	d := startDaemon(t, t.TempDir())
	d.ctl(t, "switch", "add", "sw0", "--module", "learning-vlan")
	n.host("1", 1, 1500)
	n.host("2", 2, 1500)
	n.host("3", 3, 1500)
	d.ctl(t, "port", "add", "sw0", "h1", "--type", "afxdp", "--interface", n.swIf("1"))
	d.ctl(t, "port", "add", "sw0", "h2", "--type", "afpacket", "--interface", n.swIf("2"))
	d.ctl(t, "port", "add", "sw0", "h3", "--type", "afpacket", "--interface", n.swIf("3"))
	if err := n.ping("2", 3); err != nil {
		t.Fatal(err)
	}
	// Frames from host 1: a bare Ethernet header, 5 stacked VLAN tags,
	// an IPv4 header claiming 60 bytes of options in a 20-byte frame, an
	// IPv4 total length beyond the frame, a truncated IPv6 header.
	script := `
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((%q, 0))
dst = b'\xff\xff\xff\xff\xff\xff'; src = b'\x02\x00\x00\x00\x00\x99'
frames = [dst + src + b'\x08\x00',
          dst + src + b'\x81\x00\x00\x01' * 5 + b'\x08\x00' + b'\x45' + b'\x00' * 19,
          dst + src + b'\x08\x00' + b'\x4f' + b'\x00' * 19,
          dst + src + b'\x08\x00' + b'\x45\x00\xff\xff' + b'\x00' * 16,
          dst + src + b'\x86\xdd' + b'\x60' + b'\x00' * 10,
          dst + src + b'\x88\xa8\x00\x01\x88\xa8\x00\x02\x81\x00\x00\x03\x08\x00' + b'\x00' * 30]
for i in range(200):
    for f in frames:
        s.send(f)
`
	if out, err := n.in("1", "python3", "-c", fmt.Sprintf(script, n.hostIf("1"))); err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
	if err := n.ping("2", 3); err != nil {
		t.Errorf("after the injection: %v", err)
	}
	st, info := d.port(t, "sw0", "h1")
	t.Logf("h1 (%s): rx %d, drops %v", info.Backend, st.RxPackets, st.Drops)
	if st.RxPackets < 1200 {
		t.Errorf("h1 received %d packets, want the 1,200 injected", st.RxPackets)
	}
	// The 5-deep VLAN stack and the cut-short 802.1ad stack are malformed
	// for a VLAN-aware bridge; the rest are L2-valid frames it forwards.
	if st.Drops["malformed"] < 400 {
		t.Errorf("h1: %d malformed drops, want at least 400", st.Drops["malformed"])
	}
	if _, err := d.c.Version(t.Context()); err != nil {
		t.Fatalf("daemon gone: %v\n%s", err, d.p.out.String())
	}
}

// TestKernelFallback: where XDP cannot be attached as asked (native XDP on
// a Linux bridge device of the test's own, whose driver has none), an afxdp
// port falls back to AF_PACKET, and the daemon's log says why.
func TestKernelFallback(t *testing.T) {
	needRoot(t)
	n := newTopo(t)
	d := startDaemon(t, t.TempDir())
	d.ctl(t, "switch", "add", "sw0")
	dummy := n.prefix + "b"
	n.sh("ip", "link", "add", dummy, "type", "bridge")
	n.sh("ip", "link", "set", dummy, "up")
	d.ctl(t, "port", "add", "sw0", "d", "--type", "afxdp", "--xdp-mode", "native", "--interface", dummy)
	_, info := d.port(t, "sw0", "d")
	if info.Backend != "afpacket" || info.State != "up" {
		t.Fatalf("port on a bridge device with native XDP: backend %q, state %q; want afpacket, up", info.Backend, info.State)
	}
	if !strings.Contains(d.p.out.String(), "falling back to AF_PACKET") {
		t.Errorf("the daemon's log does not say why:\n%s", d.p.out.String())
	}
	if out := n.sh("ip", "link", "show", dummy); strings.Contains(out, "xdp") {
		t.Errorf("an XDP program stayed on %s:\n%s", dummy, out)
	}
}
