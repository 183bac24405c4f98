package main

// mswitchctl openflow: the settings and state of the openflow module.

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mswitch/mswitch/control"
)

func (a *app) openflowCmd() *cobra.Command {
	show := &cobra.Command{
		Use:   "show SWITCH",
		Short: "Show a switch's OpenFlow settings, controller connections and cache hit rates",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := a.client().OpenFlow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			a.printOpenFlow(args[0], info)
			return nil
		},
	}
	setController := &cobra.Command{
		Use:   "set-controller SWITCH TARGET...",
		Short: "Set the controller targets: ptcp:[PORT][:IP], tcp:IP[:PORT], punix:PATH, unix:PATH",
		Args:  args(2, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().SetOpenFlow(cmd.Context(), args[0], control.OpenFlowSpec{Targets: args[1:]})
		},
	}
	failMode := &cobra.Command{
		Use:   "fail-mode SWITCH secure|standalone",
		Short: "Set what the switch does without a controller: keep its flows (secure) or learn (standalone)",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().SetOpenFlow(cmd.Context(), args[0], control.OpenFlowSpec{FailMode: args[1]})
		},
	}
	dpid := &cobra.Command{
		Use:   "datapath-id SWITCH HEX",
		Short: "Set the datapath ID (up to 16 hex digits)",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().SetOpenFlow(cmd.Context(), args[0], control.OpenFlowSpec{DatapathID: args[1]})
		},
	}
	var emc, megaflows string
	cache := &cobra.Command{
		Use:   "cache SWITCH on|off [--emc on|off] [--megaflows wildcard|exact]",
		Short: "Turn the flow caches (exact-match and megaflow) on or off, and set how they work",
		Long: `Turn the flow caches on or off. --emc off leaves the exact-match cache out
(packets start at the megaflows: Open vSwitch's other_config:emc-insert-inv-prob=0);
--megaflows exact makes every megaflow match all fields, one per microflow
(Open vSwitch's upcall/disable-megaflows). Both are kept while the caches are off.`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := control.OpenFlowSpec{}
			on, err := parseOnOff("cache", args[1])
			if err != nil {
				return err
			}
			spec.Cache = &on
			if emc != "" {
				e, err := parseOnOff("--emc", emc)
				if err != nil {
					return err
				}
				spec.EMC = &e
			}
			switch megaflows {
			case "", control.MegaflowsWildcard, control.MegaflowsExact:
				spec.Megaflows = megaflows
			default:
				return fmt.Errorf("--megaflows takes %s or %s, not %q", control.MegaflowsWildcard, control.MegaflowsExact, megaflows)
			}
			return a.client().SetOpenFlow(cmd.Context(), args[0], spec)
		},
	}
	cache.Flags().StringVar(&emc, "emc", "", "the exact-match cache: on or off (default: unchanged)")
	cache.Flags().StringVar(&megaflows, "megaflows", "", "megaflows: wildcard or exact (default: unchanged)")
	trace := &cobra.Command{
		Use:   "trace SWITCH PORT HEXFRAME",
		Short: "Show what the flow tables do with a frame arriving on PORT (as ofproto/trace)",
		Args:  args(3, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			tr, err := a.client().TraceOpenFlow(cmd.Context(), args[0], control.OpenFlowTrace{Port: args[1], Frame: args[2]})
			if err != nil {
				return err
			}
			fmt.Fprint(a.out, tr)
			return nil
		},
	}
	return group("openflow", "Show and configure the openflow module of a switch",
		show, setController, failMode, dpid, cache, trace)
}

func (a *app) printOpenFlow(sw string, info control.OpenFlowInfo) {
	state := "not running (set it with `mswitchctl module set " + sw + " openflow`)"
	if info.Running {
		state = "running"
	}
	cache := "on"
	if info.Cache != nil && !*info.Cache {
		cache = "off"
	}
	emc := "on"
	if info.EMC != nil && !*info.EMC {
		emc = "off"
	}
	cache += fmt.Sprintf(" (emc %s, megaflows %s)", emc, cmp.Or(info.Megaflows, control.MegaflowsWildcard))
	fmt.Fprintf(a.out, "switch %s: openflow %s\n", sw, state)
	fmt.Fprintf(a.out, "  datapath id: %s\n  fail mode:   %s\n  targets:     %s\n  cache:       %s\n",
		orNone(info.DatapathID), info.FailMode, strings.Join(info.Targets, " "), cache)
	if !info.Running {
		return
	}
	if len(info.ListenAddrs) > 0 {
		fmt.Fprintf(a.out, "  listening:   %s\n", strings.Join(info.ListenAddrs, " "))
	}
	mode := "controller connected"
	switch {
	case info.Learning:
		mode = "no controller: learning switch (standalone)"
	case !info.ControllerConnected:
		mode = "no controller"
	}
	fmt.Fprintf(a.out, "  state:       %s; %d flows\n", mode, info.Flows)
	c := info.CacheStats
	fmt.Fprintf(a.out, "  cache:       %.1f%% hits (emc %d, megaflow %d, misses %d)\n", 100*c.HitRate, c.EMCHits, c.MegaflowHits, c.Misses)
	fmt.Fprintf(a.out, "  packet-ins:  %d; injected %d (%d dropped); async drops %d\n", info.PacketIns, info.Injected, info.InjectDrops, info.AsyncDrops)
	if len(info.TargetStates) > 0 {
		fmt.Fprintln(a.out)
		tw := a.table("TARGET", "STATE", "LAST ERROR")
		for _, t := range info.TargetStates {
			row(tw, t.Target, t.State, orNone(t.LastError))
		}
		tw.Flush()
	}
	if len(info.Conns) > 0 {
		fmt.Fprintln(a.out)
		tw := a.table("REMOTE", "TARGET", "ROLE", "UP", "SINCE", "MSGS IN", "MSGS OUT")
		for _, c := range info.Conns {
			row(tw, c.Remote, c.Target, c.Role, c.Up, c.Since.Format(time.RFC3339), c.MsgsIn, c.MsgsOut)
		}
		tw.Flush()
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseOnOff reads what of takes: on or off.
func parseOnOff(of, v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%s takes on or off, not %q", of, v)
}
