package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/cobra"

	"github.com/mswitch/mswitch/control"
)

func (a *app) captureCmd() *cobra.Command {
	var (
		file string
		opts control.CaptureOptions
	)
	c := &cobra.Command{
		Use:   "capture SWITCH PORT",
		Short: "Capture the packets in and out of a port into a pcap file",
		Long: `Capture the packets that enter and leave a port into a pcap file (readable by
tcpdump and wireshark), until -c packets, --duration, or Ctrl-C. The file
holds whole packets only, whichever way the capture ends. Packets the
capture cannot keep up with are dropped by the daemon (never the traffic),
and counted.`,
		Example: `  mswitchctl capture sw0 vm1 -w vm1.pcap -c 100
  mswitchctl capture sw0 vm1 -w - --direction in | tcpdump -nr -`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("capture needs a file: add -w FILE (or -w - for standard output)")
			}
			cp, err := a.client().Capture(cmd.Context(), args[0], args[1], opts)
			if err != nil {
				return err
			}
			defer cp.Close()
			r, err := pcapgo.NewReader(cp)
			if err != nil {
				return fmt.Errorf("read the capture stream: %w", err)
			}
			var out io.Writer = a.out
			var f *os.File
			if file != "-" {
				if f, err = os.Create(file); err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			w := pcapgo.NewWriter(out)
			if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
				return err
			}
			n := 0
			for {
				data, ci, err := r.ReadPacketData()
				if err != nil {
					break // the end of the capture, or Ctrl-C
				}
				if err := w.WritePacket(ci, data); err != nil {
					return err
				}
				n++
			}
			if f != nil {
				if err := f.Close(); err != nil {
					return err
				}
			}
			msg := fmt.Sprintf("%d packets captured", n)
			if file != "-" {
				msg += " to " + file
			}
			if d, ok := cp.Dropped(); ok && d > 0 {
				msg += fmt.Sprintf("; %d more dropped because the capture could not keep up", d)
			}
			fmt.Fprintln(a.errOut, msg)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&file, "write", "w", "", "pcap `file` to write (- for standard output)")
	f.IntVarP(&opts.Count, "count", "c", 0, "stop after this many packets")
	f.DurationVarP(&opts.Duration, "duration", "d", 0, "stop after this long (e.g. 10s)")
	f.StringVar(&opts.Direction, "direction", "", "in, out or both (default both)")
	return c
}
