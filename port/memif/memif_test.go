package memif

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// testbed is a switch with an xconnect logic and a memif server.
type testbed struct {
	t    testing.TB
	sw   *fabric.Switch
	x    *xconnect.XConnect
	srv  *Server
	path string
}

func newTestbed(t testing.TB) *testbed {
	t.Helper()
	x := xconnect.New()
	sw, err := fabric.New("memif-test", fabric.Options{Logic: x, Batch: 256})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := Listen(path, ServerOptions{Name: "test-switch"})
	if err != nil {
		t.Fatal(err)
	}
	tb := &testbed{t: t, sw: sw, x: x, srv: srv, path: path}
	t.Cleanup(func() {
		if err := sw.Close(); err != nil {
			t.Errorf("close switch: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return tb
}

// port creates a memif port and attaches it.
func (tb *testbed) port(cfg PortConfig) (*Port, logic.PortID) {
	tb.t.Helper()
	p, err := tb.srv.NewPort(cfg)
	if err != nil {
		tb.t.Fatal(err)
	}
	id, err := tb.sw.Attach(p, fabric.PortConfig{Name: fmt.Sprintf("memif%d", cfg.ID)})
	if err != nil {
		tb.t.Fatal(err)
	}
	return p, id
}

// pair creates two ports cross-connected to each other.
func (tb *testbed) pair(a, b PortConfig) (*Port, *Port) {
	pa, ida := tb.port(a)
	pb, idb := tb.port(b)
	if err := tb.x.Pair(ida, idb); err != nil {
		tb.t.Fatal(err)
	}
	return pa, pb
}

func (tb *testbed) dial(cfg ClientConfig) *Client {
	tb.t.Helper()
	c, err := Dial(tb.path, cfg)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// frame returns a test frame of n bytes, its content derived from seq.
func frame(seq, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seq*7 + i*13 + i>>8)
	}
	if n >= 4 {
		b[0], b[1], b[2], b[3] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	}
	return b
}

// transfer sends frames from src queue q and checks that dst receives them,
// in order and intact, on some queue.
func transfer(t *testing.T, src, dst *Client, q int, frames [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	var got [][]byte
	var rerr error
	var received atomic.Int64 // the sender keeps at most window frames in flight
	const window = 32
	recvDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(recvDone)
		bufs := make([][]byte, 64)
		for i := range bufs {
			bufs[i] = make([]byte, 16384)
		}
		sizes := make([]int, 64)
		// Fail after 10s without progress (the race detector and busy-polling
		// peers on two cores make some runs slow, not lossy).
		deadline := time.Now().Add(10 * time.Second)
		for len(got) < len(frames) && time.Now().Before(deadline) {
			for rq := 0; rq < dst.Queues(); rq++ {
				n, err := dst.Receive(rq, bufs, sizes)
				if err != nil {
					rerr = err
					return
				}
				for i := 0; i < n; i++ {
					got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
				}
				if n > 0 {
					received.Add(int64(n))
					deadline = time.Now().Add(10 * time.Second)
				}
			}
			if dst.Queues() == 1 {
				if _, err := dst.Wait(0, 20*time.Millisecond); err != nil {
					rerr = err
					return
				}
			} else {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	for i := 0; i < len(frames); {
		if int64(i)-received.Load() >= window {
			select {
			case <-recvDone:
				i = len(frames) // the receiver gave up: report below
			case <-time.After(50 * time.Microsecond):
			}
			continue
		}
		n, err := src.Send(q, frames[i:min(len(frames), i+window-int(int64(i)-received.Load()))])
		if err != nil {
			t.Fatal(err)
		}
		i += n
		if n == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	wg.Wait()
	if rerr != nil {
		t.Fatal(rerr)
	}
	for i := range got {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("frame %d: got %d bytes %x..., want %d bytes %x...", i, len(got[i]), head(got[i]), len(frames[i]), head(frames[i]))
		}
	}
	if len(got) != len(frames) {
		t.Fatalf("received %d frames of %d", len(got), len(frames))
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

func sizes60to9000() [][]byte {
	var frames [][]byte
	seq := 0
	for _, n := range []int{60, 64, 128, 1500, 1514, 2047, 2048, 2049, 4096, 4097, 9000, 60, 9000} {
		for k := 0; k < 5; k++ {
			frames = append(frames, frame(seq, n))
			seq++
		}
	}
	return frames
}

func TestForward(t *testing.T) {
	for _, mode := range []Mode{Interrupt, Poll} {
		for _, queues := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v/%dq", mode, queues), func(t *testing.T) {
				tb := newTestbed(t)
				pa, pb := tb.pair(PortConfig{ID: 1, Name: "a", Queues: queues, Mode: mode}, PortConfig{ID: 2, Name: "b", Queues: queues, Mode: mode})
				a := tb.dial(ClientConfig{ID: 1, Name: "client-a", Queues: queues, Mode: mode})
				b := tb.dial(ClientConfig{ID: 2, Name: "client-b", Queues: queues, Mode: mode, Log2RingSize: 8})
				if a.Queues() != queues || b.Queues() != queues {
					t.Fatalf("queues %d and %d, want %d", a.Queues(), b.Queues(), queues)
				}
				if a.PeerName() != "test-switch" || a.IfName() != "a" {
					t.Errorf("peer %q interface %q", a.PeerName(), a.IfName())
				}
				st := pa.Status()
				if !st.Connected || st.PeerName != "client-a" || st.IfName != "client-a" || st.Queues != queues || st.BufSize != 2048 || st.Log2RingSize != 10 {
					t.Errorf("status %+v", st)
				}
				if st := pb.Status(); st.Log2RingSize != 8 {
					t.Errorf("b log2 %d, want 8", st.Log2RingSize)
				}
				frames := sizes60to9000()
				for q := 0; q < queues; q++ {
					transfer(t, a, b, q, frames)
					transfer(t, b, a, q, frames)
				}
				// Many small frames, more than a ring holds.
				var many [][]byte
				for i := 0; i < 5000; i++ {
					many = append(many, frame(i, 60+i%200))
				}
				transfer(t, a, b, 0, many)
				stats, _ := tb.sw.PortStats(1)
				if stats.TotalDrops() != 0 {
					t.Errorf("drops at b: %v", stats.Drops)
				}
			})
		}
	}
}

// TestSecret checks the connection secret: the right one connects, a wrong
// or missing one is refused with DPDK's reason strings and counted.
func TestSecret(t *testing.T) {
	tb := newTestbed(t)
	p, _ := tb.port(PortConfig{ID: 7, Secret: "s3cret"})
	for _, tc := range []struct{ secret, reason string }{
		{"wrong", "Incorrect secret"},
		{"", "Secret required"},
		{"s3cret-but-longer", "Incorrect secret"},
	} {
		_, err := Dial(tb.path, ClientConfig{ID: 7, Secret: tc.secret})
		var re *RefusedError
		if !errors.As(err, &re) || re.Reason != tc.reason {
			t.Errorf("secret %q: got %v, want refused %q", tc.secret, err, tc.reason)
		}
		if err != nil && !bytes.Contains([]byte(err.Error()), []byte("memif: server refused: "+tc.reason)) {
			t.Errorf("error text %q", err)
		}
	}
	waitFor(t, time.Second, "the rejects counted", func() bool { return p.Status().Rejects[RejectSecret] == 3 })
	if st := p.Status(); st.Connected || st.LastReject != "Incorrect secret" {
		t.Errorf("status %+v", st)
	}
	c := tb.dial(ClientConfig{ID: 7, Secret: "s3cret"})
	waitFor(t, time.Second, "connected", func() bool { return p.Status().Connected })
	c.Close()
}

func TestRefusals(t *testing.T) {
	tb := newTestbed(t)
	p, _ := tb.port(PortConfig{ID: 1, Queues: 2, Log2RingSize: 9})
	if _, err := tb.srv.NewPort(PortConfig{ID: 1}); !errors.Is(err, ErrIDInUse) {
		t.Errorf("duplicate ID: %v", err)
	}
	_, err := Dial(tb.path, ClientConfig{ID: 99})
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != "ID not found" {
		t.Errorf("unknown ID: %v", err)
	}
	waitFor(t, time.Second, "the reject counted", func() bool { return tb.srv.Status().Rejects[RejectID] == 1 })
	c := tb.dial(ClientConfig{ID: 1, Queues: 8, Log2RingSize: 12})
	if c.Queues() != 2 || c.Log2RingSize() != 9 {
		t.Errorf("negotiated %d queues log2 %d, want 2 and 9", c.Queues(), c.Log2RingSize())
	}
	_, err = Dial(tb.path, ClientConfig{ID: 1})
	if !errors.As(err, &re) || re.Reason != "Already connected" {
		t.Errorf("second client: %v", err)
	}
	waitFor(t, time.Second, "the reject counted", func() bool { return p.Status().Rejects[RejectBusy] == 1 })
	if st := p.Status(); !st.Connected {
		t.Errorf("status %+v", st)
	}
}

// TestReconnect takes the link down by Close, by an abrupt end of the
// socket and by Server-side port close, and checks that traffic resumes.
func TestReconnect(t *testing.T) {
	tb := newTestbed(t)
	pa, pb := tb.pair(PortConfig{ID: 1}, PortConfig{ID: 2})
	b := tb.dial(ClientConfig{ID: 2})
	frames := sizes60to9000()
	for round, how := range []string{"close", "abort", "close", "abort"} {
		a := tb.dial(ClientConfig{ID: 1})
		transfer(t, a, b, 0, frames)
		transfer(t, b, a, 0, frames)
		if how == "close" {
			a.Close()
		} else {
			a.abort()
		}
		waitFor(t, 5*time.Second, "link down", func() bool { return !pa.Status().Connected })
		st := pa.Status()
		if st.Connects != uint64(round+1) || st.Disconnects != uint64(round+1) {
			t.Fatalf("round %d: %d connects %d disconnects", round, st.Connects, st.Disconnects)
		}
		want := "peer: Client closed"
		if how == "abort" {
			want = "connection closed"
		}
		if st.LastDisconnect != want {
			t.Errorf("round %d: last disconnect %q, want %q", round, st.LastDisconnect, want)
		}
		// While a is down, what b sends is dropped at the switch.
		if n, err := b.Send(0, frames[:3]); n != 3 || err != nil {
			t.Fatal(n, err)
		}
		waitFor(t, 5*time.Second, "drops", func() bool {
			s, _ := tb.sw.PortStats(0)
			return s.Drops[fabric.DropQueueFull] >= 3*uint64(round+1)
		})
		if a.Err() == nil && how == "close" {
			t.Error("closed client has no error")
		}
	}
	if len(pb.Status().Rejects) != 0 {
		t.Errorf("rejects %v", pb.Status().Rejects)
	}
}

// TestServerClose checks that closing the server disconnects the clients
// with a reason and leaves the ports down but usable by the fabric.
func TestServerClose(t *testing.T) {
	tb := newTestbed(t)
	p, _ := tb.pair(PortConfig{ID: 1}, PortConfig{ID: 2})
	a := tb.dial(ClientConfig{ID: 1})
	if err := tb.srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client not disconnected")
	}
	var de *DisconnectedError
	if !errors.As(a.Err(), &de) || de.Reason != "Server closed" {
		t.Errorf("client error %v", a.Err())
	}
	if _, err := a.Send(0, [][]byte{frame(0, 60)}); !errors.Is(err, ErrNotConnected) {
		t.Errorf("send after disconnect: %v", err)
	}
	if p.Status().Connected {
		t.Error("port still connected")
	}
	if _, err := Dial(tb.path, ClientConfig{ID: 1}); err == nil {
		t.Error("dial after server close succeeded")
	}
}

// TestPortClose detaches a connected port: the client learns why.
func TestPortClose(t *testing.T) {
	tb := newTestbed(t)
	_, id := tb.port(PortConfig{ID: 3})
	c := tb.dial(ClientConfig{ID: 3})
	if err := tb.sw.Detach(id); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	var de *DisconnectedError
	if !errors.As(c.Err(), &de) || de.Reason != "Port closed" {
		t.Errorf("client error %v", c.Err())
	}
	if _, err := Dial(tb.path, ClientConfig{ID: 3}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("ID not found")) {
		t.Errorf("dial closed port: %v", err)
	}
	// The ID is free again.
	p, err := tb.srv.NewPort(PortConfig{ID: 3})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	s1, err := Listen(path, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Listen(path, ServerOptions{})
	if err == nil || err.Error() != "memif socket "+path+" is in use by another listener" {
		t.Errorf("second listener: %v", err)
	}
	s1.Close()
	// A stale socket file: bound, never listened on.
	stale := filepath.Join(dir, "stale.sock")
	makeStaleSocket(t, stale)
	s2, err := Listen(stale, ServerOptions{})
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	s2.Close()
	// Abstract sockets.
	name := fmt.Sprintf("@mswitch-memif-test-%d", time.Now().UnixNano())
	s3, err := Listen(name, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := Listen(name, ServerOptions{}); err == nil {
		t.Error("second abstract listener succeeded")
	}
	p, _ := s3.NewPort(PortConfig{ID: 5})
	defer p.Close()
	c, err := Dial(name, ClientConfig{ID: 5})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Interrupt, Poll} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("%v: %v %v", m, got, err)
		}
	}
	if _, err := ParseMode("busy"); err == nil {
		t.Error("ParseMode(busy) succeeded")
	}
}

// TestIdleNoCPU checks that idle interrupt-mode ports sleep: the process
// uses (almost) no CPU while ten connected ports wait.
func TestIdleNoCPU(t *testing.T) {
	tb := newTestbed(t)
	for i := uint32(0); i < 10; i++ {
		tb.port(PortConfig{ID: i, Queues: 2})
		tb.dial(ClientConfig{ID: i, Queues: 2})
	}
	time.Sleep(50 * time.Millisecond)
	before := cpuTime(t)
	time.Sleep(500 * time.Millisecond)
	used := cpuTime(t) - before
	if used > 50*time.Millisecond {
		t.Errorf("idle ports used %v of CPU in 500ms", used)
	}
	t.Logf("idle: %v of CPU in 500ms, %d goroutines", used, runtime.NumGoroutine())
}
