package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mswitch/mswitch/control"
)

// fetchStats returns the counters of one switch, or of all if sw is "".
func (a *app) fetchStats(ctx context.Context, sw string) ([]control.SwitchStats, error) {
	if sw == "" {
		return a.client().Stats(ctx)
	}
	st, err := a.client().SwitchStats(ctx, sw)
	if err != nil {
		return nil, err
	}
	return []control.SwitchStats{st}, nil
}

func (a *app) statsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats [SWITCH]",
		Short: "Show the counters of every port and worker",
		Long: `Show the counters of every port (packets and bytes in and out, drops by
reason) and of every worker goroutine (batches, packets, busy time), since
each port was attached.`,
		Args: args(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sw := ""
			if len(args) == 1 {
				sw = args[0]
			}
			sts, err := a.fetchStats(cmd.Context(), sw)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(sts)
			}
			tw := a.table("SWITCH", "PORT", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "DROPS", "DROP-REASONS")
			for _, s := range sts {
				for _, p := range s.Ports {
					row(tw, s.Switch, p.Name, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.TotalDrops(), orDash(counters(p.Drops)))
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.out)
			tw = a.table("SWITCH", "PORT", "QUEUE", "BATCHES", "PACKETS", "BUSY")
			for _, s := range sts {
				for _, w := range s.Workers {
					row(tw, s.Switch, w.Port, w.Queue, w.Batches, w.Packets, fmt.Sprintf("%.3fs", w.Busy))
				}
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the counters as JSON")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) topCmd() *cobra.Command {
	var (
		iterations int
		interval   time.Duration
	)
	c := &cobra.Command{
		Use:   "top [SWITCH]",
		Short: "Show live per-port rates, refreshed every second, until Ctrl-C",
		Long: `Show live per-port rates: packets and megabits per second in and out, drops
per second, and the load of each port's worker goroutines (the share of time
spent forwarding), refreshed every --interval until Ctrl-C or -n refreshes.`,
		Args: args(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sw := ""
			if len(args) == 1 {
				sw = args[0]
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %v is not a positive duration", interval)
			}
			return a.top(cmd.Context(), sw, interval, iterations)
		},
	}
	c.Flags().IntVarP(&iterations, "iterations", "n", 0, "stop after this many refreshes (0: until Ctrl-C)")
	c.Flags().DurationVarP(&interval, "interval", "i", time.Second, "time between refreshes")
	return c
}

// portKey names a port across switches.
type portKey struct{ sw, port string }

type sample struct {
	t     time.Time
	ports map[portKey]control.PortStats
	busy  map[portKey]float64 // worker busy seconds, summed over the port's queues
}

func takeSample(sts []control.SwitchStats) sample {
	s := sample{t: time.Now(), ports: map[portKey]control.PortStats{}, busy: map[portKey]float64{}}
	for _, st := range sts {
		for _, p := range st.Ports {
			s.ports[portKey{st.Switch, p.Name}] = p
		}
		for _, w := range st.Workers {
			s.busy[portKey{st.Switch, w.Port}] += w.Busy
		}
	}
	return s
}

// top prints rates every interval, n times (0: until ctx is done).
func (a *app) top(ctx context.Context, sw string, interval time.Duration, n int) error {
	clear := false
	if f, ok := a.out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			clear = true
		}
	}
	sts, err := a.fetchStats(ctx, sw)
	if err != nil {
		return err
	}
	prev := takeSample(sts)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; n == 0 || i < n; i++ {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends top normally
		case <-tick.C:
		}
		sts, err := a.fetchStats(ctx, sw)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		cur := takeSample(sts)
		if clear {
			fmt.Fprint(a.out, "\033[H\033[2J")
		}
		dt := cur.t.Sub(prev.t).Seconds()
		fmt.Fprintf(a.out, "mswitchctl top: %s, every %v\n", cur.t.Format("15:04:05"), interval)
		tw := a.table("SWITCH", "PORT", "RX-PPS", "RX-MBPS", "TX-PPS", "TX-MBPS", "DROPS/S", "LOAD")
		for _, st := range sts {
			for _, p := range st.Ports {
				k := portKey{st.Switch, p.Name}
				q, ok := prev.ports[k]
				if !ok {
					q = control.PortStats{} // a new port: its counters start at 0
				}
				rate := func(now, before uint64) float64 {
					if now < before {
						return 0
					}
					return float64(now-before) / dt
				}
				load := (cur.busy[k] - prev.busy[k]) / dt * 100
				row(tw, st.Switch, p.Name,
					fmt.Sprintf("%.0f", rate(p.RxPackets, q.RxPackets)),
					fmt.Sprintf("%.2f", rate(p.RxBytes, q.RxBytes)*8/1e6),
					fmt.Sprintf("%.0f", rate(p.TxPackets, q.TxPackets)),
					fmt.Sprintf("%.2f", rate(p.TxBytes, q.TxBytes)*8/1e6),
					fmt.Sprintf("%.0f", rate(p.TotalDrops(), q.TotalDrops())),
					fmt.Sprintf("%.1f%%", max(load, 0)))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		prev = cur
	}
	return nil
}
