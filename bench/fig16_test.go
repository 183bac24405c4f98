package bench

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/l4filter"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/logic/multistack"
	"github.com/mswitch/mswitch/logic/xconnect"
	"github.com/mswitch/mswitch/port/pipe"
)

// BenchmarkFig16 compares the modules' cost on 60-byte frames between two
// ports (paper Figure 16). Every case uses a cycler as its sender, so that
// only the module differs. The multistack case has the sender as its NIC
// port and one reservation, the flow's destination tuple, for the receiver.
func BenchmarkFig16(b *testing.B) {
	b.Run("module=xconnect", func(b *testing.B) {
		x := xconnect.New()
		sw := newSwitch(b, fabric.Options{Logic: x})
		src := attachCycler(b, sw, flows(1))
		dst := attachSink(b, sw, "dst", sourceSlots)
		if err := x.Connect(src.id, dst); err != nil {
			b.Fatal(err)
		}
		runSingle(b, src, dst, sw.Batch(), minSize)
	})
	for _, macs := range []int{1, 1000} {
		name := "module=learning-1mac"
		if macs > 1 {
			name = fmt.Sprintf("module=learning-%dmacs", macs)
		}
		b.Run(name, func(b *testing.B) {
			br := learning.New()
			sw := newSwitch(b, fabric.Options{Logic: br})
			src, dst := learnedPair(b, sw, macs)
			runSingle(b, src, dst, sw.Batch(), minSize)
			if c := br.Stats().Collisions; c > 0 {
				b.Logf("%d MACs not learned (bucket collisions): their frames were flooded", c)
			}
		})
	}
	b.Run("module=l4filter", func(b *testing.B) {
		f := l4filter.New()
		sw := newSwitch(b, fabric.Options{Logic: f})
		src := attachCycler(b, sw, flows(1))
		dst := attachSink(b, sw, "dst", sourceSlots)
		if err := f.Add(frame.ProtoUDP, udpPort, dst); err != nil {
			b.Fatal(err)
		}
		runSingle(b, src, dst, sw.Batch(), minSize)
	})
	b.Run("module=multistack", func(b *testing.B) {
		m := multistack.New()
		sw := newSwitch(b, fabric.Options{Logic: m})
		src := attachCycler(b, sw, flows(1))
		dst := attachSink(b, sw, "dst", sourceSlots)
		if err := m.SetNIC(src.id); err != nil {
			b.Fatal(err)
		}
		// The flow's destination tuple, as frametest writes it.
		tuple := multistack.Tuple{Proto: frame.ProtoUDP, IP: netip.AddrFrom4([4]byte{192, 0, 2, 2}), Port: udpPort}
		if err := m.Reserve(tuple, dst); err != nil {
			b.Fatal(err)
		}
		runSingle(b, src, dst, sw.Batch(), minSize)
		if st := m.Stats(); st.ToStack == 0 || st != (multistack.Stats{ToStack: st.ToStack}) {
			b.Fatalf("frames not steered by their tuple: %+v", st)
		}
	})
}

// mac returns a locally administered unicast MAC address numbered n on side
// side (1: behind the sender, 2: behind the receiver).
func mac(side byte, n int) [6]byte {
	return [6]byte{0x02, side, 0, byte(n >> 16), byte(n >> 8), byte(n)}
}

// flowFrame returns a 60-byte UDP frame from MAC src to MAC dst.
func flowFrame(dst, src [6]byte) []byte {
	f := udpFrame(minSize)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	return f
}

// flows returns n frames, frame i from host i behind the sender to host i
// behind the receiver.
func flows(n int) [][]byte {
	fs := make([][]byte, n)
	for i := range fs {
		fs[i] = flowFrame(mac(2, i), mac(1, i))
	}
	return fs
}

// learnedPair attaches a cycler sending macs flows and a receiver, and
// makes the bridge learn both ends of every flow, so that the timed traffic
// is known unicast: the receiver's hosts answer first (flooded, to the
// sender), then the sender's frames are forwarded once.
func learnedPair(tb testing.TB, sw *fabric.Switch, macs int) (source, logic.PortID) {
	tb.Helper()
	src := attachCycler(tb, sw, flows(macs))
	p, err := pipe.New(pipe.Options{Slots: sourceSlots, DrainForFree: true})
	if err != nil {
		tb.Fatal(err)
	}
	dst, err := sw.Attach(p, fabric.PortConfig{Name: "dst", Inline: true})
	if err != nil {
		tb.Fatal(err)
	}
	replies := make([][]byte, macs)
	for i := range replies {
		replies[i] = flowFrame(mac(1, i), mac(2, i))
	}
	if n, err := p.End().Send(0, replies); err != nil || n != macs {
		tb.Fatalf("send replies: %d of %d sent: %v", n, macs, err)
	}
	for {
		n, err := sw.Forward(dst, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := src.forward(sw.Batch(), macs); err != nil {
		tb.Fatal(err)
	}
	return src, dst
}

// cycler is an input queue that lends a fixed set of prebuilt frames, one
// slot each, round-robin: pipe.End.Replay with many templates instead of one.
// It is the input side of a Backend whose output side is a drain-for-free
// pipe. Like an Inline pipe, it expects one goroutine at a time.
type cycler struct {
	frames [][]byte
	next   int // frame of the oldest queued packet
	queued int // packets queued by Replay and not yet released
	out    *pipe.Pipe
}

var (
	_ fabric.Backend = (*cycler)(nil)
	_ fabric.InQueue = (*cycler)(nil)
	_ replayer       = (*cycler)(nil)
)

// attachCycler attaches an Inline port that replays frames round-robin.
func attachCycler(tb testing.TB, sw *fabric.Switch, frames [][]byte) source {
	tb.Helper()
	out, err := pipe.New(pipe.Options{Slots: sourceSlots, DrainForFree: true})
	if err != nil {
		tb.Fatal(err)
	}
	c := &cycler{out: out}
	for _, f := range frames {
		buf := make([]byte, pipe.DefaultBufSize)
		c.frames = append(c.frames, buf[:copy(buf, f)])
	}
	id, err := sw.Attach(c, fabric.PortConfig{Name: "src", Inline: true})
	if err != nil {
		tb.Fatal(err)
	}
	return source{sw: sw, id: id, end: c}
}

// Replay queues up to n more packets, without exceeding sourceSlots.
func (c *cycler) Replay(queue, n int) (int, error) {
	n = min(n, sourceSlots-c.queued)
	c.queued += n
	return n, nil
}

// InQueues implements fabric.Backend.
func (c *cycler) InQueues() []fabric.InQueue { return []fabric.InQueue{c} }

// OutQueues implements fabric.Backend.
func (c *cycler) OutQueues() []fabric.OutQueue { return c.out.OutQueues() }

// Close implements fabric.Backend.
func (c *cycler) Close() error { return c.out.Close() }

// Receive implements fabric.InQueue.
func (c *cycler) Receive(slots []fabric.Slot) int {
	n := min(c.queued, len(slots))
	j := c.next
	for k := range n {
		slots[k] = fabric.Slot{Buf: c.frames[j]}
		if j++; j == len(c.frames) {
			j = 0
		}
	}
	return n
}

// Release implements fabric.InQueue.
func (c *cycler) Release(n int) {
	c.queued -= n
	c.next = (c.next + n) % len(c.frames)
}

// Wait implements fabric.InQueue. An Inline port is never waited on.
func (c *cycler) Wait() error { return fabric.ErrInterrupted }

// Interrupt implements fabric.InQueue.
func (c *cycler) Interrupt() {}
