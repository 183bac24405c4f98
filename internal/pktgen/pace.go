package pktgen

import "time"

// A Pacer is a token bucket that holds a sender to a rate in packets per
// second. Tokens accrue with the time elapsed, so the long-run rate is exact
// whatever the granularity of the sleeps between sends (about a millisecond
// for time.Sleep on a busy Linux machine); the bucket holds at most a depth
// of tokens, so a sender that stalled (a full ring, a reconnect) catches up
// only that many packets at once.
type Pacer struct {
	rate   float64 // tokens per nanosecond
	depth  float64 // most tokens held: a batch, or 50 ms of packets
	chunk  float64 // tokens Wait waits for: 200 µs of packets, 1..batch
	tokens float64
	last   time.Time
}

// NewPacer returns a pacer for rate packets per second, for a sender of
// batches of up to batch packets, starting with one token at now.
func NewPacer(rate float64, batch int, now time.Time) *Pacer {
	b := float64(max(batch, 1))
	return &Pacer{
		rate:   rate / 1e9,
		depth:  max(b, rate*0.050),
		chunk:  min(max(rate*200e-6, 1), b),
		tokens: 1,
		last:   now,
	}
}

func (p *Pacer) refill(now time.Time) {
	if dt := now.Sub(p.last); dt > 0 {
		p.tokens = min(p.depth, p.tokens+float64(dt)*p.rate)
		p.last = now
	}
}

// Take returns how many packets, at most want, may be sent at time now,
// and spends their tokens. Give back those not sent with Return.
func (p *Pacer) Take(want int, now time.Time) int {
	p.refill(now)
	n := min(want, int(p.tokens))
	p.tokens -= float64(n)
	return n
}

// Return gives back n tokens taken but not used.
func (p *Pacer) Return(n int) { p.tokens += float64(n) }

// Wait returns how long to wait from now until the next few packets (at
// most want) may be sent: a few, not a whole batch, so that slow rates are
// not sent in bursts.
func (p *Pacer) Wait(want int, now time.Time) time.Duration {
	p.refill(now)
	need := min(float64(want), p.chunk) - p.tokens
	if need <= 0 {
		return 0
	}
	return time.Duration(need/p.rate) + 1
}
