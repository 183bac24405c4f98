package coalesce

import (
	"testing"
	"time"
)

// TestHold walks a queue through a stream: a packet after an empty poll,
// a full batch and a full slot array go at once; a small batch in a stream
// is held back once.
func TestHold(t *testing.T) {
	m := New(time.Microsecond)
	if !m.Enabled() {
		t.Fatal("New(1µs) is not enabled")
	}
	steps := []struct {
		n, want int
		hold    bool
		why     string
	}{
		{0, 64, false, "empty"},
		{1, 64, false, "a packet after an empty poll"},
		{2, 64, true, "two packets in a stream"},
		{3, 64, false, "after the pause"},
		{3, 64, true, "three more in the stream"},
		{3, 64, false, "held back once only"},
		{Batch, 64, false, "a full batch"},
		{8, 8, false, "as many as the caller asked for"},
		{5, 64, true, "a small batch again"},
		{5, 64, false, "after the pause"},
		{2, 64, false, "a GSO packet and an ACK: BatchBytes"},
		{0, 64, false, "empty after the pause"},
		{2, 64, false, "packets after an empty poll"},
	}
	for _, s := range steps {
		bytes := s.n * 60
		if s.why == "a GSO packet and an ACK: BatchBytes" {
			bytes = 65536 + 60
		}
		if got := m.Hold(s.n, bytes, s.want); got != s.hold {
			t.Fatalf("%s: Hold(%d, %d, %d) = %v, want %v", s.why, s.n, bytes, s.want, got, s.hold)
		}
		if m.Holding() != s.hold {
			t.Fatalf("%s: Holding = %v, want %v", s.why, m.Holding(), s.hold)
		}
	}
	for _, pause := range []time.Duration{0, -1} {
		var m Moderator = New(pause)
		for _, n := range []int{1, 2, 3} {
			if m.Enabled() || m.Hold(n, n*60, 64) || m.Holding() {
				t.Fatalf("pause %v: held %d packets", pause, n)
			}
		}
	}
}

func TestPause(t *testing.T) {
	const pause = 300 * time.Microsecond
	m := New(pause)
	start := time.Now()
	m.Pause()
	if d := time.Since(start); d < pause {
		t.Errorf("Pause took %v, want %v or more", d, pause)
	}
	m = New(time.Microsecond)
	if a := testing.AllocsPerRun(100, func() {
		m.Hold(1, 60, 64)
		if m.Hold(1, 60, 64) {
			m.Pause()
		}
		m.Hold(0, 0, 64)
	}); a != 0 {
		t.Errorf("%.1f allocations per pause, want 0", a)
	}
}
