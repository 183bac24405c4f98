package main

// The configuration commands: switch, port, module, learning, l4filter,
// xconnect.

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mswitch/mswitch/control"
)

// group returns a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			var names []string
			for _, s := range c.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, s.Name())
				}
			}
			return fmt.Errorf("%s needs a subcommand: %s (see `%s --help`)", c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
		},
	}
	c.AddCommand(subs...)
	return c
}

func (a *app) switchCmd() *cobra.Command {
	var spec control.SwitchSpec
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a switch",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			_, err := a.client().AddSwitch(cmd.Context(), spec)
			return err
		},
	}
	add.Flags().StringVarP(&spec.Module, "module", "m", "learning", "switching module (see `mswitchctl module list`)")
	add.Flags().IntVar(&spec.Batch, "batch", 0, "packets per forwarding batch (default: the fabric's, 1024)")
	del := &cobra.Command{
		Use:     "del NAME...",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete switches, with their ports",
		Args:    args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range args {
				if err := a.client().DeleteSwitch(cmd.Context(), n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	ls := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "show"},
		Short:   "List the switches",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sws, err := a.client().Switches(cmd.Context())
			if err != nil {
				return err
			}
			tw := a.table("NAME", "MODULE", "PORTS", "BATCH")
			for _, s := range sws {
				row(tw, s.Name, s.Module, s.Ports, s.Batch)
			}
			return tw.Flush()
		},
	}
	return group("switch", "Add, delete and list switches", add, del, ls)
}

func (a *app) portCmd() *cobra.Command {
	var (
		typ         string
		m           control.MemifSpec
		pipeQ       int
		ifname      string
		xdpMode     string
		pollWindow  time.Duration
		rxRing      int
		rpsCPUs     string
		coalesceArg string
	)
	add := &cobra.Command{
		Use:   "add SWITCH NAME",
		Short: "Create a port and attach it to a switch",
		Long: `Create a port and attach it to a switch.

A memif port is served by mswitchd as the memif server: a client (pktgen,
DPDK's net_memif, VPP) connects to the socket and asks for the port's --id.
Many ports, of any switch, share a socket.

An afxdp port attaches a kernel interface (a veth of a container, a NIC)
over AF_XDP; where XDP cannot be attached, mswitchd falls back to AF_PACKET
and says why in its log (the port list shows via=afpacket). An afpacket port
uses AF_PACKET directly. A tap port makes the host's own stack a port: the
host sees a network interface (--interface, default the port's name),
created if it does not exist.

A pipe port's far end is a sink inside the daemon that discards what it
receives: for tests and demos.

Here --socket is the memif socket; name the control socket before the
subcommand (mswitchctl --socket CTL port add ...), with --control-socket,
or with $MSWITCH_SOCKET.`,
		Example: `  mswitchctl port add sw0 vm1 --type memif --id 1 --queues 2 --mode poll
  mswitchctl port add sw0 vm2 --type memif --socket /run/vm2.sock --id 0 --secret s3cret
  mswitchctl port add sw0 c1 --type afxdp --interface veth-c1
  mswitchctl port add sw0 c2 --type afpacket --interface veth-c2 --mode poll
  mswitchctl port add sw0 host --type tap --interface mswitch0
  mswitchctl port add sw0 sink --type pipe`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := control.PortSpec{Name: args[1], Type: typ}
			f := cmd.Flags()
			switch typ {
			case control.TypeMemif:
				if f.Changed("pipe-queues") {
					return fmt.Errorf("--pipe-queues applies to pipe ports, not memif ones")
				}
				if f.Changed("poll-window") {
					return fmt.Errorf("--poll-window applies to afxdp and afpacket ports, not memif ones")
				}
				if f.Changed("rx-ring") {
					return fmt.Errorf("--rx-ring applies to afxdp ports, not memif ones (see --ring-size)")
				}
				if f.Changed("rps-cpus") {
					return fmt.Errorf("--rps-cpus applies to afxdp and afpacket ports, not memif ones")
				}
				if f.Changed("coalesce") {
					return fmt.Errorf("--coalesce applies to afxdp, afpacket and tap ports, not memif ones")
				}
				mm := m
				if mm.Socket != "" && mm.Socket[0] != '@' {
					abs, err := filepath.Abs(mm.Socket)
					if err != nil {
						return err
					}
					mm.Socket = abs
				}
				spec.Memif = &mm
			case control.TypePipe:
				for _, n := range []string{"socket", "id", "queues", "mode", "secret", "ring-size", "interface", "xdp-mode", "poll-window", "rx-ring", "rps-cpus", "coalesce"} {
					if f.Changed(n) {
						return fmt.Errorf("--%s does not apply to pipe ports", n)
					}
				}
				spec.Pipe = &control.PipeSpec{Queues: pipeQ}
			case control.TypeAFXDP, control.TypeAFPacket, control.TypeTap:
				co := 0
				if f.Changed("coalesce") {
					var err error
					if co, err = parseCoalesce(coalesceArg); err != nil {
						return err
					}
				}
				for _, n := range []string{"socket", "id", "secret", "ring-size", "pipe-queues"} {
					if f.Changed(n) {
						return fmt.Errorf("--%s applies to memif or pipe ports, not %s ones", n, typ)
					}
				}
				if typ == control.TypeTap {
					if f.Changed("mode") || f.Changed("xdp-mode") || f.Changed("poll-window") || f.Changed("rx-ring") || f.Changed("rps-cpus") {
						return fmt.Errorf("--mode, --xdp-mode, --poll-window, --rx-ring and --rps-cpus do not apply to tap ports")
					}
					spec.Tap = &control.TapSpec{Name: ifname, Queues: m.Queues, CoalesceUS: co}
					break
				}
				for _, n := range []string{"xdp-mode", "rx-ring"} {
					if typ == control.TypeAFPacket && f.Changed(n) {
						return fmt.Errorf("--%s applies to afxdp ports, not afpacket ones", n)
					}
				}
				spec.Kernel = &control.KernelSpec{Interface: ifname, Queues: m.Queues, Mode: m.Mode, XDPMode: xdpMode,
					PollWindowUS: int(pollWindow / time.Microsecond), RxRing: rxRing, RPSCPUs: rpsCPUs, CoalesceUS: co}
			}
			_, err := a.client().AddPort(cmd.Context(), args[0], spec)
			return err
		},
	}
	f := add.Flags()
	f.StringVarP(&typ, "type", "t", control.TypeMemif, "port type: memif, afxdp, afpacket, tap or pipe")
	f.StringVar(&ifname, "interface", "", "afxdp, afpacket: the kernel interface; tap: the device name (default: the port's name)")
	f.StringVar(&xdpMode, "xdp-mode", "", "afxdp: auto (native where the driver has it), native or generic")
	f.StringVar(&m.Socket, "socket", "", "memif socket path, @name for an abstract socket (default: the daemon's)")
	f.Uint32Var(&m.ID, "id", 0, "memif interface id, unique on its socket")
	f.IntVarP(&m.Queues, "queues", "q", 1, "queue pairs (memif, afxdp, afpacket, tap)")
	f.StringVar(&m.Mode, "mode", "interrupt", "memif, afxdp, afpacket: interrupt (sleeps when idle) or poll (busy-polls); afxdp, afpacket: also adaptive (polls for --poll-window after each packet, then sleeps)")
	f.DurationVar(&pollWindow, "poll-window", 0, "afxdp, afpacket in adaptive mode: how long a queue keeps polling after its last packet (default: the backend's, 50µs)")
	f.IntVar(&rxRing, "rx-ring", 0, "afxdp: frames in each queue's RX ring, a power of two from 64 to 65536 (4 KB of memory each; default: the backend's, 16384)")
	f.StringVar(&rpsCPUs, "rps-cpus", "", "afxdp, afpacket: steer what the interface receives to these CPUs (RPS, one per flow; e.g. 0 or 0-1) while the port exists, so that a flow's packets arrive in order (default: leave RPS alone)")
	f.StringVar(&coalesceArg, "coalesce", "", "afxdp, afpacket (interrupt and adaptive modes), tap: interrupt moderation, how long a queue receiving a stream pauses before it takes a batch of fewer than 32 packets (up to 1ms; the kernel adds 50µs of timer slack), or off (default: the backend's, 20µs)")
	f.StringVar(&m.Secret, "secret", "", "memif secret the client must present")
	f.Uint8Var(&m.Log2RingSize, "ring-size", 0, "memif ring size, as log2 of the number of slots (default: the backend's)")
	f.IntVar(&pipeQ, "pipe-queues", 1, "pipe queue pairs")

	del := &cobra.Command{
		Use:     "del SWITCH NAME...",
		Aliases: []string{"delete", "rm"},
		Short:   "Detach ports and delete them",
		Args:    args(2, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range args[1:] {
				if err := a.client().DeletePort(cmd.Context(), args[0], n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	ls := &cobra.Command{
		Use:     "list SWITCH",
		Aliases: []string{"ls", "show"},
		Short:   "List the ports of a switch, with their state",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ports, err := a.client().Ports(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table("NAME", "ID", "TYPE", "STATE", "DETAILS")
			for _, p := range ports {
				id := "-"
				if p.ID >= 0 {
					id = strconv.Itoa(p.ID)
				}
				row(tw, p.Name, id, p.Type, p.State, portDetails(p))
			}
			return tw.Flush()
		},
	}
	return group("port", "Add, delete and list the ports of a switch", add, del, ls)
}

// portDetails renders a port's configuration and link in one line.
func portDetails(p control.PortInfo) string {
	var d []string
	if p.Pipe != nil {
		d = append(d, fmt.Sprintf("queues=%d", p.Pipe.Queues))
	}
	if k := p.Kernel; k != nil {
		d = append(d, "interface="+k.Interface, fmt.Sprintf("queues=%d", k.Queues), "mode="+k.Mode)
		if k.XDPMode != "" {
			d = append(d, "xdp-mode="+k.XDPMode)
		}
		if k.RxRing != 0 {
			d = append(d, fmt.Sprintf("rx-ring=%d", k.RxRing))
		}
		if k.RPSCPUs != "" {
			d = append(d, "rps-cpus="+k.RPSCPUs)
		}
		d = appendCoalesce(d, k.CoalesceUS)
	}
	if t := p.Tap; t != nil {
		d = append(d, "interface="+t.Name, fmt.Sprintf("queues=%d", t.Queues))
		d = appendCoalesce(d, t.CoalesceUS)
	}
	if p.Backend != "" {
		d = append(d, "via="+p.Backend)
	}
	if m := p.Memif; m != nil {
		sock := m.Socket
		if sock == "" {
			sock = "default"
		}
		d = append(d, "socket="+sock, fmt.Sprintf("id=%d", m.ID), fmt.Sprintf("queues=%d", m.Queues), "mode="+m.Mode)
		if m.Secret != "" {
			d = append(d, "secret=yes")
		}
	}
	if l := p.Link; l != nil {
		if l.Connected {
			d = append(d, fmt.Sprintf("peer=%q", l.PeerName), fmt.Sprintf("if=%q", l.IfName),
				fmt.Sprintf("queues-up=%d", l.Queues), fmt.Sprintf("ring=%d", 1<<l.Log2RingSize))
		}
		d = append(d, fmt.Sprintf("connects=%d", l.Connects), fmt.Sprintf("disconnects=%d", l.Disconnects))
		if l.LastDisconnect != "" {
			d = append(d, fmt.Sprintf("last-disconnect=%q", l.LastDisconnect))
		}
		if len(l.Rejects) > 0 {
			d = append(d, "rejects="+counters(l.Rejects))
		}
	}
	if p.Error != "" {
		d = append(d, fmt.Sprintf("error=%q", p.Error))
	}
	return strings.Join(d, " ")
}

// counters renders non-zero counters as "a=1,b=2", sorted.
func counters(m map[string]uint64) string {
	var kv []string
	for k, v := range m {
		if v != 0 {
			kv = append(kv, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (a *app) moduleCmd() *cobra.Command {
	ls := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the switching modules mswitchd knows",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := a.client().Modules(cmd.Context())
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintln(a.out, n)
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show SWITCH",
		Short: "Show a switch's module and its counters",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.client().Module(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%s: %s\n", args[0], m.Name)
			keys := make([]string, 0, len(m.Counters))
			for k := range m.Counters {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(a.out, "  %-22s %d\n", k, m.Counters[k])
			}
			return nil
		},
	}
	set := &cobra.Command{
		Use:   "set SWITCH MODULE",
		Short: "Replace a switch's module while traffic flows (the new one starts empty)",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().SetModule(cmd.Context(), args[0], args[1])
		},
	}
	return group("module", "List, show and swap switching modules", ls, show, set)
}

func (a *app) learningCmd() *cobra.Command {
	var vlan uint16
	show := &cobra.Command{
		Use:     "show SWITCH",
		Aliases: []string{"list", "ls"},
		Short:   "Show a learning switch's MAC table",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ents, err := a.client().Learning(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table("PORT", "VLAN", "MAC", "AGE")
			for _, e := range ents {
				age := strconv.FormatInt(e.Age, 10) + "s"
				if e.Static {
					age = "static"
				}
				row(tw, e.Port, e.VLAN, e.MAC, age)
			}
			return tw.Flush()
		},
	}
	add := &cobra.Command{
		Use:   "add SWITCH MAC PORT",
		Short: "Add a static entry: MAC is on PORT, for good",
		Args:  args(3, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().AddStatic(cmd.Context(), args[0], control.LearningEntry{MAC: args[1], Port: args[2], VLAN: vlan})
		},
	}
	add.Flags().Uint16Var(&vlan, "vlan", 0, "VLAN of the entry (VLAN-aware bridges only)")
	del := &cobra.Command{
		Use:     "del SWITCH MAC",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete a static entry",
		Args:    args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().DeleteStatic(cmd.Context(), args[0], args[1], vlan)
		},
	}
	del.Flags().Uint16Var(&vlan, "vlan", 0, "VLAN of the entry (VLAN-aware bridges only)")
	flush := &cobra.Command{
		Use:   "flush SWITCH",
		Short: "Forget every learned entry (static entries stay)",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().FlushLearning(cmd.Context(), args[0])
		},
	}
	return group("learning", "Show and edit the MAC table of a learning switch", show, add, del, flush)
}

// parseRule reads "tcp/80".
func parseRule(s string) (proto string, port uint16, err error) {
	p, n, ok := strings.Cut(s, "/")
	v, perr := strconv.ParseUint(n, 10, 16)
	if !ok || perr != nil || (p != "tcp" && p != "udp") {
		return "", 0, fmt.Errorf("%q is not a rule: write it as tcp/PORT or udp/PORT, e.g. tcp/80", s)
	}
	return p, uint16(v), nil
}

func (a *app) l4filterCmd() *cobra.Command {
	show := &cobra.Command{
		Use:     "show SWITCH",
		Aliases: []string{"list", "ls"},
		Short:   "Show an l4filter switch's rules",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, err := a.client().L4Rules(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table("PROTO", "PORT", "OUT")
			for _, r := range rules {
				row(tw, r.Proto, r.Port, r.Out)
			}
			return tw.Flush()
		},
	}
	add := &cobra.Command{
		Use:   "add SWITCH PROTO/PORT OUT",
		Short: "Send TCP or UDP traffic to or from PORT to switch port OUT",
		Example: `  mswitchctl l4filter add sw0 tcp/80 proxy
  mswitchctl l4filter add sw0 udp/53 resolver`,
		Args: args(3, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, port, err := parseRule(args[1])
			if err != nil {
				return err
			}
			return a.client().AddL4Rule(cmd.Context(), args[0], control.L4Rule{Proto: proto, Port: port, Out: args[2]})
		},
	}
	del := &cobra.Command{
		Use:     "del SWITCH PROTO/PORT",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete a rule",
		Args:    args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, port, err := parseRule(args[1])
			if err != nil {
				return err
			}
			return a.client().DeleteL4Rule(cmd.Context(), args[0], proto, port)
		},
	}
	return group("l4filter", "Show and edit the rules of an l4filter switch", show, add, del)
}

func (a *app) xconnectCmd() *cobra.Command {
	var oneway bool
	show := &cobra.Command{
		Use:     "show SWITCH",
		Aliases: []string{"list", "ls"},
		Short:   "Show an xconnect switch's mappings",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			maps, err := a.client().XConnect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table("IN", "OUT")
			for _, m := range maps {
				row(tw, m.In, m.Out)
			}
			return tw.Flush()
		},
	}
	add := &cobra.Command{
		Use:   "add SWITCH A B",
		Short: "Connect ports A and B both ways (A to B only with --oneway)",
		Args:  args(3, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().Connect(cmd.Context(), args[0], control.Mapping{In: args[1], Out: args[2], Both: !oneway})
		},
	}
	add.Flags().BoolVar(&oneway, "oneway", false, "connect A to B only")
	del := &cobra.Command{
		Use:     "del SWITCH PORT...",
		Aliases: []string{"delete", "rm"},
		Short:   "Disconnect input ports (give both ports to undo a pair)",
		Args:    args(2, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args[1:] {
				if err := a.client().Disconnect(cmd.Context(), args[0], p); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return group("xconnect", "Show and edit the mappings of an xconnect switch", show, add, del)
}

// parseCoalesce reads --coalesce: "off", or a duration from 1µs to
// control.MaxCoalesceUS µs, in whole microseconds.
func parseCoalesce(v string) (int, error) {
	if v == "off" {
		return control.CoalesceOff, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Microsecond || d > control.MaxCoalesceUS*time.Microsecond || d%time.Microsecond != 0 {
		return 0, fmt.Errorf("--coalesce %q is not off or whole microseconds from 1µs to %dµs", v, control.MaxCoalesceUS)
	}
	return int(d / time.Microsecond), nil
}

// appendCoalesce adds a port's coalescing setting to its details, unless
// it is the default.
func appendCoalesce(d []string, us int) []string {
	switch {
	case us == control.CoalesceOff:
		return append(d, "coalesce=off")
	case us > 0:
		return append(d, fmt.Sprintf("coalesce=%dµs", us))
	}
	return d
}
