package memifbench

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Target is one goal of the set, checked against the medians.
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

// Targets evaluates the goals of the set.
func (rep *Report) Targets() []Target {
	var ts []Target

	want := ">= 50%"
	tpmd := rep.Find(KindTestpmd, "", 60)
	type config struct {
		ring  uint8
		procs int
	}
	var configs []config
	for _, ring := range rep.Options.Rings {
		configs = append(configs, config{ring, 0})
	}
	if rep.Options.OneCore {
		configs = append(configs, config{BigRing, 1})
	}
	for _, c := range configs {
		slots := 1 << c.ring
		what := fmt.Sprintf("mswitch, poll mode, 60 B, %d-slot rings, vs testpmd's memif loop (one direction)", slots)
		if c.procs > 0 {
			what = fmt.Sprintf("mswitch, poll mode, 60 B, %d-slot rings, mswitchd GOMAXPROCS=%d, vs testpmd's memif loop (one direction)",
				slots, c.procs)
		}
		poll := rep.FindProcs(KindThroughput, "poll", 60, slots, c.procs)
		switch {
		case poll == nil:
			ts = append(ts, Target{what, want, "-", "not measured"})
		case tpmd == nil || tpmd.Mpps == 0:
			why := rep.TestpmdSkipped
			if why == "" {
				why = "no testpmd row"
			}
			ts = append(ts, Target{what, want, fmt.Sprintf("%.2f Mp/s; testpmd: %s", poll.Mpps, why), "not measured"})
		default:
			ratio := poll.Mpps / tpmd.Mpps
			ts = append(ts, Target{what, want,
				fmt.Sprintf("%.0f%% (%.2f of %.2f Mp/s; runs %.2f-%.2f vs %.2f-%.2f)", 100*ratio, poll.Mpps, tpmd.Mpps,
					poll.MppsMin, poll.MppsMax, tpmd.MppsMin, tpmd.MppsMax), status(ratio >= 0.5)})
		}
	}

	var what string
	what, want = "mswitchd CPU, memif ports attached, clients connected, no traffic", "< 1% of a core"
	if r := rep.Find(KindIdle, "", 0); r != nil {
		what = fmt.Sprintf("mswitchd CPU, %d memif ports attached, clients connected, no traffic", r.Ports)
		ts = append(ts, Target{what, want, fmt.Sprintf("%.2f%%", r.CPUPct), status(r.CPUPct < 1)})
	} else {
		ts = append(ts, Target{what, want, "-", "not measured"})
	}

	what = "mswitchd CPU grows with the offered rate (interrupt mode, 60 B)"
	want = "rises with the rate (at the highest rate at least twice the lowest's, no step down by more than " +
		"0.5 points); < 10% of a core at the lowest rate (a busy-polling switch: 100%)"
	var rs []*Row
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Kind == KindRate && r.Mode == "interrupt" {
			rs = append(rs, r)
		}
	}
	if len(rs) < 2 {
		ts = append(ts, Target{what, want, "-", "not measured"})
	} else {
		var got []string
		ok := rs[0].CPUPct < 10 && rs[len(rs)-1].CPUPct >= 2*rs[0].CPUPct
		for i, r := range rs {
			got = append(got, fmt.Sprintf("%.1f%% at %s", r.CPUPct, Rate(r.Offered)))
			if i > 0 && r.CPUPct < rs[i-1].CPUPct-0.5 {
				ok = false
			}
		}
		ts = append(ts, Target{what, want, strings.Join(got, ", "), status(ok)})
	}

	what, want = "ports attached to one switch, traffic round-robin to all", "every port receives, in every run"
	var scale *Row
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Kind == KindScale && r.Dests > 1 {
			scale = r
			break
		}
	}
	if scale == nil {
		ts = append(ts, Target{what, want, "-", "not measured"})
	} else {
		what = fmt.Sprintf("%d ports attached to one switch, traffic round-robin to all", scale.Dests)
		ts = append(ts, Target{what, want, fmt.Sprintf("%d/%d ports reached, %.2f Mp/s delivered",
			scale.Reached, scale.Dests, scale.Mpps), status(scale.Reached == scale.Dests && scale.Mpps > 0)})
	}
	return ts
}

// Rate writes a rate in packets per second compactly: 10k, 1M.
func Rate(pps float64) string {
	switch {
	case pps == 0:
		return "max"
	case pps >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", pps/1e6), ".0") + "M"
	case pps >= 1e3:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", pps/1e3), ".0") + "k"
	}
	return fmt.Sprintf("%.0f", pps)
}

// WriteCSV writes one line per row.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"kind", "mode", "ring_slots", "gomaxprocs", "size", "ports", "dests", "offered_pps", "runs",
		"mpps", "mpps_min", "mpps_max", "gbps", "sent_mpps", "loss_pct", "cpu_pct", "cpu_ns_per_pkt", "client_cpu_pct", "batches_per_s",
		"rtt_min_us", "rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_p999_us", "rtt_max_us", "rtt_replies", "rtt_sent",
		"ports_reached", "background_pct", "note"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range rep.Rows {
		rtt := make([]string, 8)
		if r.RTT != nil {
			rtt = []string{g(r.RTT.Min), g(r.RTT.P50), g(r.RTT.P90), g(r.RTT.P99), g(r.RTT.P999), g(r.RTT.Max),
				strconv.FormatUint(r.RTT.Replies, 10), strconv.FormatUint(r.RTT.Sent, 10)}
		}
		line := []string{r.Kind, r.Mode, strconv.Itoa(r.Ring), strconv.Itoa(r.Procs), strconv.Itoa(r.Size), strconv.Itoa(r.Ports), strconv.Itoa(r.Dests),
			g(r.Offered), strconv.Itoa(r.Runs), g(r.Mpps), g(r.MppsMin), g(r.MppsMax), g(r.Gbps), g(r.SentMpps), g(r.LossPct),
			g(r.CPUPct), g(r.CPUNs), g(r.ClientCPUPct), g(r.BatchesPerSec)}
		line = append(line, rtt...)
		line = append(line, strconv.Itoa(r.Reached), g(r.Background), r.Note)
		cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}
