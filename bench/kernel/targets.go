package kernelbench

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Target is one goal of the set, checked against the rows of the same run.
type Target struct {
	What, Want, Got string
	Status          string // "met", "not met" or "not measured"
}

func status(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// Targets evaluates the goals for each mswitch backend against Open
// vSwitch's afxdp datapath and the Linux bridge, from the same run.
func (rep *Report) Targets() []Target {
	var ts []Target
	o := rep.Options
	ovs := SwitchOVSAFXDP
	for _, m := range []string{SwitchMswitchAFXDP, SwitchMswitchAFPacket, SwitchMswitchAFXDPAdaptive, SwitchMswitchAFXDPPoll} {
		if !contains(o.Switches, m) {
			continue
		}
		why := func(sw string) string {
			if sr := rep.Ran(sw); sr != nil && sr.Skipped != "" {
				return sw + ": " + firstLine(sr.Skipped)
			} else if sr != nil && len(sr.Failed) > 0 {
				return sw + ": failed: " + firstLine(strings.Join(sr.Failed, "; "))
			}
			return sw + " not measured"
		}
		// busy notes the rows of a comparison during which other work
		// used the machine (Row.Background over quietLimit).
		var busy []string
		note := func(rows ...*Row) {
			for _, r := range rows {
				if r != nil && r.Background >= quietLimit {
					busy = append(busy, fmt.Sprintf("%s %.0f%%", r.Switch, r.Background))
				}
			}
		}
		add := func(what, want string, got func() (string, bool, string)) {
			busy = nil
			g, ok, missing := got()
			if missing != "" {
				ts = append(ts, Target{what, want, missing, "not measured"})
				return
			}
			if len(busy) > 0 {
				g += "; other work used the machine meanwhile (" + strings.Join(busy, ", ") + " of a core): worth less"
			}
			ts = append(ts, Target{what, want, g, status(ok)})
		}

		add(fmt.Sprintf("%s: switch CPU per packet at a fixed %s, 64 B", m, rateLabel(o.FixedRate)),
			"<= 1/3 of ovs-afxdp's", func() (string, bool, string) {
				a, b := rep.Find(m, WorkPPS, 60, o.FixedRate), rep.Find(ovs, WorkPPS, 60, o.FixedRate)
				note(a, b)
				switch {
				case a == nil || a.SwitchNs <= 0:
					return "", false, why(m)
				case b == nil || b.SwitchNs <= 0:
					return "", false, why(ovs)
				}
				return fmt.Sprintf("%.0f ns vs %.0f ns (%.2fx)", a.SwitchNs, b.SwitchNs, a.SwitchNs/b.SwitchNs),
					a.SwitchNs <= b.SwitchNs/3, ""
			})

		add(fmt.Sprintf("%s: CPU cycles per packet at the generator's maximum rate, 64 B", m),
			"<= ovs-afxdp's (its PMD processing cycles)", func() (string, bool, string) {
				a, b := rep.Find(m, WorkPPS, 60, 0), rep.Find(ovs, WorkPPS, 60, 0)
				note(a, b)
				switch {
				case a == nil || a.SwitchCycles <= 0:
					return "", false, why(m)
				case b == nil || b.PMDCycles <= 0 && b.SwitchCycles <= 0:
					return "", false, why(ovs)
				}
				ref, how := b.PMDCycles, "PMD processing"
				if ref <= 0 {
					ref, how = b.SwitchCycles, "process"
				}
				return fmt.Sprintf("%.0f vs %.0f (%s) cycles (%.2fx)", a.SwitchCycles, ref, how, a.SwitchCycles/ref),
					a.SwitchCycles <= ref, ""
			})

		add(fmt.Sprintf("%s: loss at the generator's maximum rate", m), "< 0.1% at every frame size",
			func() (string, bool, string) {
				var got []string
				ok := true
				for _, size := range o.Sizes {
					a := rep.Find(m, WorkPPS, size, 0)
					note(a)
					if a == nil {
						return "", false, why(m)
					}
					g := fmt.Sprintf("%.3f%% at %d B (%.0f kp/s", a.LossPct, size+4, a.RxPps/1e3)
					if lost := a.Sent - min(a.Sent, a.Received); lost > 0 {
						g += fmt.Sprintf("; %.0f%% of the lost in full kernel rings", 100*float64(min(a.KernelDrops, lost))/float64(lost))
					}
					got = append(got, g+")")
					ok = ok && a.LossPct < 0.1
				}
				return strings.Join(got, ", "), ok, ""
			})

		add(fmt.Sprintf("%s: TCP, one stream", m), ">= 90% of linux-bridge's Gb/s, no more retransmits",
			func() (string, bool, string) {
				a, b := rep.Find(m, WorkTCP, 0, 0), rep.Find(SwitchBridge, WorkTCP, 0, 0)
				note(a, b)
				switch {
				case a == nil:
					return "", false, why(m)
				case b == nil || b.Gbps <= 0:
					return "", false, why(SwitchBridge)
				}
				return fmt.Sprintf("%.2f vs %.2f Gb/s (%.0f%%), %d vs %d retransmits (offloads %s vs %s)",
						a.Gbps, b.Gbps, 100*a.Gbps/b.Gbps, a.Retransmits, b.Retransmits, a.Offloads, b.Offloads),
					a.Gbps >= 0.9*b.Gbps && a.Retransmits <= b.Retransmits, ""
			})

		if m != SwitchMswitchAFXDPPoll && o.IdleWindow > 0 {
			add(fmt.Sprintf("%s: CPU with its ports idle", m), fmt.Sprintf("< 1%% of a core over %v", o.IdleWindow),
				func() (string, bool, string) {
					a := rep.Find(m, WorkIdle, 0, 0)
					note(a)
					if a == nil || a.SwitchCPUPct < 0 {
						return "", false, why(m)
					}
					return fmt.Sprintf("%.2f%% of a core", a.SwitchCPUPct), a.SwitchCPUPct < 1, ""
				})
		}

		add(fmt.Sprintf("%s: ping round trip, p99", m), "<= ovs-afxdp's, at every interval",
			func() (string, bool, string) {
				var got []string
				ok := true
				for _, iv := range o.PingIntervals {
					a, b := rep.FindPing(m, iv), rep.FindPing(ovs, iv)
					note(a, b)
					switch {
					case a == nil:
						return "", false, why(m)
					case b == nil:
						return "", false, why(ovs)
					}
					got = append(got, fmt.Sprintf("%.0f vs %.0f µs (-i %v)", a.RTT.P99, b.RTT.P99, iv))
					ok = ok && a.RTT.Replies == a.RTT.Sent && a.RTT.P99 <= b.RTT.P99
				}
				return strings.Join(got, ", "), ok, ""
			})
	}
	return ts
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// WriteCSV writes one line per row.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"switch", "workload", "frame_bytes_no_fcs", "offered_pps", "sent", "received", "loss_pct", "switch_in", "switch_out", "kernel_drops",
		"sent_pps", "rx_pps", "gbps", "switch_cpu_pct", "switch_ns_per_pkt", "switch_cycles_per_pkt",
		"pmd_cycles_per_pkt", "pmd_busy_pct", "machine_cpu_pct", "cpu0_pct", "cpu1_pct", "softirq_pct",
		"machine_ns_per_pkt", "softirq_ns_per_pkt", "retransmits", "offloads",
		"ping_interval_ms", "ping_sent", "ping_replies", "rtt_min_us", "rtt_p50_us", "rtt_p99_us", "rtt_max_us", "rtt_mean_us",
		"background_pct", "note"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for _, r := range rep.Rows {
		cpu := func(i int) string {
			if i < len(r.CPUPct) {
				return g(r.CPUPct[i])
			}
			return ""
		}
		size := ""
		if r.Workload == WorkPPS {
			size = strconv.Itoa(r.Size)
		}
		line := []string{r.Switch, r.Workload, size, g(r.Offered), u(r.Sent), u(r.Received), g(r.LossPct), u(r.SwitchIn), u(r.SwitchOut), u(r.KernelDrops),
			g(r.SentPps), g(r.RxPps), g(r.Gbps), g(r.SwitchCPUPct), g(r.SwitchNs), g(r.SwitchCycles),
			g(r.PMDCycles), g(r.PMDBusyPct), g(r.MachinePct), cpu(0), cpu(1), g(r.SoftirqPct),
			g(r.MachineNs), g(r.SoftirqNs), strconv.FormatInt(r.Retransmits, 10), r.Offloads}
		if t := r.RTT; t != nil {
			line = append(line, g(float64(t.Interval.Microseconds())/1e3), strconv.Itoa(t.Sent), strconv.Itoa(t.Replies),
				g(t.Min), g(t.P50), g(t.P99), g(t.Max), g(t.Mean))
		} else {
			line = append(line, "", "", "", "", "", "", "", "")
		}
		line = append(line, g(r.Background), r.Note)
		cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}
