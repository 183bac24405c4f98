package kernelbench

import (
	"context"
	"fmt"
	"os/exec"
)

// The switches of the set, in Row.Switch and Options.Switches.
const (
	SwitchDirect          = "direct"       // no switch: one veth pair (the baseline)
	SwitchBridge          = "linux-bridge" // the kernel's bridge
	SwitchOVSSystem       = "ovs-system"   // OVS userspace datapath, system (AF_PACKET) ports
	SwitchOVSAFXDP        = "ovs-afxdp"    // OVS userspace datapath, afxdp ports
	SwitchMswitchAFXDP    = "mswitch-afxdp"
	SwitchMswitchAFPacket = "mswitch-afpacket"
	// SwitchMswitchAFXDPPoll is mswitch-afxdp with busy-polling queues
	// (--mode poll) drained by a poll thread that never sleeps
	// (mswitchd -poll-sleep=false): OVS's PMD way, a core for latency.
	SwitchMswitchAFXDPPoll = "mswitch-afxdp-poll"
	// SwitchMswitchAFXDPAdaptive is mswitch-afxdp with adaptive queues
	// (--mode adaptive, the default window): interrupt mode that polls
	// for a short time after each packet.
	SwitchMswitchAFXDPAdaptive = "mswitch-afxdp-adaptive"
)

// AllSwitches is every switch, in the order the set runs them.
var AllSwitches = []string{SwitchDirect, SwitchBridge, SwitchOVSSystem, SwitchOVSAFXDP,
	SwitchMswitchAFXDP, SwitchMswitchAFPacket, SwitchMswitchAFXDPAdaptive, SwitchMswitchAFXDPPoll}

// isMswitch reports whether switch name is mswitchd.
func isMswitch(name string) bool {
	return name == SwitchMswitchAFXDP || name == SwitchMswitchAFPacket || name == SwitchMswitchAFXDPPoll ||
		name == SwitchMswitchAFXDPAdaptive
}

// switchCPU is the CPU the switch process runs on; the hosts' tools run on
// hostCPU.
const (
	hostCPU   = 0
	switchCPU = 1
)

// A fwd is one switch of the set, forwarding between v1 and v2 of a topo.
type fwd interface {
	// up starts the switch on t. down stops it; it is called after a
	// failed up too.
	up(ctx context.Context, t *topo) error
	down(ctx context.Context) error
	// pid is the switch process, 0 for the kernel's.
	pid() int
	// offloads are the veths' offload settings to try for TCP, in order
	// (true: on); the first one that carries TCP is kept.
	offloads() []bool
	// note describes the switch as it ran (versions, backends).
	note() string
}

// cycler is a switch that counts its own processing cycles (OVS's PMD
// statistics).
type cycler interface {
	clearCycles(ctx context.Context) error
	// cycles returns the processing cycles per packet and the share of
	// its busy-polling threads' cycles spent processing, in percent.
	cycles(ctx context.Context) (perPacket, busyPct float64, err error)
}

// dropper is a switch that counts its own drops, by reason (mswitchd's
// per-port drop counters). Its ringFull drops are packets the kernel found
// no room for in a socket's ring (a full TPACKET ring of an afpacket port,
// which only the socket counts): kernel ring drops. (An afxdp port's full
// RX ring is counted by veth, in rx_dropped, not here.)
type dropper interface {
	drops(ctx context.Context) (map[string]uint64, error)
}

// ringFull is the drop reason of a full kernel ring (fabric.DropRingFull).
const ringFull = "ring-full"

// newFwd returns switch name, or why it cannot run here.
func newFwd(name string, r *runner) (fwd, string) {
	switch name {
	case SwitchDirect:
		return direct{}, ""
	case SwitchBridge:
		return &bridge{}, ""
	case SwitchOVSSystem, SwitchOVSAFXDP:
		for _, tool := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Sprintf("%s not found (Debian package openvswitch-switch)", tool)
			}
		}
		return &ovs{afxdp: name == SwitchOVSAFXDP, dir: r.dir}, ""
	case SwitchMswitchAFXDP, SwitchMswitchAFPacket, SwitchMswitchAFXDPPoll, SwitchMswitchAFXDPAdaptive:
		bin, why := r.mswitchd()
		if why != "" {
			return nil, why
		}
		m := &mswitch{afxdp: name != SwitchMswitchAFPacket, mode: "interrupt", bin: bin, dir: r.dir}
		switch name {
		case SwitchMswitchAFXDPPoll:
			m.mode = "poll"
		case SwitchMswitchAFXDPAdaptive:
			m.mode = "adaptive"
		}
		return m, ""
	}
	return nil, "unknown switch"
}

// direct is no switch at all: the topology is one veth pair.
type direct struct{}

func (direct) up(context.Context, *topo) error { return nil }
func (direct) down(context.Context) error      { return nil }
func (direct) pid() int                        { return 0 }
func (direct) offloads() []bool                { return []bool{true} }
func (direct) note() string                    { return "" }

// bridge is the kernel's bridge in the switch namespace, with
// bridge-nf-call-{iptables,ip6tables,arptables} off (br_netfilter is built
// into some kernels and on by default).
type bridge struct {
	nf string // what became of the br_netfilter sysctls
}

func (b *bridge) up(ctx context.Context, t *topo) error {
	br := t.prefix + "-br"
	for _, c := range [][]string{
		{"ip", "-n", t.sw, "link", "add", br, "type", "bridge"},
		{"ip", "-n", t.sw, "link", "set", t.v1, "master", br},
		{"ip", "-n", t.sw, "link", "set", t.v2, "master", br},
		{"ip", "-n", t.sw, "link", "set", br, "up"},
	} {
		if _, err := run(ctx, nil, c...); err != nil {
			return err
		}
	}
	b.nf = "bridge-nf-call-* set to 0"
	for _, k := range []string{"iptables", "ip6tables", "arptables"} {
		if _, err := run(ctx, nil, "ip", "netns", "exec", t.sw, "sysctl", "-qw", "net.bridge.bridge-nf-call-"+k+"=0"); err != nil {
			b.nf = "no br_netfilter sysctls"
		}
	}
	return nil
}

func (b *bridge) down(context.Context) error { return nil }
func (b *bridge) pid() int                   { return 0 }
func (b *bridge) offloads() []bool           { return []bool{true} }
func (b *bridge) note() string               { return "forwarding in softirq on the sender's CPU; " + b.nf }
