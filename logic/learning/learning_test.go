package learning

import (
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mswitch/mswitch/logic"
)

// Station addresses: locally administered unicast MACs.
const (
	macA  = 0x02_00_00_00_00_0a
	macB  = 0x02_00_00_00_00_0b
	macC  = 0x02_00_00_00_00_0c
	bcast = 0xff_ff_ff_ff_ff_ff
	mcast = 0x01_00_5e_00_00_01
)

// eth builds a 60-byte frame from src to dst with the given VLAN tags
// (outermost first) and an IPv4 EtherType.
func eth(dst, src uint64, vids ...uint16) []byte {
	b := make([]byte, 12, 60)
	for i := 0; i < 6; i++ {
		b[i] = byte(dst >> (40 - 8*i))
		b[6+i] = byte(src >> (40 - 8*i))
	}
	for i, v := range vids {
		tpid := uint16(0x8100)
		if i == 0 && len(vids) > 1 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	return b[:60]
}

func hw(mac uint64) net.HardwareAddr {
	return net.HardwareAddr{byte(mac >> 40), byte(mac >> 32), byte(mac >> 24), byte(mac >> 16), byte(mac >> 8), byte(mac)}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newBridge(t testing.TB, opts Options) (*Bridge, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.ns.Store(int64(1000 * time.Second))
	if opts.Now == nil {
		opts.Now = c.Now
	}
	b, err := NewWithOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// send looks up one frame and returns its destination.
func send(b *Bridge, in logic.PortID, data []byte) logic.Dst {
	p := []logic.Packet{{Data: data, Dst: logic.Drop}}
	b.Lookup(p, in)
	return p[0].Dst
}

// step is one action of a behaviour test: wait, then either run do or send
// a frame and check its destination.
type step struct {
	wait time.Duration
	do   func(t *testing.T, b *Bridge)
	in   logic.PortID
	data []byte
	want logic.Dst
}

func TestBehaviour(t *testing.T) {
	aware := Options{VLANAware: true}
	tests := []struct {
		name  string
		opts  Options
		steps []step
		stats Stats
	}{
		{name: "learn then forward", steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.To(1)},
			{in: 1, data: eth(macB, macA), want: logic.To(2)},
		}, stats: Stats{Learned: 2, Entries: 2}},
		{name: "unknown floods", steps: []step{
			{in: 1, data: eth(macC, macA), want: logic.Flood},
			{in: 1, data: eth(macC, macA), want: logic.Flood},
		}, stats: Stats{Learned: 1, Entries: 1}},
		{name: "group destinations flood", steps: []step{
			{in: 2, data: eth(macA, macB), want: logic.Flood},
			{in: 1, data: eth(bcast, macA), want: logic.Flood},
			{in: 1, data: eth(mcast, macA), want: logic.Flood},
		}, stats: Stats{Learned: 2, Entries: 2}},
		{name: "multicast source not learned", steps: []step{
			{in: 1, data: eth(macB, mcast), want: logic.Flood},
			{in: 2, data: eth(mcast, macB), want: logic.Flood},
		}, stats: Stats{Learned: 1, Entries: 1}},
		{name: "runts are malformed", steps: []step{
			{in: 1, data: eth(macB, macA)[:13], want: logic.DropMalformed},
			{in: 1, data: nil, want: logic.DropMalformed},
			{in: 2, data: eth(macA, macB)[:14], want: logic.Flood},
		}, stats: Stats{Learned: 1, Entries: 1}},
		{name: "own port", steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 1, data: eth(macA, macB), want: logic.To(1)},
		}, stats: Stats{Learned: 2, Entries: 2}},
		{name: "move", steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.To(1)},
			{in: 3, data: eth(macB, macA), want: logic.To(2)},
			{in: 2, data: eth(macA, macB), want: logic.To(3)},
		}, stats: Stats{Learned: 2, Moves: 1, Entries: 2}},
		{name: "aging", steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.To(1), wait: 299 * time.Second},
			{in: 2, data: eth(macA, macB), want: logic.Flood, wait: time.Second},
			{in: 3, data: eth(macB, macA), want: logic.To(2)}, // revived on 3
			{in: 2, data: eth(macA, macB), want: logic.To(3)},
		}, stats: Stats{Learned: 3, Entries: 2}},
		{name: "refresh", opts: Options{MaxAge: 10 * time.Second}, steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 1, data: eth(macB, macA), want: logic.Flood, wait: 9 * time.Second},
			{in: 2, data: eth(macA, macB), want: logic.To(1), wait: 9 * time.Second},
			{in: 2, data: eth(macA, macB), want: logic.Flood, wait: time.Second},
		}, stats: Stats{Learned: 2, Entries: 2}},
		{name: "no aging", opts: Options{MaxAge: -1}, steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.To(1), wait: 100 * 365 * 24 * time.Hour},
		}, stats: Stats{Learned: 2, Entries: 2}},
		{name: "static", steps: []step{
			{do: func(t *testing.T, b *Bridge) { must(t, b.AddStatic(hw(macA), 0, 5)) }},
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.To(5), wait: 1000 * time.Hour},
			{in: 5, data: eth(macB, macA), want: logic.To(2)},
			{do: func(t *testing.T, b *Bridge) { b.Flush() }},
			{in: 3, data: eth(macA, macC), want: logic.To(5)},
			{do: func(t *testing.T, b *Bridge) { must(t, b.DeleteStatic(hw(macA), 0)) }},
			{in: 3, data: eth(macA, macC), want: logic.Flood},
		}, stats: Stats{Learned: 2, RefusedStaticMoves: 1, Entries: 1}},
		{name: "static converts a learned entry", steps: []step{
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{do: func(t *testing.T, b *Bridge) { must(t, b.AddStatic(hw(macA), 0, 4)) }},
			{in: 2, data: eth(macA, macB), want: logic.To(4)},
			{in: 1, data: eth(macB, macA), want: logic.To(2)},
		}, stats: Stats{Learned: 2, RefusedStaticMoves: 1, Entries: 2}},
		{name: "vlan aware", opts: aware, steps: []step{
			{in: 1, data: eth(macB, macA, 10), want: logic.Flood},
			{in: 2, data: eth(macA, macB, 20), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.Flood},
			{in: 3, data: eth(macA, macB, 10), want: logic.To(1)},
			{in: 4, data: eth(macA, macB, 10, 99), want: logic.To(1)}, // outer tag counts
			{in: 1, data: eth(macB, macA, 20), want: logic.To(2)},
			{in: 1, data: eth(macB, macA, 10, 1, 2), want: logic.DropMalformed},
			{in: 1, data: eth(macB, macA, 10)[:16], want: logic.DropMalformed},
		}, stats: Stats{Learned: 5, Moves: 1, Entries: 5}},
		{name: "vlan unaware", steps: []step{
			{in: 1, data: eth(macB, macA, 10), want: logic.Flood},
			{in: 2, data: eth(macA, macB, 20), want: logic.To(1)},
			{in: 1, data: eth(macB, macA, 10, 1, 2), want: logic.To(2)},
		}, stats: Stats{Learned: 2, Entries: 2}},
		{name: "port removed", steps: []step{
			{do: func(t *testing.T, b *Bridge) { must(t, b.AddStatic(hw(macC), 0, 1)) }},
			{in: 1, data: eth(macB, macA), want: logic.Flood},
			{in: 2, data: eth(macA, macB), want: logic.To(1)},
			{do: func(t *testing.T, b *Bridge) { b.PortAdded(3); b.PortRemoved(1) }},
			{in: 2, data: eth(macA, macB), want: logic.Flood},
			{in: 2, data: eth(macC, macB), want: logic.Flood},
			{in: 3, data: eth(macB, macA), want: logic.To(2)},
		}, stats: Stats{Learned: 3, Entries: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newBridge(t, tt.opts)
			for i, s := range tt.steps {
				clk.Advance(s.wait)
				if s.do != nil {
					s.do(t, b)
					continue
				}
				if got := send(b, s.in, s.data); got != s.want {
					t.Fatalf("step %d: got %v, want %v", i, got, s.want)
				}
			}
			if got := b.Stats(); got != tt.stats {
				t.Errorf("stats %+v, want %+v", got, tt.stats)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameBucket returns n distinct unicast MACs that hash to one bucket of b.
func sameBucket(b *Bridge, n int) []uint64 {
	var macs []uint64
	want := b.index(validBit | macA)
	for m := uint64(macA); len(macs) < n; m++ {
		if b.index(validBit|m) == want {
			macs = append(macs, m)
		}
	}
	return macs
}

func TestCollisions(t *testing.T) {
	b, clk := newBridge(t, Options{MaxEntries: 8, MaxAge: 10 * time.Second, Seed: 42})
	macs := sameBucket(b, ways+1)
	for i, m := range macs[:ways] {
		send(b, logic.PortID(i), eth(bcast, m))
	}
	clk.Advance(5 * time.Second)
	send(b, 9, eth(bcast, macs[ways]))
	send(b, 9, eth(bcast, macs[ways]))
	for i, m := range macs[:ways] {
		if got := send(b, 9, eth(m, macB)); got != logic.To(logic.PortID(i)) {
			t.Errorf("MAC %d: got %v after a collision, want port %d", i, got, i)
		}
	}
	if got := send(b, 1, eth(macs[ways], macB)); got != logic.Flood {
		t.Errorf("colliding MAC: got %v, want flood", got)
	}
	if s := b.Stats(); s.Collisions != 2 {
		t.Errorf("collisions %d, want 2", s.Collisions)
	}
	if err := b.AddStatic(hw(macs[ways]), 0, 1); !errors.Is(err, ErrCollision) {
		t.Errorf("AddStatic in a full bucket: %v, want ErrCollision", err)
	}
	// Refresh all but the first; once it expires its slot is reused.
	for i, m := range macs[1:ways] {
		send(b, logic.PortID(i+1), eth(bcast, m))
	}
	clk.Advance(5 * time.Second)
	send(b, 9, eth(bcast, macs[ways]))
	if got := send(b, 1, eth(macs[ways], macB)); got != logic.To(9) {
		t.Errorf("after expiry: got %v, want port 9", got)
	}
	if got := send(b, 1, eth(macs[0], macB)); got != logic.Flood {
		t.Errorf("expired MAC: got %v, want flood", got)
	}
	for i, m := range macs[1:ways] {
		if got := send(b, 9, eth(m, macB)); got != logic.To(logic.PortID(i+1)) {
			t.Errorf("MAC %d: got %v, want port %d", i+1, got, i+1)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	b, clk := newBridge(t, Options{MaxEntries: 8, MaxAge: 10 * time.Second, Seed: 7})
	// Fill the table without collisions: at most 3 MACs per bucket.
	perBucket := map[uint64]int{}
	var macs []uint64
	for m := uint64(macA); len(macs) < 12; m++ {
		if i := b.index(validBit | m); perBucket[i] < 3 {
			perBucket[i]++
			macs = append(macs, m)
		}
	}
	must(t, b.AddStatic(hw(macs[0]), 0, 100))
	for i, m := range macs[1:8] {
		send(b, logic.PortID(i), eth(bcast, m))
	}
	clk.Advance(5 * time.Second)
	for _, m := range macs[8:] {
		send(b, 50, eth(bcast, m))
	}
	s := b.Stats()
	if s.Full != 4 || s.Entries != 8 || s.Collisions != 0 {
		t.Errorf("stats %+v, want 4 full, 8 entries", s)
	}
	if err := b.AddStatic(hw(macs[8]), 0, 1); !errors.Is(err, ErrFull) {
		t.Errorf("AddStatic into a full table: %v, want ErrFull", err)
	}
	for _, m := range macs[8:] {
		if got := send(b, 1, eth(m, macs[1])); got != logic.Flood {
			t.Errorf("unlearned MAC: got %v, want flood", got)
		}
	}
	if got := send(b, 1, eth(macs[0], macs[1])); got != logic.To(100) {
		t.Errorf("static: got %v", got)
	}
	// Keep macs[1] alive; the other learned ones expire and get swept.
	clk.Advance(5 * time.Second)
	for _, m := range macs[8:] {
		send(b, 50, eth(bcast, m))
	}
	if got := len(b.Dump()); got != 2+4 {
		t.Errorf("%d live entries after the sweep, want 6: %v", got, b.Dump())
	}
	if got := send(b, 1, eth(macs[9], macs[1])); got != logic.To(50) {
		t.Errorf("after the sweep: got %v, want port 50", got)
	}
}

func TestDumpAndErrors(t *testing.T) {
	b, clk := newBridge(t, Options{VLANAware: true})
	send(b, 3, eth(bcast, macB, 20))
	send(b, 1, eth(bcast, macB, 10))
	clk.Advance(7 * time.Second)
	send(b, 2, eth(bcast, macA, 10))
	must(t, b.AddStatic(hw(macC), 0, 9))
	got := b.Dump()
	want := []Entry{
		{MAC: hw(macC), VLAN: 0, Port: 9, Static: true},
		{MAC: hw(macA), VLAN: 10, Port: 2},
		{MAC: hw(macB), VLAN: 10, Port: 1, Age: 7 * time.Second},
		{MAC: hw(macB), VLAN: 20, Port: 3, Age: 7 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("dump %v, want %v", got, want)
	}
	for i := range got {
		if got[i].MAC.String() != want[i].MAC.String() || got[i].VLAN != want[i].VLAN ||
			got[i].Port != want[i].Port || got[i].Static != want[i].Static || got[i].Age != want[i].Age {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	b.Flush()
	if got := b.Dump(); len(got) != 1 || !got[0].Static {
		t.Errorf("after flush: %v", got)
	}

	for _, tc := range []struct {
		err  error
		want error
	}{
		{b.AddStatic(hw(mcast), 0, 1), ErrBadMAC},
		{b.AddStatic(net.HardwareAddr{1, 2, 3}, 0, 1), ErrBadMAC},
		{b.AddStatic(hw(macA), 4096, 1), ErrBadVLAN},
		{b.AddStatic(hw(macA), 1, logic.MaxPorts), ErrBadPort},
		{b.DeleteStatic(hw(macA), 10), ErrNotFound},
		{b.DeleteStatic(hw(macC), 10), ErrNotFound},
		{b.DeleteStatic(hw(bcast), 10), ErrBadMAC},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("got %v, want %v", tc.err, tc.want)
		}
	}
	for _, n := range []int{-1, MaxEntriesLimit + 1} {
		if _, err := NewWithOptions(Options{MaxEntries: n}); !errors.Is(err, ErrBadOption) {
			t.Errorf("MaxEntries %d: %v, want ErrBadOption", n, err)
		}
	}
	if l, err := logic.New("learning"); err != nil {
		t.Error(err)
	} else if _, ok := l.(*Bridge); !ok {
		t.Errorf("registered module is %T", l)
	}
}

func TestLookupAllocs(t *testing.T) {
	b := New()
	pkts := make([]logic.Packet, 64)
	for i := range pkts {
		pkts[i].Data = eth(macA+uint64(i%7), macB+uint64(i%5))
	}
	b.Lookup(pkts, 1)
	if n := testing.AllocsPerRun(100, func() { b.Lookup(pkts, 1) }); n != 0 {
		t.Errorf("Lookup allocates %v times per batch", n)
	}
}

func TestBucketSize(t *testing.T) {
	if n := unsafe.Sizeof(bucket{}); n != 128 {
		t.Errorf("bucket is %d bytes, want 128 (two cache lines)", n)
	}
}
