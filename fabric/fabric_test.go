package fabric_test

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/port/pipe"
)

// Test frames carry their own destination, so the reference model and the
// test logic agree on it without sharing state:
//
//	bytes 0..3  sequence number (unique per source)
//	byte  4     source port ID
//	bytes 5..6  destination code: a port ID, or one of the codes below
//	byte  7     number of ports in the set, for codeSet; then one byte each
//	byte  15    input queue it was sent on (order is kept per input queue)
//	rest        a pattern derived from the sequence number
const (
	codeFlood     = 0xffff
	codeDrop      = 0xfffe
	codeMalformed = 0xfffd
	codeSet       = 0xfffc
	codeGrow      = 0xfffb // rewrite: grow the first buffer by 4 bytes, then send to the port in byte 7
	hdrLen        = 16
)

// codedLogic decides from the frame's destination code.
var codedLogic = logic.Func(func(p *logic.Packet, in logic.PortID) logic.Dst {
	b := p.Data
	if len(b) < hdrLen {
		return logic.DropMalformed
	}
	switch c := binary.BigEndian.Uint16(b[5:7]); c {
	case codeFlood:
		return logic.Flood
	case codeDrop:
		return logic.Drop
	case codeMalformed:
		return logic.DropMalformed
	case codeSet:
		p.Set = make([]logic.PortID, 0, b[7]) // fresh: the contract forbids reuse within the batch
		for _, x := range b[8 : 8+int(b[7])] {
			p.Set = append(p.Set, logic.PortID(x))
		}
		return logic.ToSet
	case codeGrow:
		if len(b)+4 > cap(b) {
			return logic.DropMalformed
		}
		p.Data = b[:len(b)+4]
		copy(p.Data[len(b):], "GROW")
		return logic.To(logic.PortID(b[7]))
	default:
		return logic.To(logic.PortID(c))
	}
})

func makeFrame(seq uint32, src logic.PortID, code uint16, set []byte, size int) []byte {
	f := make([]byte, size)
	binary.BigEndian.PutUint32(f[0:4], seq)
	f[4] = byte(src)
	binary.BigEndian.PutUint16(f[5:7], code)
	if code == codeSet || code == codeGrow {
		f[7] = byte(len(set))
		copy(f[8:], set)
	}
	for i := hdrLen; i < size; i++ {
		f[i] = byte(seq*7 + uint32(i))
	}
	return f
}

// expected applies the forwarding rules to one frame: where it must arrive,
// and the drops it must count at its source (one no-port drop per missing
// member of a set).
func expected(f []byte, src logic.PortID, attached map[logic.PortID]bool) (dsts []logic.PortID, drops []string) {
	if len(f) < hdrLen {
		return nil, []string{"malformed"}
	}
	switch c := binary.BigEndian.Uint16(f[5:7]); c {
	case codeFlood:
		for p := range attached {
			if p != src {
				dsts = append(dsts, p)
			}
		}
	case codeDrop:
		return nil, []string{"lookup"}
	case codeMalformed:
		return nil, []string{"malformed"}
	case codeSet:
		for _, x := range f[8 : 8+int(f[7])] {
			p := logic.PortID(x)
			switch {
			case p == src || slices.Contains(dsts, p):
			case !attached[p]:
				drops = append(drops, "no-port")
			default:
				dsts = append(dsts, p)
			}
		}
	default:
		p := logic.PortID(c)
		if c == codeGrow {
			p = logic.PortID(f[7])
		}
		switch {
		case p == src:
			return nil, []string{"loop"}
		case !attached[p]:
			return nil, []string{"no-port"}
		}
		dsts = []logic.PortID{p}
	}
	slices.Sort(dsts)
	return dsts, drops
}

type testPort struct {
	id   logic.PortID
	p    *pipe.Pipe
	end  *pipe.End
	bufs [][]byte
	szs  []int
}

func attachPipe(t testing.TB, sw *fabric.Switch, opts pipe.Options, cfg fabric.PortConfig) *testPort {
	t.Helper()
	p, err := pipe.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sw.Attach(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPort{id: id, p: p, end: p.End(), bufs: make([][]byte, 64), szs: make([]int, 64)}
	for i := range tp.bufs {
		tp.bufs[i] = make([]byte, 200000)
	}
	return tp
}

// drain receives everything waiting on the port and returns the frames.
func (tp *testPort) drain(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for q := 0; q < tp.end.Queues(); q++ {
		for {
			n, err := tp.end.Receive(q, tp.bufs, tp.szs)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				out = append(out, slices.Clone(tp.bufs[i][:tp.szs[i]]))
			}
			if n < len(tp.bufs) {
				break
			}
		}
	}
	return out
}

// TestForwardMatchesReference sends random batches — random sizes (chained
// up to 64 KB), destinations, floods, sets, drops, loops, missing ports,
// rewrites — from several inline sources to ports with different buffer
// sizes, and compares what each port receives with a slow reference: the
// same frames, byte for byte, in the same order per source, no duplicates;
// and the counters add up.
func TestForwardMatchesReference(t *testing.T) {
	for _, alg := range []fabric.Algorithm{fabric.AlgorithmMSwitch, fabric.AlgorithmVALE} {
		for seed := int64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("alg=%d/seed=%d", alg, seed), func(t *testing.T) {
				testReference(t, alg, seed)
			})
		}
	}
}

func testReference(t *testing.T, alg fabric.Algorithm, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	batch := []int{1, 7, 64, 1024}[rng.Intn(4)]
	sw, err := fabric.New("ref", fabric.Options{Batch: batch, Logic: codedLogic, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	bufSizes := []int{1024, 2048, 4096}
	var ports []*testPort
	attached := map[logic.PortID]bool{}
	for i := 0; i < 6; i++ {
		opts := pipe.Options{Slots: 1 << 14, BufSize: bufSizes[i%3], Queues: 1 + i%2}
		tp := attachPipe(t, sw, opts, fabric.PortConfig{Inline: true})
		ports = append(ports, tp)
		attached[tp.id] = true
	}
	want := map[logic.PortID][][]byte{}
	var wantDrops [fabric.NumDropReasons]uint64
	var sent uint64
	seq := uint32(0)
	for round := 0; round < 40; round++ {
		for _, src := range ports {
			q := rng.Intn(src.end.Queues())
			var frames [][]byte
			for k := rng.Intn(80); k > 0; k-- {
				size := hdrLen + rng.Intn(200)
				switch rng.Intn(10) {
				case 0:
					size = hdrLen + rng.Intn(65535-hdrLen)
				case 1:
					size = rng.Intn(hdrLen) // runt
				}
				var code uint16
				var set []byte
				switch r := rng.Intn(20); {
				case r < 10:
					code = uint16(rng.Intn(len(ports) + 1)) // may be the source or missing
				case r < 12:
					code = codeFlood
				case r < 14:
					code = codeDrop
				case r < 15:
					code = codeMalformed
				case r < 18 && alg == fabric.AlgorithmMSwitch:
					code = codeSet
					for n := rng.Intn(5); n > 0; n-- {
						set = append(set, byte(rng.Intn(len(ports)+1)))
					}
				default:
					code = codeGrow
					set = []byte{byte(rng.Intn(len(ports)))}
				}
				if size < hdrLen {
					frames = append(frames, make([]byte, size))
					continue
				}
				f := makeFrame(seq, src.id, code, set, size)
				f[15] = byte(q)
				seq++
				frames = append(frames, f)
			}
			n, err := src.end.Send(q, frames)
			if err != nil || n != len(frames) {
				t.Fatalf("send: %d of %d, %v", n, len(frames), err)
			}
			for _, f := range frames {
				sent++
				dsts, drops := expected(f, src.id, attached)
				out := f
				if len(f) >= hdrLen && binary.BigEndian.Uint16(f[5:7]) == codeGrow {
					first := min(len(f), src.end.BufSize())
					if first+4 > src.end.BufSize() {
						// No room to grow within the buffer: the logic drops it.
						drops, dsts = []string{"malformed"}, nil
					}
					out = slices.Concat(f[:first], []byte("GROW"), f[first:])
				}
				for _, d := range drops {
					wantDrops[dropIndex(t, d)]++
				}
				for _, d := range dsts {
					// Oversize: more than MaxFrags of the destination's buffers.
					if len(out) > fabric.MaxFrags*bufSizes[int(d)%3] {
						wantDrops[fabric.DropOversize]++
						continue
					}
					want[d] = append(want[d], out)
				}
			}
			for {
				n, err := sw.Forward(src.id, q)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
		}
	}
	for _, tp := range ports {
		got := tp.drain(t)
		// Queues of one port may interleave sources differently; per
		// source the order is fixed. Compare per (source, port).
		if g, w := bySource(got), bySource(want[tp.id]); !equalFrames(g, w) {
			t.Fatalf("port %d: received %d frames, want %d (first mismatch: %s)", tp.id, len(got), len(want[tp.id]), firstMismatch(g, w))
		}
	}
	var gotDrops [fabric.NumDropReasons]uint64
	var rx, tx uint64
	for _, st := range sw.Stats() {
		rx += st.RxPackets
		tx += st.TxPackets
		for i, d := range st.Drops {
			gotDrops[i] += d
		}
	}
	if gotDrops != wantDrops {
		t.Errorf("drops %v, want %v", gotDrops, wantDrops)
	}
	var wantTx uint64
	for _, fs := range want {
		wantTx += uint64(len(fs))
	}
	if rx != sent || tx != wantTx {
		t.Errorf("rx %d tx %d, want rx %d tx %d", rx, tx, sent, wantTx)
	}
}

func dropIndex(t *testing.T, name string) fabric.DropReason {
	for r := fabric.DropReason(0); r < fabric.NumDropReasons; r++ {
		if r.String() == name {
			return r
		}
	}
	t.Fatalf("no drop reason %q", name)
	return 0
}

// bySource groups frames by source port and input queue.
func bySource(frames [][]byte) map[int][][]byte {
	m := map[int][][]byte{}
	for _, f := range frames {
		k := int(f[4])<<8 | int(f[15])
		m[k] = append(m[k], f)
	}
	return m
}

func equalFrames(a, b map[int][][]byte) bool {
	return firstMismatch(a, b) == ""
}

func firstMismatch(a, b map[int][][]byte) string {
	for src := 0; src < 1<<16; src++ {
		x, y := a[src], b[src]
		for i := 0; i < max(len(x), len(y)); i++ {
			switch {
			case i >= len(x):
				return fmt.Sprintf("source %#x: missing frame %d (seq %d)", src, i, binary.BigEndian.Uint32(y[i]))
			case i >= len(y):
				return fmt.Sprintf("source %d: extra frame %d (seq %d)", src, i, binary.BigEndian.Uint32(x[i]))
			case !slices.Equal(x[i], y[i]):
				return fmt.Sprintf("source %d frame %d: got seq %d len %d, want seq %d len %d", src, i,
					binary.BigEndian.Uint32(x[i]), len(x[i]), binary.BigEndian.Uint32(y[i]), len(y[i]))
			}
		}
	}
	return ""
}

// TestQueueFull fills a small destination queue: what arrives is a prefix
// of what was sent, and the rest is counted as queue-full drops.
func TestQueueFull(t *testing.T) {
	sw, _ := fabric.New("full", fabric.Options{Logic: codedLogic})
	defer sw.Close()
	src := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Inline: true})
	dst := attachPipe(t, sw, pipe.Options{Slots: 16}, fabric.PortConfig{})
	var frames [][]byte
	for i := 0; i < 20; i++ {
		size := 60
		if i == 3 {
			size = 5000 // three slots
		}
		frames = append(frames, makeFrame(uint32(i), src.id, uint16(dst.id), nil, size))
	}
	src.end.Send(0, frames)
	if _, err := sw.Forward(src.id, 0); err != nil {
		t.Fatal(err)
	}
	got := dst.drain(t)
	if len(got) != 14 { // 13 single-slot frames + one 3-slot frame = 16 slots
		t.Fatalf("received %d frames, want 14", len(got))
	}
	for i, f := range got {
		if !slices.Equal(f, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	st, _ := sw.PortStats(dst.id)
	if st.Drops[fabric.DropQueueFull] != 6 || st.TxPackets != 14 {
		t.Fatalf("stats %+v, want 14 sent and 6 queue-full drops", st)
	}
	// Chains never straddle a reservation: 15 free slots, a 3-slot frame
	// first in line that fits, then single frames.
	dst.drain(t)
}

// TestMalformedChains sends chains the fabric must refuse: longer than
// MaxFrags buffers.
func TestMalformedChains(t *testing.T) {
	sw, _ := fabric.New("chains", fabric.Options{Logic: codedLogic})
	defer sw.Close()
	src := attachPipe(t, sw, pipe.Options{BufSize: 1024}, fabric.PortConfig{Inline: true})
	dst := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{})
	long := makeFrame(1, src.id, uint16(dst.id), nil, 1024*fabric.MaxFrags+1)
	ok := makeFrame(2, src.id, uint16(dst.id), nil, 1024*fabric.MaxFrags)
	src.end.Send(0, [][]byte{long, ok})
	for {
		if n, _ := sw.Forward(src.id, 0); n == 0 {
			break
		}
	}
	got := dst.drain(t)
	if len(got) != 1 || !slices.Equal(got[0], ok) {
		t.Fatalf("received %d frames, want only the 64-buffer one", len(got))
	}
	st, _ := sw.PortStats(src.id)
	if st.Drops[fabric.DropMalformed] != 1 || st.RxPackets != 2 {
		t.Fatalf("source stats %+v, want 2 received, 1 malformed", st)
	}
}

// TestToInPort: a logic may send a packet back out of its input port
// (hairpin), which a plain port ID equal to the input port never does.
func TestToInPort(t *testing.T) {
	back := logic.Func(func(p *logic.Packet, in logic.PortID) logic.Dst {
		if p.Data[0] == 1 {
			return logic.ToInPort
		}
		return logic.To(in) // a loop: dropped
	})
	sw, err := fabric.New("hairpin", fabric.Options{Logic: back})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	a := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Name: "a", Inline: true})
	b := attachPipe(t, sw, pipe.Options{}, fabric.PortConfig{Name: "b"})
	hair, loop := make([]byte, 60), make([]byte, 60)
	hair[0] = 1
	if _, err := a.end.Send(0, [][]byte{hair, loop}); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Forward(a.id, 0); err != nil {
		t.Fatal(err)
	}
	if got := a.drain(t); len(got) != 1 || got[0][0] != 1 {
		t.Fatalf("input port got %d frames back, want the hairpin one", len(got))
	}
	if got := b.drain(t); len(got) != 0 {
		t.Fatalf("other port got %d frames", len(got))
	}
	st, _ := sw.PortStats(a.id)
	if st.Drops[fabric.DropLoop] != 1 || st.TxPackets != 1 {
		t.Fatalf("loop drops %d, tx %d; want 1 and 1", st.Drops[fabric.DropLoop], st.TxPackets)
	}
}
