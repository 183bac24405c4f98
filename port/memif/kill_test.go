package memif

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestKilledClientHelper is the client process of TestKilledClient: it
// connects and sends until it is killed. It does nothing in a normal run.
func TestKilledClientHelper(t *testing.T) {
	path := os.Getenv("MEMIF_TEST_HELPER_SOCKET")
	if path == "" {
		t.Skip("helper process of TestKilledClient")
	}
	id, _ := strconv.Atoi(os.Getenv("MEMIF_TEST_HELPER_ID"))
	c, err := Dial(path, ClientConfig{ID: uint32(id), Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	c.Prefill(0, ethFrame(7, 1000))
	for {
		if n, _ := c.Replay(0, 64); n == 0 {
			time.Sleep(10 * time.Microsecond)
		}
		c.Discard(0)
	}
}

// TestKilledClient kills a client process with SIGKILL in the middle of
// traffic: the link goes down cleanly, other ports keep forwarding, and a
// new client takes the port over.
func TestKilledClient(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	tb := newTestbed(t)
	p, pid := tb.port(PortConfig{ID: 1})
	_, qid := tb.port(PortConfig{ID: 2})
	tb.x.Pair(pid, qid)
	sink := tb.dial(ClientConfig{ID: 2})
	good := startGoodTraffic(t, tb)

	for round := 1; round <= 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledClientHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MEMIF_TEST_HELPER_SOCKET="+tb.path, "MEMIF_TEST_HELPER_ID=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the helper connected", func() bool { return p.Status().Connects == uint64(round) })
		var got int
		waitFor(t, 10*time.Second, "traffic from the helper", func() bool {
			n, _, _ := sink.Discard(0)
			got += n
			return got > 1000
		})
		cmd.Process.Kill()
		cmd.Wait()
		waitFor(t, 5*time.Second, "the link down", func() bool { return !p.Status().Connected })
		time.Sleep(10 * time.Millisecond)
		sink.Discard(0) // what is left from this helper
		if st := p.Status(); st.Disconnects != uint64(round) || st.LastDisconnect != "connection closed" || len(st.Rejects) != 0 {
			t.Fatalf("round %d: status %+v", round, st)
		}
		t.Logf("round %d: %d frames from the helper before SIGKILL", round, got)
	}
	c := tb.dial(ClientConfig{ID: 1})
	transfer(t, c, sink, 0, sizes60to9000())
	good.check(t)
}
