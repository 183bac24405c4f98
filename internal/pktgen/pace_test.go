package pktgen

import (
	"testing"
	"time"
)

// TestPacerSimulated drives a pacer with a simulated clock whose sleeps
// overshoot, as real ones do, and checks the long-run rate.
func TestPacerSimulated(t *testing.T) {
	for _, rate := range []float64{10, 1000, 123_456, 5e6} {
		start := time.Unix(0, 0)
		now := start
		p := NewPacer(rate, 64, now)
		sent := 0
		for now.Sub(start) < 4*time.Second {
			if n := p.Take(64, now); n > 0 {
				sent += n
				now = now.Add(time.Microsecond) // the send
				continue
			}
			w := p.Wait(64, now)
			now = now.Add(w + 900*time.Microsecond) // a coarse sleep
		}
		want := rate * now.Sub(start).Seconds()
		if d := float64(sent) - want; d < -0.01*want-2 || d > 0.01*want+2 {
			t.Errorf("rate %g: sent %d in %v, want %.0f", rate, sent, now.Sub(start), want)
		}
	}
}

func TestPacerDepthBoundsBursts(t *testing.T) {
	now := time.Unix(0, 0)
	p := NewPacer(1e6, 100, now)
	now = now.Add(time.Second) // a long stall
	if n := p.Take(100_000, now); n != 50_000 {
		t.Errorf("after a stall, took %d, want the depth, 50 ms worth", n)
	}
	if n := p.Take(1000, now); n != 0 {
		t.Errorf("took %d more at once", n)
	}
	p.Return(30)
	if n := p.Take(1000, now); n != 30 {
		t.Errorf("took %d after returning 30", n)
	}
	p.Take(30, now)
	if w := p.Wait(10, now); w < 9*time.Microsecond || w > 11*time.Microsecond {
		t.Errorf("wait for 10 at 1 Mpps: %v", w)
	}
	if w := p.Wait(1000, now); w < 99*time.Microsecond || w > 101*time.Microsecond {
		t.Errorf("wait for 1000 at 1 Mpps: %v, want a batch (100) worth", w)
	}
	fast := NewPacer(1e6, 1000, now)
	fast.Take(1, now)
	if w := fast.Wait(1000, now); w < 199*time.Microsecond || w > 201*time.Microsecond {
		t.Errorf("wait for a big batch at 1 Mpps: %v, want 200 µs worth", w)
	}
	slow := NewPacer(10, 64, now)
	slow.Take(1, now)
	if w := slow.Wait(64, now); w < 99*time.Millisecond || w > 101*time.Millisecond {
		t.Errorf("wait at 10 pps: %v, want one packet's worth", w)
	}
}

// TestPacerReal paces a loop for one second of real time, sleeping as the
// tx loop does, and checks the rate within 3 %. The pacer is exact unless
// its sender stalls for longer than its depth (a batch or 50 ms of packets): a run
// with such a stall (a loaded machine) is retried, at most three times.
func TestPacerReal(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds")
	}
	for _, rate := range []float64{1000, 200_000} {
		depth := time.Duration(max(64/rate, 0.050) * 1e9) // as NewPacer sets it
		for try := 1; ; try++ {
			got, stall := paceFor(rate, time.Second)
			t.Logf("rate %g: %.0f/s (%+.2f %%), longest stall %v", rate, got, 100*(got-rate)/rate, stall)
			if stall > depth && try < 3 {
				continue
			}
			if got < rate*0.97 || got > rate*1.03 {
				t.Errorf("rate %g: paced %.0f/s", rate, got)
			}
			break
		}
	}
}

// paceFor runs a paced loop for d and returns the rate it reached and its
// longest time between two iterations.
func paceFor(rate float64, d time.Duration) (float64, time.Duration) {
	s := &session{}
	start := time.Now()
	p := NewPacer(rate, 64, start)
	sent := 0
	var stall time.Duration
	last := start
	for time.Since(start) < d {
		now := time.Now()
		stall = max(stall, now.Sub(last))
		last = now
		if n := p.Take(64, now); n > 0 {
			sent += n
			continue
		}
		s.sleep(p.Wait(64, now))
	}
	return float64(sent) / time.Since(start).Seconds(), stall
}
