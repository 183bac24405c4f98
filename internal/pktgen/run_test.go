package pktgen

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/frame"
)

// link is one direction of a fake memif connection: a bounded queue of
// frames per queue.
type link struct {
	mu     sync.Mutex
	frames [][][]byte
	wake   []chan struct{}
	room   int
	// drop, if set, is asked about every frame sent; true loses it.
	drop func(b []byte) bool
}

func newLink(nq, room int) *link {
	l := &link{frames: make([][][]byte, nq), wake: make([]chan struct{}, nq), room: room}
	for i := range l.wake {
		l.wake[i] = make(chan struct{}, 1)
	}
	return l
}

func (l *link) put(q int, frames [][]byte) int {
	l.mu.Lock()
	n := min(len(frames), l.room-len(l.frames[q]))
	for _, f := range frames[:n] {
		if l.drop == nil || !l.drop(f) {
			l.frames[q] = append(l.frames[q], bytes.Clone(f))
		}
	}
	l.mu.Unlock()
	if n > 0 {
		select {
		case l.wake[q] <- struct{}{}:
		default:
		}
	}
	return n
}

// fakeConn is one end of a pair of connected fake clients.
type fakeConn struct {
	out, in  *link
	nq       int
	template [][]byte
	done     chan struct{}
	once     sync.Once
}

var errClosed = errors.New("fake connection closed")

func pair(nq, room int) (a, b *fakeConn) {
	ab, ba := newLink(nq, room), newLink(nq, room)
	a = &fakeConn{out: ab, in: ba, nq: nq, template: make([][]byte, nq), done: make(chan struct{})}
	b = &fakeConn{out: ba, in: ab, nq: nq, template: make([][]byte, nq), done: make(chan struct{})}
	return a, b
}

func (c *fakeConn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *fakeConn) Queues() int  { return c.nq }
func (c *fakeConn) BufSize() int { return 2048 }
func (c *fakeConn) Send(q int, frames [][]byte) (int, error) {
	if c.closed() {
		return 0, errClosed
	}
	return c.out.put(q, frames), nil
}
func (c *fakeConn) Receive(q int, bufs [][]byte, sizes []int) (int, error) {
	if c.closed() {
		return 0, errClosed
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	n := min(len(bufs), len(c.in.frames[q]))
	for i := 0; i < n; i++ {
		copy(bufs[i], c.in.frames[q][i]) // truncated, as memif does
		sizes[i] = len(c.in.frames[q][i])
	}
	c.in.frames[q] = c.in.frames[q][n:]
	return n, nil
}
func (c *fakeConn) Wait(q int, timeout time.Duration) (bool, error) {
	c.in.mu.Lock()
	ready := len(c.in.frames[q]) > 0
	c.in.mu.Unlock()
	if ready {
		return true, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.in.wake[q]:
		return true, nil
	case <-t.C:
		return false, nil
	case <-c.done:
		return false, errClosed
	}
}
func (c *fakeConn) Prefill(q int, frame []byte) error {
	c.template[q] = bytes.Clone(frame)
	return nil
}
func (c *fakeConn) Replay(q int, n int) (int, error) {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = c.template[q]
	}
	return c.Send(q, frames)
}
func (c *fakeConn) Discard(q int) (int, uint64, error) {
	if c.closed() {
		return 0, 0, errClosed
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	var bytes uint64
	for _, f := range c.in.frames[q] {
		bytes += uint64(len(f))
	}
	n := len(c.in.frames[q])
	c.in.frames[q] = nil
	return n, bytes, nil
}
func (c *fakeConn) Done() <-chan struct{} { return c.done }
func (c *fakeConn) Err() error {
	if c.closed() {
		return errClosed
	}
	return nil
}
func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func baseConfig(f Function) Config {
	return Config{
		Function: f,
		Addrs:    testAddrs(),
		Duration: 10 * time.Second, // a bound; the tests stop on counts
	}
}

// runBoth runs two configs against the two ends of a fake pair and returns
// their summaries.
func runBoth(t *testing.T, a, b Config, nq, room int, tweak func(ab, ba *link)) (sa, sb *Summary) {
	t.Helper()
	ca, cb := pair(nq, room)
	if tweak != nil {
		tweak(ca.out, cb.out)
	}
	var wg sync.WaitGroup
	var ea, eb error
	wg.Add(2)
	go func() {
		defer wg.Done()
		sa, ea = Run(context.Background(), a, func() (Conn, error) { return ca, nil })
	}()
	go func() {
		defer wg.Done()
		sb, eb = Run(context.Background(), b, func() (Conn, error) { return cb, nil })
	}()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("errors: %v, %v", ea, eb)
	}
	return sa, sb
}

func TestTxRx(t *testing.T) {
	for _, c := range []struct {
		name  string
		flows int
		check bool
		size  int
		nq    int
	}{
		{"replay", 1, false, 60, 1},
		{"replay 2 queues", 1, false, 60, 2},
		{"flows", 7, false, 128, 2},
		{"check", 7, true, 60, 2},
		{"check 1 flow 3 queues", 1, true, 60, 3},
		{"check rewritten frames", 40_000, true, 1500, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 30_000
			tx, rx := baseConfig(TX), baseConfig(RX)
			tx.Count, rx.Count = n, n
			tx.Flows, tx.Size, tx.Check, rx.Check = c.flows, c.size, c.check, c.check
			// Every frame on the wire has a good checksum and the
			// headers of its stream's flow.
			var bad atomic.Int64
			var mu sync.Mutex
			macs := map[uint64]bool{}
			inspect := func(ab, _ *link) {
				ab.drop = func(b []byte) bool {
					p, ok := Parse(b)
					flow := uint64(p.Stream) % uint64(c.flows)
					if !ok || Checksum(b[14:34]) != 0 || frame.Src(b) != 0x0200000000fe+flow {
						bad.Add(1)
					}
					mu.Lock()
					macs[frame.Src(b)] = true
					mu.Unlock()
					return false
				}
			}
			st, sr := runBoth(t, tx, rx, c.nq, 512, inspect)
			if bad.Load() != 0 || len(macs) != min(c.flows, n) {
				t.Errorf("%d bad frames, %d source MACs", bad.Load(), len(macs))
			}
			if st.TX.Packets != n || st.TX.Bytes != n*uint64(c.size) {
				t.Errorf("sent %d packets, %d bytes", st.TX.Packets, st.TX.Bytes)
			}
			if sr.RX.Packets != n || sr.RX.Bytes != n*uint64(c.size) {
				t.Errorf("received %d packets, %d bytes", sr.RX.Packets, sr.RX.Bytes)
			}
			if c.check {
				ch := sr.Check
				if ch.Lost+ch.Late+ch.Dup+ch.Unsequenced+ch.Foreign != 0 {
					t.Errorf("check: %+v", *ch)
				}
				streams := max(c.flows, c.nq)
				if streams <= maxFlowReport && len(ch.Flows) != streams {
					t.Errorf("%d streams reported, want %d", len(ch.Flows), streams)
				}
			}
		})
	}
}

func TestCheckCountsLoss(t *testing.T) {
	const n = 10_000
	tx, rx := baseConfig(TX), baseConfig(RX)
	tx.Count, tx.Flows, tx.Check, rx.Check = n, 4, true, true
	rx.Duration = 2 * time.Second // it will not see n packets
	var i atomic.Int64
	_, sr := runBoth(t, tx, rx, 1, 256, func(ab, _ *link) {
		ab.drop = func([]byte) bool { return i.Add(1)%10 == 5 }
	})
	if got := sr.Check.Lost; got != n/10 {
		t.Errorf("lost %d, want %d", got, n/10)
	}
	if sr.RX.Packets != n-n/10 {
		t.Errorf("received %d", sr.RX.Packets)
	}
}

func TestPingPong(t *testing.T) {
	for _, window := range []int{1, 8} {
		ping, pong := baseConfig(Ping), baseConfig(Pong)
		ping.Count, ping.Window = 2000, window
		pong.Count = 2000
		pong.Addrs.SrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
		sp, so := runBoth(t, ping, pong, 1, 256, nil)
		r := sp.RTT
		if r.Sent != 2000 || r.Replies != 2000 || r.Timeouts != 0 || r.Strays != 0 {
			t.Errorf("window %d: %+v", window, *r)
		}
		if !(0 < r.Min && r.Min <= r.P50 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.Max) {
			t.Errorf("window %d: percentiles out of order: %+v", window, *r)
		}
		if r.P50 > int64(50*time.Millisecond) {
			t.Errorf("window %d: p50 %v through a fake link", window, time.Duration(r.P50))
		}
		if so.TX.Packets != 2000 || so.RX.Packets != 2000 {
			t.Errorf("pong reflected %d of %d", so.TX.Packets, so.RX.Packets)
		}
		t.Logf("window %d: min %v p50 %v p99 %v max %v", window, time.Duration(r.Min), time.Duration(r.P50), time.Duration(r.P99), time.Duration(r.Max))
	}
}

func TestPingTimeout(t *testing.T) {
	ping := baseConfig(Ping)
	ping.Count, ping.Window, ping.Timeout = 5, 2, 50*time.Millisecond
	a, _ := pair(1, 16) // nobody answers
	start := time.Now()
	s, err := Run(context.Background(), ping, func() (Conn, error) { return a, nil })
	if err != nil {
		t.Fatal(err)
	}
	if s.RTT.Timeouts != 5 || s.RTT.Replies != 0 {
		t.Errorf("%+v", *s.RTT)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("5 timeouts of 50 ms took %v", d)
	}
}

func TestTxRxBothWays(t *testing.T) {
	a, b := baseConfig(TXRX), baseConfig(TXRX)
	a.Count, b.Count = 20_000, 20_000
	a.Check, b.Check, a.Flows = true, true, 3
	sa, sb := runBoth(t, a, b, 2, 512, nil)
	for _, s := range []*Summary{sa, sb} {
		if s.TX.Packets != 20_000 || s.RX.Packets != 20_000 || s.Check.Lost != 0 {
			t.Errorf("tx %d rx %d lost %d", s.TX.Packets, s.RX.Packets, s.Check.Lost)
		}
	}
}

func TestRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a second")
	}
	tx, rx := baseConfig(TX), baseConfig(RX)
	tx.Rate, tx.Duration, tx.Flows = 20_000, time.Second, 5
	rx.Duration = 1500 * time.Millisecond
	st, sr := runBoth(t, tx, rx, 2, 4096, nil)
	rate := float64(st.TX.Packets) / st.Seconds
	t.Logf("sent %d in %.3f s: %.0f pps", st.TX.Packets, st.Seconds, rate)
	if rate < 20_000*0.97 || rate > 20_000*1.03 {
		t.Errorf("rate %.0f pps, want 20000 ± 3 %%", rate)
	}
	if sr.RX.Packets != st.TX.Packets {
		t.Errorf("received %d of %d", sr.RX.Packets, st.TX.Packets)
	}
}

// TestReconnect breaks the connection of a sender twice; it redials and
// sends its whole count, with sequence numbers that continue.
func TestReconnect(t *testing.T) {
	const n = 50_000
	tx := baseConfig(TX)
	tx.Count, tx.Rate, tx.Check, tx.Reconnect = n, 100_000, true, true
	var mu sync.Mutex
	var conns []*fakeConn
	var rx Checker
	var received int
	dials := 0
	dial := func() (Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		dials++
		if dials == 2 {
			return nil, errors.New("server restarting")
		}
		a, b := pair(1, 1<<16)
		conns = append(conns, a)
		b.in.drop = func(f []byte) bool { // count on the way, keep nothing
			if p, ok := Parse(f); ok {
				rx.Add(p.Stream, p.Seq)
				received++
			}
			return true
		}
		return a, nil
	}
	go func() {
		for i := 0; i < 2; i++ {
			for {
				time.Sleep(100 * time.Millisecond)
				mu.Lock()
				ok := len(conns) > i
				mu.Unlock()
				if ok {
					break
				}
			}
			mu.Lock()
			c := conns[i]
			mu.Unlock()
			c.Close()
		}
	}()
	var buf bytes.Buffer
	tx.Progress = &buf
	s, err := Run(context.Background(), tx, dial)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if s.TX.Packets != n || received != n || s.Reconnects != 2 {
		t.Errorf("sent %d, received %d, %d reconnects", s.TX.Packets, received, s.Reconnects)
	}
	if l, o, d := rx.Totals(); l+o+d != 0 {
		t.Errorf("sequence: lost %d late %d dup %d", l, o, d)
	}
	if !strings.Contains(buf.String(), "server restarting") || !strings.Contains(buf.String(), "reconnected") {
		t.Errorf("notices: %q", buf.String())
	}
}

func TestNoReconnect(t *testing.T) {
	tx := baseConfig(TX)
	_, err := Run(context.Background(), tx, func() (Conn, error) { return nil, errors.New("no server") })
	if err == nil || err.Error() != "no server" {
		t.Errorf("err %v", err)
	}
	a, _ := pair(1, 16)
	go func() { time.Sleep(50 * time.Millisecond); a.Close() }()
	s, err := Run(context.Background(), tx, func() (Conn, error) { return a, nil })
	if err == nil || s == nil || s.Error == "" {
		t.Errorf("broken connection: err %v, summary %+v", err, s)
	}
}

func TestProgressAndSummaryText(t *testing.T) {
	tx, rx := baseConfig(TX), baseConfig(RX)
	tx.Duration, rx.Duration = 350*time.Millisecond, 400*time.Millisecond
	tx.Rate = 10_000
	var out bytes.Buffer
	rx.Progress, rx.Interval, rx.Check, tx.Check = &out, 100*time.Millisecond, true, true
	_, sr := runBoth(t, tx, rx, 1, 1024, nil)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "Mpps") || !strings.Contains(lines[0], "lost 0") || strings.Contains(out.String(), "\r") {
		t.Errorf("progress:\n%s", out.String())
	}
	var text bytes.Buffer
	sr.WriteText(&text)
	for _, want := range []string{"pktgen rx", "rx  ", "Mpps", "check  lost 0"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
}
