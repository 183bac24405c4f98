package daemon_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/daemon"
)

// Poll-mode memif ports are drained by the daemon's poll thread: traffic
// flows, GET /v1/poll-threads lists their queues and counts the packets,
// and a deleted port leaves the thread.
func TestPollThreads(t *testing.T) {
	dir := t.TempDir()
	td := start(t, dir)
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "sw0"}))
	for i, n := range []string{"m1", "m2"} {
		must[control.PortInfo](t)(c.AddPort(cx, "sw0", control.PortSpec{Name: n, Type: control.TypeMemif,
			Memif: &control.MemifSpec{ID: uint32(i + 1), Secret: "pw", Mode: "poll"}}))
	}
	must[control.PortInfo](t)(c.AddPort(cx, "sw0", control.PortSpec{Name: "m3", Type: control.TypeMemif,
		Memif: &control.MemifSpec{ID: 3, Secret: "pw"}}))
	ts := must[[]control.PollThread](t)(c.PollThreads(cx))
	if len(ts) != 1 || !slices.Equal(ts[0].Queues, []string{"sw0/m1/0", "sw0/m2/0"}) || ts[0].CPU != -1 {
		t.Fatalf("poll threads %+v: want one, unpinned, with sw0/m1/0 and sw0/m2/0 (m3 is in interrupt mode)", ts)
	}

	sock := filepath.Join(dir, "memif.sock")
	c1, c2 := dial(t, sock, 1), dial(t, sock, 2)
	var fwd, back [][]byte
	for i := range 10 {
		fwd = append(fwd, udpFrame(macA, macB, i))
		back = append(back, udpFrame(macB, macA, i))
	}
	if n, err := c1.Send(0, fwd); err != nil || n != len(fwd) {
		t.Fatalf("sent %d: %v", n, err)
	}
	receive(t, c2, 10)
	if n, err := c2.Send(0, back); err != nil || n != len(back) {
		t.Fatalf("sent %d: %v", n, err)
	}
	receive(t, c1, 10)
	// The thread counts a batch after delivering it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ts = must[[]control.PollThread](t)(c.PollThreads(cx))
		if ts[0].Packets == 20 && ts[0].Busy > 0 && ts[0].Passes >= ts[0].Busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poll thread counters %+v: want 20 packets", ts[0])
		}
	}

	check(t, c.DeletePort(cx, "sw0", "m1"))
	ts = must[[]control.PollThread](t)(c.PollThreads(cx))
	if !slices.Equal(ts[0].Queues, []string{"sw0/m2/0"}) {
		t.Fatalf("after deleting m1: %+v", ts)
	}
}

// With PollNoSleep, a poll thread whose queue is up but idle never sleeps;
// by default it sleeps after 16 ms without packets.
func TestPollNoSleep(t *testing.T) {
	for _, noSleep := range []bool{false, true} {
		dir := t.TempDir()
		td := startWith(t, dir, daemon.Config{PollNoSleep: noSleep})
		c, cx := td.c, ctx(t)
		must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "sw0"}))
		must[control.PortInfo](t)(c.AddPort(cx, "sw0", control.PortSpec{Name: "m1", Type: control.TypeMemif,
			Memif: &control.MemifSpec{ID: 1, Secret: "pw", Mode: "poll"}}))
		dial(t, filepath.Join(dir, "memif.sock"), 1)
		// The thread slept while the port was down: count from when it
		// is up.
		time.Sleep(50 * time.Millisecond)
		before := must[[]control.PollThread](t)(c.PollThreads(cx))
		// Well past 16 ms, and more than one pass: a loaded machine may
		// not have run the thread at all for a while.
		var ts []control.PollThread
		for start := time.Now(); ; {
			time.Sleep(50 * time.Millisecond)
			ts = must[[]control.PollThread](t)(c.PollThreads(ctx(t)))
			if len(ts) != 1 || ts[0].Sleeps != before[0].Sleeps ||
				time.Since(start) > 200*time.Millisecond && ts[0].Passes-before[0].Passes > 10 || time.Since(start) > 10*time.Second {
				break
			}
		}
		if len(ts) != 1 || (ts[0].Sleeps == before[0].Sleeps) != noSleep {
			t.Errorf("PollNoSleep %v: poll threads %+v, before %+v", noSleep, ts, before)
		}
		td.stop()
	}
}
