package busypoll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestPollWindow(t *testing.T) {
	var g Group
	m := g.Join(func() bool { return false }, func() {}, time.Millisecond)
	defer m.Leave()
	if m.Poll() {
		t.Fatal("a member with no packet yet polls")
	}
	m.Busy()
	if !m.Poll() {
		t.Fatal("a member does not poll right after a packet")
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Poll() {
		if time.Now().After(deadline) {
			t.Fatal("still polling 5 s after the last packet, with a 1 ms window")
		}
	}
}

func TestPollWakesSleepers(t *testing.T) {
	var g Group
	var pending, woken atomic.Bool
	a := g.Join(func() bool { return false }, func() { t.Error("woke a member that is awake") }, time.Second)
	b := g.Join(pending.Load, func() { woken.Store(true) }, 0)
	a.Busy()
	b.Sleeping(true)
	a.Poll()
	if woken.Load() {
		t.Fatal("woke a sleeper with nothing pending")
	}
	pending.Store(true)
	a.Poll()
	if !woken.Load() {
		t.Fatal("did not wake a sleeper with packets pending")
	}
	woken.Store(false)
	a.Poll()
	if woken.Load() {
		t.Fatal("woke a sleeper twice before it slept again")
	}
	b.Leave()
	b.Sleeping(true)
	a.Poll()
	if woken.Load() {
		t.Fatal("woke a member that left")
	}
	a.Leave()
	if p := g.members.Load(); p == nil || len(*p) != 0 {
		t.Fatalf("members after both left: %v", p)
	}
}

func TestPollAllocs(t *testing.T) {
	var g Group
	m := g.Join(func() bool { return true }, func() {}, time.Hour)
	o := g.Join(func() bool { return true }, func() {}, 0)
	defer m.Leave()
	defer o.Leave()
	m.Busy()
	if n := testing.AllocsPerRun(100, func() {
		o.Sleeping(true)
		m.Busy()
		m.Poll()
	}); n != 0 {
		t.Fatalf("Busy and Poll allocate %v times", n)
	}
}
