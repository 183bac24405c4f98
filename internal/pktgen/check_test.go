package pktgen

import (
	"math/rand/v2"
	"testing"
)

func TestChecker(t *testing.T) {
	for _, c := range []struct {
		name                  string
		seqs                  []uint32
		lost, late, dup, recv uint64
	}{
		{"in order", []uint32{0, 1, 2, 3}, 0, 0, 0, 4},
		{"gap", []uint32{0, 1, 4, 5}, 2, 0, 0, 4},
		{"late fills gap", []uint32{0, 2, 1, 3}, 0, 1, 0, 4},
		{"duplicate", []uint32{0, 1, 1, 2}, 0, 0, 1, 4},
		{"duplicate of late", []uint32{0, 2, 1, 1}, 0, 1, 1, 4},
		{"starts late", []uint32{10, 11}, 10, 0, 0, 2},
		{"wraps", []uint32{1<<32 - 2, 1<<32 - 1, 0, 1}, 1<<32 - 2, 0, 0, 4},
		{"big gap then late", []uint32{0, 1000, 999, 5}, 997, 2, 0, 4},
		{"old duplicate", []uint32{0, 1, 200, 1}, 197, 1, 0, 4}, // beyond the window: counted as late
	} {
		var ch Checker
		for _, s := range c.seqs {
			ch.Add(3, s)
		}
		f := ch.Flows()
		if len(f) != 1 || f[0].Stream != 3 {
			t.Fatalf("%s: flows %+v", c.name, f)
		}
		got := f[0]
		if got.Lost != c.lost || got.Late != c.late || got.Dup != c.dup || got.Received != c.recv {
			t.Errorf("%s: %+v, want lost %d late %d dup %d received %d", c.name, got, c.lost, c.late, c.dup, c.recv)
		}
		if l, o, d := ch.Totals(); l != got.Lost || o != got.Late || d != got.Dup {
			t.Errorf("%s: totals %d %d %d disagree with %+v", c.name, l, o, d, got)
		}
	}
}

// TestCheckerShuffled sends several streams with random losses, local
// reordering and duplicates, and compares the counters with the truth.
func TestCheckerShuffled(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const streams, perStream = 5, 20_000
	var ch Checker
	var wantLost, wantLate, wantDup [streams]uint64
	for s := 0; s < streams; s++ {
		var seq []uint32
		for i := 0; i < perStream; i++ {
			if rng.IntN(100) == 0 {
				wantLost[s]++
				continue
			}
			seq = append(seq, uint32(i))
		}
		// Swap neighbours now and then: the later one arrives first.
		for i := 0; i+1 < len(seq); i++ {
			if rng.IntN(50) == 0 {
				seq[i], seq[i+1] = seq[i+1], seq[i]
				wantLate[s]++
				i++
			}
		}
		// Duplicate a packet now and then, right after itself.
		var out []uint32
		for _, v := range seq {
			out = append(out, v)
			if rng.IntN(200) == 0 {
				out = append(out, v)
				wantDup[s]++
			}
		}
		// The last packet must not be lost, or the checker cannot know.
		if out[len(out)-1] != perStream-1 {
			out = append(out, perStream-1)
			wantLost[s]--
		}
		for _, v := range out {
			ch.Add(uint16(s*100), v)
		}
	}
	for _, f := range ch.Flows() {
		s := f.Stream / 100
		if f.Lost != wantLost[s] || f.Late != wantLate[s] || f.Dup != wantDup[s] {
			t.Errorf("stream %d: lost %d late %d dup %d, want %d %d %d", f.Stream, f.Lost, f.Late, f.Dup, wantLost[s], wantLate[s], wantDup[s])
		}
	}
}

func TestMergeFlows(t *testing.T) {
	a := []FlowStats{{Stream: 1, Received: 5, Lost: 1}, {Stream: 2, Received: 3}}
	b := []FlowStats{{Stream: 2, Received: 4, Dup: 2}, {Stream: 7, Received: 1, Late: 1}}
	m := MergeFlows(a, b)
	want := []FlowStats{{Stream: 1, Received: 5, Lost: 1}, {Stream: 2, Received: 7, Dup: 2}, {Stream: 7, Received: 1, Late: 1}}
	if len(m) != len(want) {
		t.Fatalf("merged %+v", m)
	}
	for i := range want {
		if m[i] != want[i] {
			t.Errorf("merged[%d] = %+v, want %+v", i, m[i], want[i])
		}
	}
}
