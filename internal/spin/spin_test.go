package spin

import (
	"testing"
	"time"
)

func TestBackoffEscalates(t *testing.T) {
	var b Backoff
	for i := 0; i < yield; i++ {
		b.Wait()
	}
	start := time.Now()
	b.Sleep = 100 * time.Microsecond
	b.Wait() // now it sleeps
	if d := time.Since(start); d < 100*time.Microsecond {
		t.Fatalf("wait %d slept %v, want >= 100µs", yield+1, d)
	}
	b.Reset()
	if b.n != 0 {
		t.Fatal("Reset did not reset")
	}
}

func TestNoSleepNeverSleeps(t *testing.T) {
	b := Backoff{NoSleep: true, Sleep: time.Second}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		b.Wait()
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("1000 waits took %v", d)
	}
}

func TestWaitAllocs(t *testing.T) {
	for _, b := range []Backoff{{}, {Awake: time.Millisecond}} {
		if n := testing.AllocsPerRun(200, func() { b.Wait() }); n != 0 {
			t.Fatalf("Wait of %+v allocates %v times", b, n)
		}
	}
}

// TestAwake yields for Awake, however many waits that is, and sleeps after.
func TestAwake(t *testing.T) {
	b := Backoff{Awake: 30 * time.Millisecond, Sleep: time.Microsecond}
	start := time.Now()
	waits := 0
	for !b.Wait() {
		waits++
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("slept %v after the first wait (%d waits), want 30ms or more", d, waits)
	}
	if !b.Wait() {
		t.Fatal("yielded again after sleeping")
	}
	b.Reset()
	if b.Wait() {
		t.Fatal("slept right after Reset")
	}
}
