package kernelbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Addresses of the two hosts.
const (
	h1Addr = "10.79.0.1"
	h2Addr = "10.79.0.2"
)

// sinkPort is the UDP destination port of trafgen's flow, which mxk-h2
// drops at ingress.
const sinkPort = 9

// topo is the namespaces and veths of one switch's runs:
//
//	h1: h1e <-veth-> v1 [sw] v2 <-veth-> h2e :h2
//
// or, direct, h1: h1e <-veth-> h2e :h2.
type topo struct {
	prefix     string
	h1, sw, h2 string // namespaces
	h1e, h2e   string // the hosts' interfaces
	v1, v2     string // the switch's interfaces
	direct     bool
	mac1, mac2 string // of h1e and h2e
}

func newTopo(prefix string, direct bool) *topo {
	return &topo{prefix: prefix, direct: direct,
		h1: prefix + "-h1", sw: prefix + "-sw", h2: prefix + "-h2",
		h1e: prefix + "-h1e", h2e: prefix + "-h2e", v1: prefix + "-v1", v2: prefix + "-v2"}
}

// namespaces are every namespace the set may make under prefix.
func namespaces(prefix string) []string {
	return []string{prefix + "-h1", prefix + "-sw", prefix + "-h2"}
}

// removeNamespaces deletes the namespaces of prefix that exist, with the
// interfaces in them (a veth goes with its peer). Processes inside must be
// ended first.
func removeNamespaces(ctx context.Context, prefix string) error {
	out, err := run(ctx, nil, "ip", "netns", "list")
	if err != nil {
		return err
	}
	have := make(map[string]bool)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			have[f[0]] = true
		}
	}
	var errs []error
	for _, ns := range namespaces(prefix) {
		if have[ns] {
			if _, err := run(ctx, nil, "ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// up builds the topology: namespaces, veths with one queue each, the
// hosts' addresses, the sink in h2.
func (t *topo) up(ctx context.Context) error {
	nss := []string{t.h1, t.h2}
	if !t.direct {
		nss = append(nss, t.sw)
	}
	var cmds [][]string
	for _, ns := range nss {
		cmds = append(cmds, []string{"ip", "netns", "add", ns}, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	veth := func(a, nsA, b, nsB string) {
		cmds = append(cmds,
			[]string{"ip", "-n", nsA, "link", "add", a, "numtxqueues", "1", "numrxqueues", "1",
				"type", "veth", "peer", "name", b, "netns", nsB, "numtxqueues", "1", "numrxqueues", "1"},
			[]string{"ip", "-n", nsA, "link", "set", a, "up"},
			[]string{"ip", "-n", nsB, "link", "set", b, "up"})
	}
	if t.direct {
		veth(t.h1e, t.h1, t.h2e, t.h2)
	} else {
		veth(t.h1e, t.h1, t.v1, t.sw)
		veth(t.h2e, t.h2, t.v2, t.sw)
	}
	cmds = append(cmds,
		[]string{"ip", "-n", t.h1, "addr", "add", h1Addr + "/24", "dev", t.h1e},
		[]string{"ip", "-n", t.h2, "addr", "add", h2Addr + "/24", "dev", t.h2e},
		// No IPv6: no router solicitations or DAD in the counters.
		[]string{"ip", "netns", "exec", t.h1, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
		[]string{"ip", "netns", "exec", t.h2, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"})
	if !t.direct {
		cmds = append(cmds, []string{"ip", "netns", "exec", t.sw, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"})
	}
	for _, c := range cmds {
		if _, err := run(ctx, nil, c...); err != nil {
			return err
		}
	}
	var err error
	if t.mac1, err = t.mac(ctx, t.h1, t.h1e); err != nil {
		return err
	}
	if t.mac2, err = t.mac(ctx, t.h2, t.h2e); err != nil {
		return err
	}
	return t.sink(ctx)
}

// sink drops trafgen's flow at h2e's ingress (nftables netdev family), so
// that the receiver's cost is the same small one for every switch.
func (t *topo) sink(ctx context.Context) error {
	rules := fmt.Sprintf(`table netdev %s {
	chain sink {
		type filter hook ingress device %q priority 0; policy accept;
		meta l4proto udp udp dport %d counter drop
	}
}
`, strings.ReplaceAll(t.prefix, "-", "_"), t.h2e, sinkPort)
	cmd := []string{"ip", "netns", "exec", t.h2, "nft", "-f", "-"}
	if _, err := runStdin(ctx, rules, cmd...); err != nil {
		return fmt.Errorf("nftables sink: %w", err)
	}
	return nil
}

// offloads turns the veths' offloads on (the defaults: checksum, TSO and
// GSO on, GRO off) or off (all four off), on all of them.
func (t *topo) offloads(ctx context.Context, on bool) error {
	v := "on"
	gro := "off"
	if !on {
		v = "off"
	}
	type dev struct{ ns, name string }
	devs := []dev{{t.h1, t.h1e}, {t.h2, t.h2e}}
	if !t.direct {
		devs = append(devs, dev{t.sw, t.v1}, dev{t.sw, t.v2})
	}
	for _, d := range devs {
		if _, err := run(ctx, nil, "ip", "netns", "exec", d.ns, "ethtool", "-K", d.name,
			"tx", v, "tso", v, "gso", v, "gro", gro); err != nil {
			return err
		}
	}
	return nil
}

// linkStats is what the set reads of an interface's counters.
type linkStats struct {
	rxPackets, rxBytes, rxDropped, txPackets, txDropped uint64
}

// stats reads dev's counters in namespace ns over netlink, in this
// process: an ip(8) per read took hundreds of milliseconds on a loaded
// machine, which the rates computed from two reads then did not see.
func (t *topo) stats(ctx context.Context, ns, dev string) (linkStats, error) {
	if err := ctx.Err(); err != nil {
		return linkStats{}, err
	}
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		return linkStats{}, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return linkStats{}, fmt.Errorf("open netlink in %s: %w", ns, err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return linkStats{}, fmt.Errorf("counters of %s/%s: %w", ns, dev, err)
	}
	s := l.Attrs().Statistics
	if s == nil {
		return linkStats{}, fmt.Errorf("counters of %s/%s: none in the answer", ns, dev)
	}
	return linkStats{rxPackets: s.RxPackets, rxBytes: s.RxBytes, rxDropped: s.RxDropped, txPackets: s.TxPackets, txDropped: s.TxDropped}, nil
}

// counters returns what h1e has sent (tx_packets + tx_dropped: every
// packet trafgen handed to it) and what h2e has received.
func (t *topo) counters(ctx context.Context) (sent, received uint64, err error) {
	a, err := t.stats(ctx, t.h1, t.h1e)
	if err != nil {
		return 0, 0, err
	}
	b, err := t.stats(ctx, t.h2, t.h2e)
	if err != nil {
		return 0, 0, err
	}
	return a.txPackets + a.txDropped, b.rxPackets, nil
}

// switchCounters returns what the switch's side of the topology received
// on v1 and sent on v2; zero for direct.
func (t *topo) switchCounters(ctx context.Context) (in, out uint64, err error) {
	if t.direct {
		return 0, 0, nil
	}
	a, err := t.stats(ctx, t.sw, t.v1)
	if err != nil {
		return 0, 0, err
	}
	b, err := t.stats(ctx, t.sw, t.v2)
	if err != nil {
		return 0, 0, err
	}
	return a.rxPackets, b.txPackets, nil
}

func (t *topo) mac(ctx context.Context, ns, dev string) (string, error) {
	out, err := run(ctx, nil, "ip", "-n", ns, "-j", "link", "show", "dev", dev)
	if err != nil {
		return "", err
	}
	var v []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 || v[0].Address == "" {
		return "", fmt.Errorf("address of %s/%s: %v: %s", ns, dev, err, out)
	}
	return v[0].Address, nil
}

// inNS returns the argv that runs argv in namespace ns pinned to cpu.
func inNS(ns string, cpu int, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns, "taskset", "-c", fmt.Sprint(cpu)}, argv...)
}

// kernelDrops returns what v1 dropped on receive (rx_dropped): veth counts
// there an XDP redirect to a full AF_XDP RX ring, and a packet the CPU's
// backlog had no room for; zero for direct. A full TPACKET ring is counted
// only in its socket's PACKET_STATISTICS, which mswitchd reads and reports
// as the port's ring-full drops (ppsSample.kernelDrops adds them).
func (t *topo) kernelDrops(ctx context.Context) (uint64, error) {
	if t.direct {
		return 0, nil
	}
	v1, err := t.stats(ctx, t.sw, t.v1)
	if err != nil {
		return 0, err
	}
	return v1.rxDropped, nil
}
