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
	var b Backoff
	if n := testing.AllocsPerRun(200, b.Wait); n != 0 {
		t.Fatalf("Wait allocates %v times", n)
	}
}
