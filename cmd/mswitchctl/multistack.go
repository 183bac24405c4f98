package main

// The multistack command: port roles and 3-tuple reservations of a
// multistack switch.

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mswitch/mswitch/control"
)

// parseTuple reads the PROTO IP L4PORT arguments of reserve and release.
func parseTuple(args []string) (control.Reservation, error) {
	proto, ip, port := args[0], args[1], args[2]
	if proto != "tcp" && proto != "udp" {
		return control.Reservation{}, fmt.Errorf("protocol %q is neither tcp nor udp", proto)
	}
	if _, err := netip.ParseAddr(ip); err != nil {
		return control.Reservation{}, fmt.Errorf("%q is not an IP address: write it as 10.0.0.1 or 2001:db8::1", ip)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return control.Reservation{}, fmt.Errorf("L4 port %q is not a number in [1, 65535]", port)
	}
	return control.Reservation{Proto: proto, IP: ip, Port: uint16(n)}, nil
}

func (a *app) multistackCmd() *cobra.Command {
	var spec control.MultistackSpec
	set := &cobra.Command{
		Use:   "set SWITCH --nic PORT [--host PORT]",
		Short: "Set the NIC (uplink) port and the host stack's port",
		Long: `Set the roles of a multistack switch's ports: --nic is the uplink, --host the
host's own stack (normally a TAP port; without it, what no stack reserved is
dropped). Every other port is a user-level stack's. An empty name clears a
role.`,
		Example: `  mswitchctl multistack set sw0 --nic eth1 --host tap0`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().SetMultistack(cmd.Context(), args[0], spec)
		},
	}
	set.Flags().StringVar(&spec.NIC, "nic", "", "the uplink port")
	set.Flags().StringVar(&spec.Host, "host", "", "the host stack's port (\"\": none)")
	_ = set.MarkFlagRequired("nic")
	show := &cobra.Command{
		Use:   "show SWITCH",
		Short: "Show a multistack switch's port roles",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.client().Multistack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			orNone := func(n string) string {
				if n == "" {
					return "-"
				}
				return n
			}
			fmt.Fprintf(a.out, "nic:  %s\nhost: %s\n", orNone(s.NIC), orNone(s.Host))
			return nil
		},
	}
	list := &cobra.Command{
		Use:     "list SWITCH",
		Aliases: []string{"ls"},
		Short:   "List a multistack switch's reservations",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := a.client().Reservations(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table("PROTO", "IP", "PORT", "OUT")
			for _, r := range rs {
				row(tw, r.Proto, r.IP, r.Port, r.Out)
			}
			return tw.Flush()
		},
	}
	reserve := &cobra.Command{
		Use:   "reserve SWITCH PORT tcp|udp IP L4PORT",
		Short: "Give the local tuple <proto, IP, L4PORT> to the stack on switch port PORT",
		Long: `Give a local <protocol, IP address, L4 port> tuple to the user-level stack on
a switch port: what the NIC receives for it goes to that port, and only that
port may send from it. Refused if the tuple is reserved already, or if the
host's own stack has a socket on it.`,
		Example: `  mswitchctl multistack reserve sw0 stack1 tcp 10.0.0.1 80
  mswitchctl multistack reserve sw0 stack2 udp 2001:db8::1 53`,
		Args: args(5, 5),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseTuple(args[2:])
			if err != nil {
				return err
			}
			r.Out = args[1]
			return a.client().Reserve(cmd.Context(), args[0], r)
		},
	}
	release := &cobra.Command{
		Use:     "release SWITCH tcp|udp IP L4PORT",
		Aliases: []string{"del", "rm"},
		Short:   "Delete a reservation",
		Args:    args(4, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseTuple(args[1:])
			if err != nil {
				return err
			}
			return a.client().Release(cmd.Context(), args[0], r)
		},
	}
	return group("multistack", "Set the port roles and 3-tuple reservations of a multistack switch", set, show, list, reserve, release)
}
