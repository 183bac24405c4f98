// Command mswitchctl configures and watches a running mswitchd, in the
// habits of vale-ctl and ovs-vsctl: one subcommand per object, silent
// success for changes, tables for listings.
//
//	mswitchctl switch add sw0
//	mswitchctl port add sw0 vm1 --type memif --id 1
//	mswitchctl port add sw0 sink --type pipe
//	mswitchctl port list sw0
//	mswitchctl module set sw0 l4filter
//	mswitchctl l4filter add sw0 tcp/80 vm1
//	mswitchctl stats
//	mswitchctl top sw0
//	mswitchctl capture sw0 vm1 -w vm1.pcap -c 100
//
// It talks to the daemon's control socket: --socket (or --control-socket,
// or $MSWITCH_SOCKET), by default /run/mswitch/mswitchd.sock. After
// `port add`, --socket names the port's memif socket; a --socket before the
// subcommand is always the control socket.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mswitch/mswitch/control"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mswitchctl:", err)
		os.Exit(1)
	}
}

// run executes one command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{out: stdout, errOut: stderr}
	root := a.rootCmd()
	root.SetArgs(leadingSocket(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	defer a.close()
	return root.ExecuteContext(ctx)
}

// leadingSocket makes a --socket given before the subcommand name the
// control socket, even for `port add`, whose own --socket is a memif
// socket: `mswitchctl --socket CTL port add sw0 p --socket MEMIF`.
func leadingSocket(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out) && strings.HasPrefix(out[i], "-"); i++ {
		switch {
		case out[i] == "--":
			return out
		case out[i] == "--socket":
			out[i] = "--control-socket"
			i++ // its value
		case strings.HasPrefix(out[i], "--socket="):
			out[i] = "--control-socket=" + strings.TrimPrefix(out[i], "--socket=")
		case out[i] == "--control-socket":
			i++
		}
	}
	return out
}

// app is the state of one invocation.
type app struct {
	out, errOut io.Writer
	socket      string
	c           *control.Client
}

func (a *app) client() *control.Client {
	if a.c == nil {
		a.c = control.NewClient(a.socket)
	}
	return a.c
}

func (a *app) close() {
	if a.c != nil {
		a.c.Close()
	}
}

// table starts a tab-aligned table with a header.
func (a *app) table(header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(a.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func row(tw io.Writer, cols ...any) {
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, c)
	}
	fmt.Fprintln(tw)
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mswitchctl",
		Short: "Configure and watch mswitchd, the mswitch daemon",
		Long: `mswitchctl configures and watches mswitchd, the mswitch daemon: its switches,
their ports (memif, pipe), switching modules and tables, counters, live rates
and packet captures.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       control.Version,
	}
	def := control.DefaultSocket
	if s := os.Getenv("MSWITCH_SOCKET"); s != "" {
		def = s
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.socket, "socket", def, "mswitchd's control socket (also $MSWITCH_SOCKET)")
	pf.StringVar(&a.socket, "control-socket", def, "the same as --socket (after `port add`, --socket is the memif socket)")
	root.AddCommand(a.switchCmd(), a.portCmd(), a.moduleCmd(), a.learningCmd(), a.l4filterCmd(),
		a.xconnectCmd(), a.multistackCmd(), a.openflowCmd(), a.statsCmd(), a.topCmd(), a.pollThreadsCmd(), a.captureCmd(), a.versionCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%v: see `%s --help`", err, c.CommandPath())
	})
	return root
}

// args checks the number of positional arguments: at least min, at most
// max (-1: any), and says what is expected otherwise.
func args(min, max int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		use := c.Use
		if i := strings.IndexByte(use, ' '); i >= 0 {
			use = use[i+1:]
		} else {
			use = "no arguments"
		}
		return fmt.Errorf("%s takes %s, not %d argument(s): see `%s --help`", c.CommandPath(), use, len(args), c.CommandPath())
	}
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of mswitchctl and of the running mswitchd",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.out, "mswitchctl", control.Version)
			v, err := a.client().Version(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "mswitchd %s (modules: %s)\n", v.Version, strings.Join(v.Modules, ", "))
			return nil
		},
	}
}
