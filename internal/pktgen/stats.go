package pktgen

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// Summary is the outcome of a run; cmd/pktgen prints it as text or JSON.
// Rates count the frames' bytes as handed to the port, without the
// Ethernet CRC, preamble and gap.
type Summary struct {
	Function   Function `json:"function"`
	Seconds    float64  `json:"seconds"`
	Queues     int      `json:"queues"`
	Size       int      `json:"size,omitempty"`  // of the frames sent
	Flows      int      `json:"flows,omitempty"` // of the frames sent
	Reconnects int      `json:"reconnects"`
	TX         *Traffic `json:"tx,omitempty"`
	RX         *Traffic `json:"rx,omitempty"`
	Check      *Check   `json:"check,omitempty"`
	RTT        *RTT     `json:"rtt,omitempty"`
	// PongDropped counts packets pong received but found no room to send
	// back.
	PongDropped uint64 `json:"pong_dropped,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Traffic counts one direction. Rates are over Seconds: the whole run for
// tx, from the first packet received to the last for rx.
type Traffic struct {
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Mpps    float64 `json:"mpps"`
	Gbps    float64 `json:"gbps"`
}

// Check is the outcome of the sequence check, in all and per stream.
type Check struct {
	Lost        uint64 `json:"lost"`
	Late        uint64 `json:"out_of_order"`
	Dup         uint64 `json:"duplicates"`
	Unsequenced uint64 `json:"unsequenced"` // pktgen frames without a sequence number
	Foreign     uint64 `json:"foreign"`     // frames pktgen did not build
	// Flows has the counters of each stream, for at most maxFlowReport
	// streams, by stream number.
	Flows []FlowStats `json:"flows,omitempty"`
}

// maxFlowReport bounds the per-stream part of a Check summary.
const maxFlowReport = 1024

// RTT is what ping measured, in nanoseconds.
type RTT struct {
	Sent     uint64  `json:"sent"`
	Replies  uint64  `json:"replies"`
	Timeouts uint64  `json:"timeouts"`
	Strays   uint64  `json:"strays"` // late or unexpected replies
	Min      int64   `json:"min_ns"`
	Mean     float64 `json:"mean_ns"`
	P50      int64   `json:"p50_ns"`
	P90      int64   `json:"p90_ns"`
	P99      int64   `json:"p99_ns"`
	P999     int64   `json:"p999_ns"`
	Max      int64   `json:"max_ns"`
}

// totals is a snapshot of the counters of every queue.
type totals struct {
	tx, txBytes, rx, rxBytes uint64
	lost, late, dup          uint64
	unsequenced, foreign     uint64
	sent, replies, timeouts  uint64
	strays, pongDropped      uint64
	rttSum, rttN             int64
}

func (r *Runner) totals() (t totals) {
	r.mu.Lock()
	qs := r.queues
	r.mu.Unlock()
	for _, q := range qs {
		t.tx += q.txPackets.Load()
		t.txBytes += q.txBytes.Load()
		t.rx += q.rxPackets.Load()
		t.rxBytes += q.rxBytes.Load()
		t.lost += q.lost.Load()
		t.late += q.late.Load()
		t.dup += q.dup.Load()
		t.unsequenced += q.unsequenced.Load()
		t.foreign += q.foreign.Load()
		t.sent += q.pingSent.Load()
		t.replies += q.pingReplies.Load()
		t.timeouts += q.timeouts.Load()
		t.strays += q.strays.Load()
		t.pongDropped += q.pongDropped.Load()
		t.rttSum += q.rttSum.Load()
		t.rttN += q.rttN.Load()
	}
	return t
}

// startProgress prints a progress line every interval until the returned
// function is called.
func (r *Runner) startProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(r.cfg.Interval)
		defer tick.Stop()
		start, last := time.Now(), time.Now()
		prev := r.totals()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				cur := r.totals()
				line := r.progressLine(prev, cur, now.Sub(last).Seconds())
				prefix, eol := "", "\n"
				if r.cfg.Terminal {
					prefix, eol = "\r\033[K", ""
				}
				r.outMu.Lock()
				fmt.Fprintf(r.cfg.Progress, "%s%6.1fs %s%s", prefix, now.Sub(start).Seconds(), line, eol)
				r.outMu.Unlock()
				prev, last = cur, now
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if r.cfg.Terminal {
			fmt.Fprintln(r.cfg.Progress)
		}
	}
}

func (r *Runner) progressLine(prev, cur totals, dt float64) string {
	var b strings.Builder
	rate := func(name string, pkts, bytes uint64) {
		pps := float64(pkts) / dt
		fmt.Fprintf(&b, "  %s %8.3f Mpps %7.3f Gb/s", name, pps/1e6, float64(bytes)*8/dt/1e9)
	}
	switch r.cfg.Function {
	case TX:
		rate("tx", cur.tx-prev.tx, cur.txBytes-prev.txBytes)
		fmt.Fprintf(&b, "  sent %d", cur.tx)
	case RX, TXRX:
		if r.cfg.Function == TXRX {
			rate("tx", cur.tx-prev.tx, cur.txBytes-prev.txBytes)
		}
		rate("rx", cur.rx-prev.rx, cur.rxBytes-prev.rxBytes)
		fmt.Fprintf(&b, "  received %d", cur.rx)
		if r.cfg.Check {
			fmt.Fprintf(&b, "  lost %d  late %d  dup %d", cur.lost, cur.late, cur.dup)
		}
	case Ping:
		n := cur.rttN - prev.rttN
		fmt.Fprintf(&b, "  ping %8.0f replies/s", float64(cur.replies-prev.replies)/dt)
		if n > 0 {
			fmt.Fprintf(&b, "  rtt avg %s", fmtNs(float64(cur.rttSum-prev.rttSum)/float64(n)))
		}
		fmt.Fprintf(&b, "  timeouts %d", cur.timeouts)
	case Pong:
		rate("pong", cur.tx-prev.tx, cur.txBytes-prev.txBytes)
		fmt.Fprintf(&b, "  reflected %d  dropped %d", cur.tx, cur.pongDropped)
	}
	return b.String()
}

// fmtNs formats nanoseconds in µs below a millisecond, in ms above.
func fmtNs(ns float64) string {
	if ns < 1e6 {
		return fmt.Sprintf("%.1fµs", ns/1e3)
	}
	return fmt.Sprintf("%.3fms", ns/1e6)
}

func (r *Runner) summary(err error) *Summary {
	cur := r.totals()
	s := &Summary{
		Function:   r.cfg.Function,
		Queues:     len(r.queues),
		Reconnects: r.reconnects,
	}
	if f := r.cfg.Function; f.sends() || f == Ping {
		s.Size, s.Flows = r.cfg.Size, r.cfg.Flows
	}
	if !r.start.IsZero() {
		s.Seconds = r.end.Sub(r.start).Seconds()
	}
	traffic := func(pkts, bytes uint64, secs float64) *Traffic {
		t := &Traffic{Packets: pkts, Bytes: bytes, Seconds: secs}
		if secs > 0 {
			t.Mpps = float64(pkts) / secs / 1e6
			t.Gbps = float64(bytes) * 8 / secs / 1e9
		}
		return t
	}
	var first, last int64
	for _, q := range r.queues {
		if f := q.rxFirst.Load(); f != 0 && (first == 0 || f < first) {
			first = f
		}
		last = max(last, q.rxLast.Load())
	}
	f := r.cfg.Function
	rxSeconds := float64(last-first) / 1e9
	switch {
	case f.sends():
		s.TX = traffic(cur.tx, cur.txBytes, s.Seconds)
	case f == Pong: // pong sends as it receives
		s.TX = traffic(cur.tx, cur.txBytes, rxSeconds)
	}
	if f.receives() || f == Pong {
		s.RX = traffic(cur.rx, cur.rxBytes, rxSeconds)
	}
	if f.receives() && r.cfg.Check {
		c := &Check{Lost: cur.lost, Late: cur.late, Dup: cur.dup, Unsequenced: cur.unsequenced, Foreign: cur.foreign}
		for _, q := range r.queues {
			c.Flows = MergeFlows(c.Flows, q.checker.Flows())
		}
		slices.SortFunc(c.Flows, func(a, b FlowStats) int { return int(a.Stream) - int(b.Stream) })
		if len(c.Flows) > maxFlowReport {
			c.Flows = nil
		}
		s.Check = c
	}
	if f == Pong {
		s.PongDropped = cur.pongDropped
	}
	if f == Ping {
		var h Histogram
		for _, q := range r.queues {
			h.Merge(&q.hist)
		}
		s.RTT = &RTT{
			Sent: cur.sent, Replies: cur.replies, Timeouts: cur.timeouts, Strays: cur.strays,
			Min: h.Min(), Mean: h.Mean(), Max: h.Max(),
			P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), P999: h.Quantile(0.999),
		}
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "pktgen %s: %d queue(s)", s.Function, s.Queues)
	if f := s.Function; f.sends() || f == Ping {
		fmt.Fprintf(w, ", %d-byte frames, %d flow(s)", s.Size, s.Flows)
	}
	fmt.Fprintf(w, ", %.3f s", s.Seconds)
	if s.Reconnects > 0 {
		fmt.Fprintf(w, ", %d reconnect(s)", s.Reconnects)
	}
	fmt.Fprintln(w)
	for _, d := range []struct {
		name string
		t    *Traffic
	}{{"tx", s.TX}, {"rx", s.RX}} {
		if d.t != nil {
			fmt.Fprintf(w, "  %s  %d packets  %d bytes  %.3f s  %.3f Mpps  %.3f Gb/s\n", d.name, d.t.Packets, d.t.Bytes, d.t.Seconds, d.t.Mpps, d.t.Gbps)
		}
	}
	if c := s.Check; c != nil {
		fmt.Fprintf(w, "  check  lost %d  out of order %d  duplicates %d  unsequenced %d  foreign %d\n",
			c.Lost, c.Late, c.Dup, c.Unsequenced, c.Foreign)
		if c.Unsequenced > 0 && len(c.Flows) == 0 {
			fmt.Fprintln(w, "    (nothing to check: the sender numbers its packets only with -check)")
		}
		worst := slices.Clone(c.Flows)
		slices.SortStableFunc(worst, func(a, b FlowStats) int { return cmp.Compare(b.Lost+b.Late+b.Dup, a.Lost+a.Late+a.Dup) })
		for i, f := range worst {
			if i == 5 || f.Lost+f.Late+f.Dup == 0 {
				break
			}
			fmt.Fprintf(w, "    stream %d: received %d  lost %d  out of order %d  duplicates %d\n", f.Stream, f.Received, f.Lost, f.Late, f.Dup)
		}
	}
	if s.PongDropped > 0 {
		fmt.Fprintf(w, "  pong dropped %d (no room to send back)\n", s.PongDropped)
	}
	if t := s.RTT; t != nil {
		fmt.Fprintf(w, "  ping  %d requests  %d replies  %d timeouts  %d strays\n", t.Sent, t.Replies, t.Timeouts, t.Strays)
		if t.Replies > 0 {
			fmt.Fprintf(w, "  rtt  min %s  p50 %s  p90 %s  p99 %s  p999 %s  max %s  mean %s\n",
				fmtNs(float64(t.Min)), fmtNs(float64(t.P50)), fmtNs(float64(t.P90)), fmtNs(float64(t.P99)),
				fmtNs(float64(t.P999)), fmtNs(float64(t.Max)), fmtNs(t.Mean))
		}
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Error)
	}
}
