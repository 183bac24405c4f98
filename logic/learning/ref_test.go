package learning

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
)

// refBridge is the slow reference: a plain map with the same semantics.
// It borrows only the bucket function, to know which MACs collide.
type refBridge struct {
	m         map[uint64]refEntry
	max       int
	maxAge    uint64
	vlanAware bool
	bucket    func(uint64) uint64
	stats     Stats // Entries unused
}

type refEntry struct {
	port   logic.PortID
	static bool
	seen   uint32
}

func (r *refBridge) live(e refEntry, now uint32) bool {
	return e.static || uint64(e.seen)+r.maxAge > uint64(now)
}

// get returns the live entry of k, forgetting an expired one.
func (r *refBridge) get(k uint64, now uint32) (refEntry, bool) {
	e, ok := r.m[k]
	if ok && !r.live(e, now) {
		delete(r.m, k)
		return e, false
	}
	return e, ok
}

// room returns nil if a new key k may be inserted, else why not.
func (r *refBridge) room(k uint64, now uint32) error {
	total, same := 0, 0
	for k2, e := range r.m {
		if r.live(e, now) {
			total++
			if r.bucket(k2) == r.bucket(k) {
				same++
			}
		}
	}
	switch {
	case same >= ways:
		return ErrCollision
	case total >= r.max:
		return ErrFull
	}
	return nil
}

func (r *refBridge) decide(d []byte, in logic.PortID, now uint32) logic.Dst {
	if len(d) < 14 {
		return logic.DropMalformed
	}
	var vid uint64
	if r.vlanAware {
		_, _, v, ok := frame.L3(d)
		if !ok {
			return logic.DropMalformed
		}
		vid = uint64(v) << 48
	}
	if src := frame.Src(d); !frame.IsMulticast(src) {
		k := validBit | vid | src
		if e, ok := r.get(k, now); ok {
			switch {
			case e.static:
				if e.port != in {
					r.stats.RefusedStaticMoves++
				}
			case e.port != in:
				r.stats.Moves++
				fallthrough
			default:
				r.m[k] = refEntry{port: in, seen: now}
			}
		} else if err := r.room(k, now); err == ErrCollision {
			r.stats.Collisions++
		} else if err == ErrFull {
			r.stats.Full++
		} else {
			r.stats.Learned++
			r.m[k] = refEntry{port: in, seen: now}
		}
	}
	dst := frame.Dst(d)
	if frame.IsMulticast(dst) {
		return logic.Flood
	}
	if e, ok := r.get(validBit|vid|dst, now); ok {
		return logic.To(e.port)
	}
	return logic.Flood
}

func (r *refBridge) addStatic(k uint64, port logic.PortID, now uint32) error {
	if _, ok := r.get(k, now); !ok {
		if err := r.room(k, now); err != nil {
			return err
		}
	}
	r.m[k] = refEntry{port: port, static: true}
	return nil
}

func (r *refBridge) deleteIf(del func(e refEntry) bool) {
	for k, e := range r.m {
		if del(e) {
			delete(r.m, k)
		}
	}
}

func (r *refBridge) dump(now uint32) []string {
	var out []string
	for k, e := range r.m {
		if r.live(e, now) {
			age := time.Duration(0)
			if !e.static {
				age = time.Duration(now-e.seen) * time.Second
			}
			out = append(out, fmt.Sprintf("vlan %4d %v port %d static %v age %v",
				k>>48&0xfff, hw(k&macMask), e.port, e.static, age))
		}
	}
	slices.Sort(out) // fixed-width VLAN, then MAC: the order Dump uses
	return out
}

func dumpStrings(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("vlan %4d %v port %d static %v age %v", e.VLAN, e.MAC, e.Port, e.Static, e.Age))
	}
	return out
}

func TestAgainstReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"small", Options{MaxEntries: 12, MaxAge: 20 * time.Second}},
		{"small-vlan", Options{MaxEntries: 12, MaxAge: 20 * time.Second, VLANAware: true}},
		{"short-age-vlan", Options{MaxEntries: 40, MaxAge: 5 * time.Second, VLANAware: true}},
		{"default-size", Options{MaxAge: 20 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Seed = 42
			compare(t, tc.opts, rand.New(rand.NewPCG(1, 2)), 20000)
		})
	}
}

func compare(t *testing.T, opts Options, rng *rand.Rand, iters int) {
	b, clk := newBridge(t, opts)
	r := &refBridge{m: map[uint64]refEntry{}, max: int(b.maxCount), maxAge: b.maxAge,
		vlanAware: opts.VLANAware, bucket: b.index}
	macs := make([]uint64, 40)
	for i := range macs {
		macs[i] = 0x02_00_00_00_00_00 | rng.Uint64N(1<<24)
	}
	vids := []uint16{0, 10, 20}
	pick := func() uint64 { return macs[rng.IntN(len(macs))] }
	randFrame := func() []byte {
		src, dst := pick(), pick()
		switch rng.IntN(20) {
		case 0:
			dst = bcast
		case 1:
			dst = mcast
		case 2:
			src = mcast
		}
		var f []byte
		switch rng.IntN(10) {
		case 0:
			f = eth(dst, src, vids[rng.IntN(3)], 5)
		case 1:
			f = eth(dst, src, vids[rng.IntN(3)], 5, 6) // too many tags
		case 2, 3, 4:
			f = eth(dst, src, vids[rng.IntN(3)])
		default:
			f = eth(dst, src)
		}
		if rng.IntN(30) == 0 {
			f = f[:rng.IntN(20)]
		}
		return f
	}
	key := func(m uint64, vid uint16) uint64 {
		if !opts.VLANAware {
			vid = 0
		}
		return validBit | uint64(vid)<<48 | m
	}
	pkts := make([]logic.Packet, 8)
	for it := 0; it < iters; it++ {
		now := b.clock()
		switch op := rng.IntN(100); {
		case op < 80:
			n := 1 + rng.IntN(len(pkts))
			in := logic.PortID(rng.IntN(6))
			for i := range n {
				if i > 0 && rng.IntN(2) == 0 {
					pkts[i].Data = pkts[i-1].Data // runs of one flow
				} else {
					pkts[i].Data = randFrame()
				}
			}
			b.Lookup(pkts[:n], in)
			for i := range n {
				if want := r.decide(pkts[i].Data, in, now); pkts[i].Dst != want {
					t.Fatalf("iteration %d packet %d (% x) on port %d: got %v, want %v",
						it, i, pkts[i].Data, in, pkts[i].Dst, want)
				}
			}
		case op < 90:
			clk.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case op < 93:
			m, vid, port := pick(), vids[rng.IntN(3)], logic.PortID(rng.IntN(8))
			err, want := b.AddStatic(hw(m), vid, port), r.addStatic(key(m, vid), port, now)
			if !errors.Is(err, want) || (err != nil) != (want != nil) {
				t.Fatalf("iteration %d: AddStatic: %v, want %v", it, err, want)
			}
		case op < 96:
			m, vid := pick(), vids[rng.IntN(3)]
			var want error
			if e, ok := r.m[key(m, vid)]; ok && e.static {
				delete(r.m, key(m, vid))
			} else {
				want = ErrNotFound
			}
			if err := b.DeleteStatic(hw(m), vid); !errors.Is(err, want) || (err != nil) != (want != nil) {
				t.Fatalf("iteration %d: DeleteStatic: %v, want %v", it, err, want)
			}
		case op < 98:
			p := logic.PortID(rng.IntN(8))
			b.PortRemoved(p)
			r.deleteIf(func(e refEntry) bool { return e.port == p })
		case op < 99:
			b.Flush()
			r.deleteIf(func(e refEntry) bool { return !e.static })
		default:
			got, want := dumpStrings(b.Dump()), r.dump(now)
			if !slices.Equal(got, want) {
				t.Fatalf("iteration %d: dump\n%v\nwant\n%v", it, got, want)
			}
		}
		got := b.Stats()
		got.Entries = 0
		if got != r.stats {
			t.Fatalf("iteration %d: stats %+v, want %+v", it, got, r.stats)
		}
		if len(b.buckets) <= 64 || it%256 == 0 {
			checkTable(t, b)
		}
	}
	checkTable(t, b)
	s := b.Stats()
	t.Logf("stats %+v", s)
	if s.Learned == 0 || s.Moves == 0 || s.RefusedStaticMoves == 0 {
		t.Errorf("the test did not exercise learning: %+v", s)
	}
	if opts.MaxEntries != 0 && s.Full == 0 {
		t.Errorf("the test did not reach the size limit: %+v", s)
	}
}

// checkTable checks the table's invariants: no key twice in a bucket, keys
// in the right bucket, count equal to the occupied slots and within the
// limit, every bucket's sequence even.
func checkTable(t *testing.T, b *Bridge) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	n := uint64(0)
	for i := range b.buckets {
		bk := &b.buckets[i]
		if bk.seq.Load()&1 != 0 {
			t.Fatalf("bucket %d: odd sequence", i)
		}
		var keys []uint64
		for j := range ways {
			k := bk.slot[j].key.Load()
			if k == 0 {
				continue
			}
			n++
			if b.index(k) != uint64(i) || slices.Contains(keys, k) {
				t.Fatalf("bucket %d: misplaced or duplicate key %#x", i, k)
			}
			keys = append(keys, k)
		}
	}
	if c := b.count.Load(); c != n || c > b.maxCount {
		t.Fatalf("count %d, occupied %d, limit %d", c, n, b.maxCount)
	}
}

// Dump's order is VLAN then MAC bytes; the reference's fixed-width strings
// sort the same way only if MACs print with lowercase, fixed-width hex.
func TestDumpStringOrder(t *testing.T) {
	a, c := hw(0x02_00_00_00_0a_00).String(), hw(0x02_00_00_00_0b_00).String()
	if bytes.Compare(hw(0x02_00_00_00_0a_00), hw(0x02_00_00_00_0b_00)) >= 0 || a >= c {
		t.Fatal("MAC strings do not sort as bytes")
	}
}
