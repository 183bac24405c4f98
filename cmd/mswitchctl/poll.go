package main

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) pollThreadsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "poll-threads",
		Short: "Show mswitchd's poll threads and the queues each drains",
		Long: `Show mswitchd's poll threads (its --poll-threads), the input queues of
poll-mode ports that each one drains in turn ("switch/port/queue"), and
their counters: passes over the queues, passes that forwarded packets
(BUSY%), packets, and the idle thread's short sleeps. What
ovs-appctl dpif-netdev/pmd-rxq-show shows for Open vSwitch's PMD threads.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := a.client().PollThreads(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(ts)
			}
			tw := a.table("THREAD", "CPU", "QUEUES", "PASSES", "BUSY%", "PACKETS", "SLEEPS")
			for _, t := range ts {
				cpu := "-"
				if t.CPU >= 0 {
					cpu = strconv.Itoa(t.CPU)
				}
				busy := 0.0
				if t.Passes > 0 {
					busy = 100 * float64(t.Busy) / float64(t.Passes)
				}
				row(tw, t.Thread, cpu, orDash(strings.Join(t.Queues, ",")), t.Passes, strconv.FormatFloat(busy, 'f', 1, 64), t.Packets, t.Sleeps)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the threads as JSON")
	return c
}
