package afxdp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// testbed is a switch with a learning bridge and one afxdp port per host.
type testbed struct {
	t     *testing.T
	e     *env
	sw    *fabric.Switch
	hosts []*host
	ports []*Port
	ids   []logic.PortID
}

// newTestbed makes n hosts and a switch with cfg's port on each (the
// interface filled in). l nil means a learning bridge.
func newTestbed(t *testing.T, n int, ho hostOpts, cfg Config, l logic.Logic) *testbed {
	t.Helper()
	e := newEnv(t)
	tb := &testbed{t: t, e: e}
	for i := 1; i <= n; i++ {
		tb.hosts = append(tb.hosts, e.addHost(i, ho))
	}
	if l == nil {
		l = learning.New()
	}
	sw, err := fabric.New("afxdp-test", fabric.Options{Logic: l})
	if err != nil {
		t.Fatal(err)
	}
	tb.sw = sw
	t.Cleanup(func() {
		if err := sw.Close(); err != nil {
			t.Errorf("close switch: %v", err)
		}
	})
	for _, h := range tb.hosts {
		c := cfg
		c.Interface = h.sw
		c.Logger = testLogger(t)
		p, err := Open(c)
		if err != nil {
			t.Fatal(err)
		}
		id, err := sw.Attach(p, fabric.PortConfig{Name: h.sw})
		if err != nil {
			p.Close()
			t.Fatal(err)
		}
		tb.ports = append(tb.ports, p)
		tb.ids = append(tb.ids, id)
	}
	return tb
}

// drops sums the drops counted by the switch and by every port.
func (tb *testbed) drops() uint64 {
	var n uint64
	for _, st := range tb.sw.Stats() {
		n += st.TotalDrops()
	}
	for _, p := range tb.ports {
		for _, q := range p.Stats().Queues {
			n += q.Drops()
		}
	}
	return n
}

// closeAll detaches every port and checks that no XDP program is left.
func (tb *testbed) closeAll() {
	tb.t.Helper()
	if err := tb.sw.Close(); err != nil {
		tb.t.Fatal(err)
	}
	for _, h := range tb.hosts {
		if xdpAttached(tb.t, h.sw) {
			tb.t.Errorf("%s: XDP program still attached after Close", h.sw)
		}
	}
}

// flood sends n test frames of size bytes from a to b over flows flows,
// through an AF_PACKET socket, and counts those that arrive at b. With
// window > 0 at most window frames are in flight (a frame that does not
// arrive within 100 ms is written off): the rate is then what the switch
// forwards without loss. With window 0 it sends as fast as it can, and the
// switch may drop. It stops sending after limit.
func flood(t *testing.T, a, b *host, n, size, flows, window int, limit time.Duration) (sent, got uint64, took time.Duration) {
	t.Helper()
	tx := a.packetSocket()
	c := countFrames(b.packetSocket())
	defer c.close()
	frames := make([][]byte, flows)
	for f := range frames {
		frames[f] = a.udpFrame(b, size, uint16(f), 0)
	}
	start := time.Now()
	deadline := start.Add(limit)
	var lost uint64
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		if window > 0 && sent-c.n.Load()-lost >= uint64(window) {
			w := time.Now()
			for sent-c.n.Load()-lost >= uint64(window) {
				if time.Since(w) > 100*time.Millisecond {
					lost = sent - c.n.Load()
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		if _, err := unix.Write(tx, frames[i%flows]); err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				time.Sleep(50 * time.Microsecond)
				i--
				continue
			}
			t.Fatalf("send: %v", err)
		}
		sent++
	}
	// Wait for the stragglers: until all arrived, or none for 200 ms.
	last, still := c.n.Load(), time.Now()
	waitFor(2*time.Second, func() bool {
		if n := c.n.Load(); n != last {
			last, still = n, time.Now()
		}
		return last >= sent || time.Since(still) > 200*time.Millisecond
	})
	took = time.Since(start)
	if got = c.n.Load(); got >= sent && got > 0 {
		took = c.last.Load().Sub(start)
	}
	return sent, got, took
}

func TestForward(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		queues int
	}{
		{"interrupt", Config{}, 1},
		{"poll", Config{Mode: Poll}, 1},
		{"adaptive", Config{Mode: Adaptive}, 1},
		{"adaptive-two-queues", Config{Mode: Adaptive, Queues: 2}, 2},
		{"generic", Config{XDPMode: XDPGeneric}, 1},
		{"copy-no-need-wakeup", Config{CopyMode: Copy, NoNeedWakeup: true}, 1},
		{"two-queues", Config{Queues: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t, 2, hostOpts{queues: tc.queues}, tc.cfg, nil)
			h1, h2 := tb.hosts[0], tb.hosts[1]
			h1.ping(h2)
			h2.ping(h1)

			sent, got, took := flood(t, h1, h2, 20000, 64, 16, 256, 5*time.Second)
			t.Logf("flood, at most 256 in flight: %d of %d arrived in %v: %.0f kp/s", got, sent, took.Round(time.Millisecond), float64(got)/took.Seconds()/1e3)
			if got < sent*99/100 {
				t.Errorf("flood: only %d of %d frames arrived", got, sent)
			}
			// Overload: what does not reach host 2's interface is counted
			// as dropped, by the switch or by the ports.
			d0, r0 := tb.drops(), h2.rxPackets()
			sent, got, took = flood(t, h1, h2, 20000, 64, 16, 0, 5*time.Second)
			waitFor(2*time.Second, func() bool { return h2.rxPackets()-r0+tb.drops()-d0 >= sent })
			arrived, dropped := h2.rxPackets()-r0, tb.drops()-d0
			t.Logf("flood, no limit: %d of %d arrived at the interface (%d counted by the test) in %v, %d counted as dropped",
				arrived, sent, got, took.Round(time.Millisecond), dropped)
			if arrived+dropped < sent*99/100 {
				t.Errorf("flood: %d sent, %d arrived, %d counted as dropped: %d missing", sent, arrived, dropped, sent-arrived-dropped)
			}
			st := tb.ports[0].Stats()
			want := XDPNative
			if tc.cfg.XDPMode == XDPGeneric {
				want = XDPGeneric
			}
			if st.XDPMode != want || st.ZeroCopy || len(st.Queues) != tc.queues {
				t.Errorf("stats: %+v, want XDP mode %v, copy mode, %d queues", st, want, tc.queues)
			}
			var rx uint64
			for i, q := range st.Queues {
				t.Logf("port 1 queue %d: %+v", i, q)
				rx += q.RxPackets
				if tc.queues > 1 && q.RxPackets == 0 {
					t.Errorf("queue %d received nothing", i)
				}
			}
			if rx < got {
				t.Errorf("port 1 received %d packets, host 2 got %d of them", rx, got)
			}
			tx := tb.ports[1].Stats().Queues[0].TxPackets
			if tc.queues > 1 {
				tx += tb.ports[1].Stats().Queues[1].TxPackets
			}
			if tx < got {
				t.Errorf("port 2 sent %d packets, host 2 got %d of them", tx, got)
			}
			tb.closeAll()
		})
	}
}

// TestJumbo sends 9000-byte frames (MTU 9000) through the switch: with
// multi-buffer AF_XDP they span three 4 KB frames each way. On a kernel
// without it, Open must fail with ErrMTU.
func TestJumbo(t *testing.T) {
	e := newEnv(t)
	h1 := e.addHost(1, hostOpts{mtu: 9000})
	h2 := e.addHost(2, hostOpts{mtu: 9000})
	p, err := Open(Config{Interface: h1.sw, Logger: testLogger(t)})
	if err != nil {
		if !errors.Is(err, ErrMTU) {
			t.Fatalf("Open at MTU 9000: %v, want success or ErrMTU", err)
		}
		t.Skipf("no multi-buffer AF_XDP here; Open said: %v", err)
	}
	p.Close()

	sw, err := fabric.New("afxdp-jumbo", fabric.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	var ports []*Port
	for _, h := range []*host{h1, h2} {
		p, err := Open(Config{Interface: h.sw, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Stats().Multibuffer {
			t.Fatalf("MTU 9000 open without multi-buffer")
		}
		if _, err := sw.Attach(p, fabric.PortConfig{Name: h.sw}); err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	h1.ping(h2, "-s", "8972", "-M", "do")
	h2.ping(h1, "-s", "8972", "-M", "do")
	sent, got, took := flood(t, h1, h2, 2000, 9014, 4, 64, 3*time.Second)
	t.Logf("jumbo flood: %d sent, %d arrived in %v", sent, got, took.Round(time.Millisecond))
	if got < sent/2 {
		t.Errorf("only %d of %d jumbo frames arrived", got, sent)
	}
	for i, p := range ports {
		t.Logf("port %d: %+v", i+1, p.Stats().Queues[0])
	}
}

// TestMTUWithoutMultibuffer checks the error when frames cannot span
// several UMEM frames: a 2048-byte frame size with zero-copy forced makes
// the kernel refuse the socket, and the MTU is too large for one frame.
func TestMTUError(t *testing.T) {
	e := newEnv(t)
	h := e.addHost(1, hostOpts{mtu: 9000})
	_, err := Open(Config{Interface: h.sw, FrameSize: 2048, CopyMode: ZeroCopy, Logger: testLogger(t)})
	if err == nil {
		t.Skip("zero-copy multi-buffer on veth: nothing to test")
	}
	t.Logf("Open: %v", err)
	if !errors.Is(err, ErrMTU) {
		t.Errorf("Open with zero-copy forced on veth at MTU 9000: %v, want ErrMTU", err)
	}
	if xdpAttached(t, h.sw) {
		t.Errorf("XDP program left after a failed Open")
	}
}

// TestStaleProgram attaches a program through netlink, as an older run or
// `ip link set xdp...` would leave it; Open must replace it.
func TestStaleProgram(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags int
	}{
		{"generic", unix.XDP_FLAGS_SKB_MODE},
		{"native", unix.XDP_FLAGS_DRV_MODE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h1 := e.addHost(1, hostOpts{})
			h2 := e.addHost(2, hostOpts{})
			prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
				Type:         ebpf.XDP,
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}, // XDP_DROP
				License:      "MIT",
			})
			if err != nil {
				t.Fatal(err)
			}
			l, err := netlink.LinkByName(h1.sw)
			if err != nil {
				t.Fatal(err)
			}
			if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), tc.flags); err != nil {
				t.Fatal(err)
			}
			prog.Close() // the interface keeps it, as after a crash
			if !xdpAttached(t, h1.sw) {
				t.Fatal("stale program not attached")
			}
			sw, err := fabric.New("afxdp-stale", fabric.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []*host{h1, h2} {
				p, err := Open(Config{Interface: h.sw, Logger: testLogger(t)})
				if err != nil {
					sw.Close()
					t.Fatal(err)
				}
				if _, err := sw.Attach(p, fabric.PortConfig{Name: h.sw}); err != nil {
					t.Fatal(err)
				}
			}
			h1.ping(h2)
			if err := sw.Close(); err != nil {
				t.Fatal(err)
			}
			for _, h := range []*host{h1, h2} {
				if xdpAttached(t, h.sw) {
					t.Errorf("%s: XDP program still attached after Close", h.sw)
				}
			}
		})
	}
}

// TestIdleCPU checks that idle interrupt-mode ports cost no CPU.
func TestIdleCPU(t *testing.T) {
	tb := newTestbed(t, 2, hostOpts{}, Config{}, nil)
	tb.hosts[0].ping(tb.hosts[1])
	time.Sleep(200 * time.Millisecond)
	c0, t0 := cpuTime(t), time.Now()
	time.Sleep(time.Second)
	used, wall := cpuTime(t)-c0, time.Since(t0)
	share := float64(used) / float64(wall)
	t.Logf("idle: %v of CPU in %v (%.2f%% of a core)", used, wall.Round(time.Millisecond), 100*share)
	if share > 0.05 {
		t.Errorf("idle ports used %.1f%% of a core, want < 5%%", 100*share)
	}
}

// TestMalformed injects odd frames from a host: they are dropped (or
// forwarded, if well-formed enough) and counted, and traffic goes on.
func TestMalformed(t *testing.T) {
	l, err := learning.NewWithOptions(learning.Options{VLANAware: true})
	if err != nil {
		t.Fatal(err)
	}
	tb := newTestbed(t, 2, hostOpts{}, Config{}, l)
	h1, h2 := tb.hosts[0], tb.hosts[1]
	h1.ping(h2)
	fd := h1.packetSocket()
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	eth := func(dst []byte, et ...byte) []byte {
		b := append(append([]byte{}, dst...), h1.mac...)
		return append(b, et...)
	}
	malformed := [][]byte{
		eth(bcast, 0x81, 0x00),                   // a VLAN tag cut off after its TPID
		eth(bcast, 0x81, 0x00, 0, 1, 0x81, 0x00), // a second tag cut off
		append(eth(bcast, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x81, 0x00, 0, 4, 0x08, 0x00), make([]byte, 40)...), // four tags
	}
	odd := [][]byte{
		eth(bcast, 0x88, 0xb5),                           // header only, 14 bytes
		append(eth(bcast, 0x88, 0xb5), 1, 2, 3, 4, 5, 6), // 20 bytes
		append(eth(h2.mac, 0x08, 0x00), 0x45),            // a 15-byte "IPv4 packet"
	}
	before, err := tb.sw.PortStats(tb.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 50
	for r := 0; r < rounds; r++ {
		for _, f := range append(append([][]byte{}, malformed...), odd...) {
			if _, err := unix.Write(fd, f); err != nil {
				t.Fatalf("send %d-byte frame: %v", len(f), err)
			}
		}
	}
	wantDrops := uint64(rounds * len(malformed))
	if !waitFor(3*time.Second, func() bool {
		st, _ := tb.sw.PortStats(tb.ids[0])
		return st.Drops[fabric.DropMalformed]-before.Drops[fabric.DropMalformed] >= wantDrops
	}) {
		st, _ := tb.sw.PortStats(tb.ids[0])
		t.Errorf("malformed drops: %d, want %d; stats %+v", st.Drops[fabric.DropMalformed]-before.Drops[fabric.DropMalformed], wantDrops, st)
	}
	st, _ := tb.sw.PortStats(tb.ids[0])
	t.Logf("port 1 after the odd frames: rx %d, drops %v", st.RxPackets-before.RxPackets, st.Drops)
	h1.ping(h2)
	h2.ping(h1)
}

// TestZeroAlloc checks that the data path allocates nothing: Receive and
// Release on one port, Room, Buffer, SetSlot, Publish and Notify on the
// other.
func TestZeroAlloc(t *testing.T) {
	for _, mode := range []Mode{Interrupt, Adaptive} {
		t.Run(mode.String(), func(t *testing.T) { testZeroAlloc(t, mode) })
	}
}

func testZeroAlloc(t *testing.T, mode Mode) {
	e := newEnv(t)
	h1 := e.addHost(1, hostOpts{})
	h2 := e.addHost(2, hostOpts{})
	var ports [2]*Port
	for i, h := range []*host{h1, h2} {
		p, err := Open(Config{Interface: h.sw, Mode: mode, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ports[i] = p
	}
	in := ports[0].InQueues()[0]
	out := ports[1].OutQueues()[0]
	tx := h1.packetSocket()
	rx := h2.packetSocket() // counted after the measurement: the counter allocates
	// Queue the frames first, so that the measured steps only move them.
	const runs = 200
	frame := h1.udpFrame(h2, 100, 1, 0)
	for i := 0; i < runs+2; i++ {
		if _, err := unix.Write(tx, frame); err != nil {
			t.Fatal(err)
		}
	}
	slots := make([]fabric.Slot, 1)
	all := make([]fabric.Slot, 256)
	if !waitFor(2*time.Second, func() bool { return in.Receive(all) >= runs+2 }) {
		t.Fatalf("only %d of %d frames queued", in.Receive(all), runs+2)
	}
	var tail uint32
	var moved int
	step := func() {
		if err := in.Wait(); err != nil { // frames are queued: returns at once
			t.Fatal(err)
		}
		n := in.Receive(slots)
		if n == 0 || out.Room(tail) == 0 {
			return
		}
		b := out.Buffer(tail)
		out.SetSlot(tail, copy(b, slots[0].Buf), false)
		tail++
		out.Publish(tail)
		out.Notify()
		in.Release(n)
		moved++
	}
	step() // first use
	if a := testing.AllocsPerRun(runs, step); a != 0 {
		t.Errorf("%.1f allocations per packet, want 0", a)
	}
	c := countFrames(rx)
	defer c.close()
	if !waitFor(2*time.Second, func() bool { return c.n.Load() >= uint64(moved) }) {
		t.Errorf("moved %d frames by hand, %d arrived", moved, c.n.Load())
	}
	t.Logf("moved %d frames by hand, %d arrived; in %+v, out %+v", moved, c.n.Load(), ports[0].Stats().Queues[0], ports[1].Stats().Queues[0])
}

// TestInterrupt checks that Interrupt wakes a sleeping Wait and every
// later one, and that a packet wakes Wait.
func TestWait(t *testing.T) {
	e := newEnv(t)
	h1 := e.addHost(1, hostOpts{})
	p, err := Open(Config{Interface: h1.sw, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	q := p.InQueues()[0]
	done := make(chan error, 1)
	go func() { done <- q.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v on an idle queue", err)
	case <-time.After(100 * time.Millisecond):
	}
	tx := h1.packetSocket()
	unix.Write(tx, h1.udpFrame(h1, 60, 0, 0))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a packet did not wake Wait")
	}
	slots := make([]fabric.Slot, 8)
	q.Release(q.Receive(slots))
	go func() { done <- q.Wait() }()
	time.Sleep(50 * time.Millisecond)
	q.Interrupt()
	select {
	case err := <-done:
		if !errors.Is(err, fabric.ErrInterrupted) {
			t.Fatalf("Wait after Interrupt: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Interrupt did not wake Wait")
	}
	if err := q.Wait(); !errors.Is(err, fabric.ErrInterrupted) {
		t.Fatalf("second Wait after Interrupt: %v", err)
	}
}

// TestOpenErrors checks configuration errors.
func TestOpenErrors(t *testing.T) {
	for _, tc := range []Config{
		{},
		{Interface: "lo", Queues: -1},
		{Interface: "lo", FrameSize: 3000},
		{Interface: "lo", RxRingSize: 100},
		{Interface: "lo", Frames: 100},
		{Interface: "lo", Coalesce: 2 * time.Millisecond},
		{Interface: "mxa-no-such-if"},
	} {
		if p, err := Open(tc); err == nil {
			p.Close()
			t.Errorf("Open(%+v) succeeded", tc)
		} else {
			t.Logf("Open(%+v): %v", tc, err)
		}
	}
}

func ExampleOpen() {
	sw, _ := fabric.New("sw0", fabric.Options{})
	defer sw.Close()
	p, err := Open(Config{Interface: "veth0", Queues: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	sw.Attach(p, fabric.PortConfig{Name: "veth0"})
}

// TestNoMissedWakeup sends frames one at a time through sleeping
// interrupt-mode ports: each must arrive on its own, without a later
// packet to push it.
func TestNoMissedWakeup(t *testing.T) {
	tb := newTestbed(t, 2, hostOpts{}, Config{}, nil)
	h1, h2 := tb.hosts[0], tb.hosts[1]
	h1.ping(h2)
	tx := h1.packetSocket()
	c := countFrames(h2.packetSocket())
	defer c.close()
	var lat []time.Duration
	const n = 300
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := unix.Write(tx, h1.udpFrame(h2, 60, 0, uint32(i))); err != nil {
			t.Fatal(err)
		}
		if !waitForFast(time.Second, func() bool { return c.n.Load() > uint64(i) }) {
			t.Fatalf("frame %d did not arrive within a second (a missed wake-up?)", i)
		}
		lat = append(lat, time.Since(start))
		if i%3 == 0 {
			time.Sleep(time.Millisecond) // let the goroutines fall asleep
		}
	}
	slices.Sort(lat)
	t.Logf("%d frames one by one: median %v, p99 %v, slowest %v", n, lat[n/2], lat[n*99/100], lat[n-1])
}

// waitForFast polls cond without sleeping until it holds or limit passes.
func waitForFast(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// TestTCP runs an iperf3 TCP stream through the switch, at MTU 1500 and
// at MTU 9000 (multi-buffer), if iperf3 is installed.
func TestTCP(t *testing.T) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("skipped: no iperf3")
	}
	for _, mtu := range []int{1500, 9000} {
		t.Run(fmt.Sprint(mtu), func(t *testing.T) {
			tb := newTestbed(t, 2, hostOpts{mtu: mtu}, Config{}, nil)
			h1, h2 := tb.hosts[0], tb.hosts[1]
			h1.ping(h2)
			srv := exec.Command("ip", "netns", "exec", h2.ns, "iperf3", "-s", "-1", "-p", "5201")
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				srv.Process.Kill()
				srv.Wait()
			}()
			var out string
			var err error
			for try := 0; try < 20; try++ { // until the server listens
				// iperf3 -J may exit 0 when it could not connect.
				out, err = h1.exec(20*time.Second, "iperf3", "-c", h2.ip, "-p", "5201", "-t", "1", "-J")
				if err == nil && !strings.Contains(out, "unable to connect") {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("iperf3: %v\n%s", err, out)
			}
			var res struct {
				Error string `json:"error"`
				End   struct {
					SumReceived struct {
						BitsPerSecond float64 `json:"bits_per_second"`
					} `json:"sum_received"`
					SumSent struct {
						Retransmits int `json:"retransmits"`
					} `json:"sum_sent"`
				} `json:"end"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("iperf3 output: %v\n%s", err, out)
			}
			t.Logf("TCP at MTU %d: %.2f Gbit/s, %d retransmits", mtu, res.End.SumReceived.BitsPerSecond/1e9, res.End.SumSent.Retransmits)
			if res.Error != "" || res.End.SumReceived.BitsPerSecond < 1e6 {
				t.Errorf("TCP at MTU %d: %.0f bit/s, error %q; port 1 %+v, port 2 %+v", mtu, res.End.SumReceived.BitsPerSecond, res.Error,
					tb.ports[0].Stats().Queues[0], tb.ports[1].Stats().Queues[0])
			}
		})
	}
}

// TestSuspendNoMissedWakeup sends frames one at a time into a sleeping
// interrupt-mode queue while its socket transmits large batches, which
// take the socket off the queue's epoll instance for each kick
// (inQueue.suspend): every frame must wake the queue on its own.
func TestSuspendNoMissedWakeup(t *testing.T) {
	e := newEnv(t)
	h1 := e.addHost(1, hostOpts{})
	h2 := e.addHost(2, hostOpts{})
	p, err := Open(Config{Interface: h1.sw, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in, out := p.in[0], p.out[0]
	var got atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		slots := make([]fabric.Slot, 256)
		for {
			if n := in.Receive(slots); n > 0 {
				in.Release(n)
				got.Add(uint64(n))
				continue
			}
			if in.Wait() != nil {
				return
			}
		}
	}()
	defer func() { in.Interrupt(); <-done }()
	// The sender: batches of 64 frames to h2's MAC (h1 drops them).
	stop := make(chan struct{})
	sent := make(chan uint64, 1)
	go func() {
		frame := h2.udpFrame(h2, 60, 1, 0)
		var tail uint32
		var kicks uint64
		for {
			select {
			case <-stop:
				sent <- kicks
				return
			default:
			}
			if out.Room(tail) < 64 {
				out.Notify()
				runtime.Gosched()
				continue
			}
			for k := 0; k < 64; k++ {
				out.SetSlot(tail, copy(out.Buffer(tail), frame), false)
				tail++
			}
			out.Publish(tail)
			out.Notify()
			kicks++
			runtime.Gosched() // the receiver shares the processors
		}
	}()
	tx := h1.packetSocket()
	const n = 300
	for i := 0; i < n; i++ {
		if _, err := unix.Write(tx, h1.udpFrame(h1, 60, 0, uint32(i))); err != nil {
			t.Fatal(err)
		}
		if !waitForFast(time.Second, func() bool { return got.Load() > uint64(i) }) {
			close(stop)
			in.armMu.Lock()
			armed, asleep := in.armed, in.asleep
			in.armMu.Unlock()
			t.Fatalf("frame %d did not wake the queue within a second (%d received; RX ring producer %d, consumer %d; in the epoll instance %v, asleep %v)",
				i, got.Load(), in.s.rx.producer(), in.s.rx.consumer(), armed, asleep)
		}
		if i%3 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	close(stop)
	kicks := <-sent
	t.Logf("%d frames received one by one during %d kicks of 64 frames; queue %+v", got.Load(), kicks, p.Stats().Queues[0])
}
