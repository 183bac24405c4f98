package memifbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/port/memif"
)

// dialAll connects a client to each id, in this process.
func (r *runner) dialAll(ids []int, cfg memif.ClientConfig) ([]*memif.Client, error) {
	cs := make([]*memif.Client, 0, len(ids))
	for _, id := range ids {
		cfg.ID = uint32(id)
		c, err := memif.Dial(r.sock, cfg)
		if err != nil {
			closeAll(cs)
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*memif.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// idle attaches IdlePorts memif ports to sw0, connects a client to each
// (interrupt mode, as an idle application would), and measures mswitchd's
// CPU over IdleWindow while nothing is sent.
func (r *runner) idle(ctx context.Context) error {
	n := r.o.IdlePorts
	var ids []int
	for i := 1; i <= n; i++ {
		id := 1000 + i
		if err := r.addPort(ctx, "sw0", fmt.Sprintf("idle%04d", i), id, "interrupt", 0); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	cs, err := r.dialAll(ids, memif.ClientConfig{Name: "mswbench-idle", Mode: memif.Interrupt})
	if err != nil {
		return err
	}
	defer closeAll(cs)
	ports, err := r.c.Ports(ctx, "sw0")
	if err != nil {
		return err
	}
	up := 0
	for _, p := range ports {
		if p.Link != nil && p.Link.Connected {
			up++
		}
	}
	if up != n {
		return fmt.Errorf("%d of %d idle ports up", up, n)
	}
	r.background() // also lets the daemon settle after the attach
	lm := r.load()
	m, err := startMeter(r.d.PID())
	if err != nil {
		return err
	}
	self, err := startMeter(os.Getpid())
	if err != nil {
		return err
	}
	time.Sleep(r.o.IdleWindow)
	cpu, wall, err := m.readStat()
	if err != nil {
		return err
	}
	run, _, err := m.read()
	if err != nil {
		return err
	}
	scpu, swall, _ := self.read()
	load := lm.read()
	row := Row{Kind: KindIdle, Mode: "interrupt", Ports: n, Runs: 1, CPUPct: pct(cpu, wall),
		ClientCPUPct: pct(scpu, swall), Background: load,
		Note: fmt.Sprintf("utime+stime: %v in %v; /proc/PID/task/*/schedstat: %v, i.e. %.3f%% of a core",
			cpu, wall.Round(time.Millisecond), run.Round(time.Microsecond), pct(run, wall))}
	r.o.Logf("memif: %d idle ports: mswitchd %.2f%% of a core (%s)", n, row.CPUPct, row.Note)
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

// MACs of the scale test: receiver i is 02:6d:73:00:hi:lo (i+1), the
// sender 02:6d:73:ff:00:01.
func scaleMAC(i int) [6]byte { return [6]byte{0x02, 0x6d, 0x73, 0, byte((i + 1) >> 8), byte(i + 1)} }

var senderMAC = [6]byte{0x02, 0x6d, 0x73, 0xff, 0, 1}

// frame builds a frame of size bytes (a local experimental ethertype).
func frame(dst, src [6]byte, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x88, 0xb5
	return f
}

// scale attaches ScalePorts memif ports and a sender port to a new switch,
// connects a client to each in this process, lets the receivers announce
// their MACs, and sends 60-byte frames round-robin over all of them.
func (r *runner) scale(ctx context.Context) error {
	n := r.o.ScalePorts
	const sw = "big"
	if _, err := r.c.AddSwitch(ctx, control.SwitchSpec{Name: sw}); err != nil {
		return err
	}
	t0 := time.Now()
	// Receivers: small rings (256 slots) keep 1,000 clients' shared memory
	// at 1 MB each. Interrupt mode on the switch's side: the sender's
	// ring wakes the switch; the receivers' clients poll (below), so the
	// switch makes no system call to signal them.
	var ids []int
	for i := 0; i < n; i++ {
		if err := r.addPort(ctx, sw, fmt.Sprintf("s%04d", i+1), 10001+i, "interrupt", 8); err != nil {
			return err
		}
		ids = append(ids, 10001+i)
	}
	// The uplink's ring is the largest: the sender fills it while the
	// switch wakes up (see the throughput runs' two ring sizes).
	if err := r.addPort(ctx, sw, "uplink", 20000, "interrupt", BigRing); err != nil {
		return err
	}
	added := time.Since(t0)
	t0 = time.Now()
	rcv, err := r.dialAll(ids, memif.ClientConfig{Name: "mswbench-rx", Mode: memif.Poll, Log2RingSize: 8})
	if err != nil {
		return err
	}
	defer closeAll(rcv)
	snd, err := memif.Dial(r.sock, memif.ClientConfig{ID: 20000, Name: "mswbench-tx", Mode: memif.Interrupt,
		Log2RingSize: BigRing})
	if err != nil {
		return err
	}
	defer snd.Close()
	dialed := time.Since(t0)
	r.o.Logf("memif: %d ports added in %v, %d clients connected in %v", n+1, added.Round(time.Millisecond),
		n+1, dialed.Round(time.Millisecond))

	// Announce: the sender broadcasts (flooded to every receiver), then
	// every receiver sends one frame to the sender.
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if k, err := snd.Send(0, [][]byte{frame(bcast, senderMAC, 60)}); err != nil || k != 1 {
		return fmt.Errorf("sender's broadcast: %d sent, %v", k, err)
	}
	time.Sleep(50 * time.Millisecond)
	for i, c := range rcv {
		if k, err := c.Send(0, [][]byte{frame(senderMAC, scaleMAC(i), 60)}); err != nil || k != 1 {
			return fmt.Errorf("receiver %d's announce: %d sent, %v", i, k, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := r.c.Learning(ctx, sw)
		if err != nil {
			return err
		}
		if len(es) >= n+1 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the switch learned %d of %d MACs", len(es), n+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain(rcv)
	snd.Discard(0)

	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = frame(scaleMAC(i), senderMAC, 60)
	}
	var rr []scaleRun
	r.background()
	redone := 0
	for run := 0; run < r.o.ScaleRuns; run++ {
		s, n, err := redo(r, fmt.Sprintf("scale run %d", run+1), func() (scaleRun, float64, error) {
			s, err := r.scaleRun(snd, rcv, frames, r.o.ScaleDuration)
			return s, s.other, err
		})
		redone += n
		if err != nil {
			return err
		}
		r.o.Logf("memif: scale run %d, round-robin over %d ports: %.2f Mp/s sent, %.2f delivered, loss %.2f%%, %d ports reached, mswitchd %.0f%% CPU",
			run+1, n, s.sentMpps, s.mpps, s.loss, s.reached, s.cpuPct)
		rr = append(rr, s)
	}
	one, oneRedone, err := redo(r, "scale, one destination", func() (scaleRun, float64, error) {
		s, err := r.scaleRun(snd, rcv, frames[:1], r.o.ScaleDuration)
		return s, s.other, err
	})
	if err != nil {
		return err
	}
	r.o.Logf("memif: scale, one destination of %d ports: %.2f Mp/s delivered, %d sent, loss %.2f%%, mswitchd %.0f%% CPU",
		n, one.mpps, one.sent, one.loss, one.cpuPct)

	mpps := pick(rr, func(s scaleRun) float64 { return s.mpps })
	load := slices.Max(pick(rr, func(s scaleRun) float64 { return s.other }))
	reached := slices.Min(pick(rr, func(s scaleRun) float64 { return float64(s.reached) }))
	note := fmt.Sprintf("%d ports added in %v, clients connected in %v; per port and run: %d to %d packets",
		n+1, added.Round(time.Millisecond), dialed.Round(time.Millisecond),
		slices.Min(pickU(rr, func(s scaleRun) uint64 { return s.minPort })),
		slices.Max(pickU(rr, func(s scaleRun) uint64 { return s.maxPort })))
	r.rep.Rows = append(r.rep.Rows,
		Row{Kind: KindScale, Mode: "interrupt", Size: 60, Ports: n + 1, Dests: n, Runs: len(rr),
			Mpps: median(mpps), MppsMin: slices.Min(mpps), MppsMax: slices.Max(mpps),
			Gbps:         median(mpps) * 60 * 8 / 1e3,
			SentMpps:     median(pick(rr, func(s scaleRun) float64 { return s.sentMpps })),
			LossPct:      median(pick(rr, func(s scaleRun) float64 { return s.loss })),
			CPUPct:       median(pick(rr, func(s scaleRun) float64 { return s.cpuPct })),
			CPUNs:        median(pick(rr, func(s scaleRun) float64 { return s.cpuNs })),
			ClientCPUPct: median(pick(rr, func(s scaleRun) float64 { return s.clientPct })),
			Reached:      int(reached), Background: load, Note: joinNotes(note, redoNote(redone))},
		Row{Kind: KindScale, Mode: "interrupt", Size: 60, Ports: n + 1, Dests: 1, Runs: 1,
			Mpps: one.mpps, MppsMin: one.mpps, MppsMax: one.mpps, Gbps: one.mpps * 60 * 8 / 1e3, SentMpps: one.sentMpps,
			LossPct: one.loss, CPUPct: one.cpuPct, CPUNs: one.cpuNs, ClientCPUPct: one.clientPct,
			Reached: one.reached, Background: one.other,
			Note: joinNotes("the same ports and clients, every frame to the first receiver: its one ring of 256 slots, "+
				"swept by one goroutine, is the limit", redoNote(oneRedone))})
	return nil
}

func pickU[T any](xs []T, f func(T) uint64) []uint64 {
	v := make([]uint64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return v
}

// drain discards what the clients received.
func drain(cs []*memif.Client) (total uint64) {
	for _, c := range cs {
		k, _, _ := c.Discard(0)
		total += uint64(k)
	}
	return total
}

// scaleRun is one run of the scale test.
type scaleRun struct {
	sent, delivered  uint64
	mpps, sentMpps   float64
	loss             float64
	cpuPct, cpuNs    float64
	clientPct        float64
	other            float64 // the others' load meanwhile
	reached          int
	minPort, maxPort uint64 // packets of the receivers the traffic went to
}

// scaleRun sends frames, cycling through them, for d, while two goroutines
// sweep the receivers' rings.
func (r *runner) scaleRun(snd *memif.Client, rcv []*memif.Client, frames [][]byte, d time.Duration) (scaleRun, error) {
	var s scaleRun
	const batch = 64
	n := len(frames)
	ring := make([][]byte, n+batch) // frames, then their first batch again: no wrap within a Send
	for i := range ring {
		ring[i] = frames[i%n]
	}
	counts := make([]uint64, len(rcv))
	var stop atomic.Bool
	var wg sync.WaitGroup
	const sweepers = 2
	for w := 0; w < sweepers; w++ {
		lo, hi := w*len(rcv)/sweepers, (w+1)*len(rcv)/sweepers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for last := false; ; {
				for i := lo; i < hi; i++ {
					k, _, err := rcv[i].Discard(0)
					if err != nil {
						return
					}
					counts[i] += uint64(k)
				}
				if last {
					return
				}
				if stop.Load() {
					last = true // one more sweep: what arrived meanwhile
					continue
				}
				// A ring of 256 slots takes 256 packets between two
				// sweeps: with a sweep every millisecond or so, 1,000
				// rings take far more than one sender can send, and the
				// sweepers leave the CPU to the sender and the switch.
				time.Sleep(500 * time.Microsecond)
			}
		}()
	}
	m, err := startMeter(r.d.PID())
	if err != nil {
		return s, err
	}
	self, err := startMeter(os.Getpid())
	if err != nil {
		return s, err
	}
	lm := r.load()
	end := time.Now().Add(d)
	pos := 0
	var sendErr error
	for time.Now().Before(end) {
		k, err := snd.Send(0, ring[pos:pos+batch])
		if err != nil {
			sendErr = err
			break
		}
		s.sent += uint64(k)
		pos = (pos + k) % n
		if k < batch {
			runtime.Gosched() // the ring is full: let the switch catch up
		}
	}
	cpu, wall, _ := m.read()
	scpu, swall, _ := self.read()
	s.other = lm.read()
	time.Sleep(100 * time.Millisecond) // the switch empties the sender's ring
	stop.Store(true)
	wg.Wait()
	if sendErr != nil {
		return s, sendErr
	}
	s.minPort, s.maxPort = ^uint64(0), 0
	for i, c := range counts {
		s.delivered += c
		if c > 0 {
			s.reached++
		}
		if i < n {
			s.minPort, s.maxPort = min(s.minPort, c), max(s.maxPort, c)
		}
	}
	if s.sent == 0 {
		return s, errors.New("the sender sent nothing")
	}
	s.mpps = float64(s.delivered) / wall.Seconds() / 1e6
	s.sentMpps = float64(s.sent) / wall.Seconds() / 1e6
	s.loss = 100 * float64(s.sent-min(s.sent, s.delivered)) / float64(s.sent)
	s.cpuPct = pct(cpu, wall)
	if s.delivered > 0 {
		s.cpuNs = float64(cpu.Nanoseconds()) / float64(s.delivered)
	}
	s.clientPct = pct(scpu, swall)
	return s, nil
}
