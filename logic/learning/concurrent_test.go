package learning

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/logic"
)

// TestConcurrent runs readers on four ports, each MAC appearing on two of
// them so that entries keep moving, against a writer that ages, adds and
// deletes static entries, removes ports and flushes. A table that paired
// one MAC's key with another's value would send a packet to a port its
// destination never used; the test checks that this never happens.
func TestConcurrent(t *testing.T) {
	for _, aware := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "vlan"}[aware], func(t *testing.T) {
			testConcurrent(t, Options{MaxEntries: 48, MaxAge: 2 * time.Second, VLANAware: aware, Seed: 3})
		})
	}
}

func testConcurrent(t *testing.T, opts Options) {
	const readers, batches, batch = 4, 1500, 32
	b, clk := newBridge(t, opts)
	allowed := map[uint64][]logic.PortID{}
	var learned, static []uint64
	for i := range 64 {
		m := uint64(0x02_00_00_00_10_00 + i)
		learned = append(learned, m)
		allowed[m] = []logic.PortID{logic.PortID(i % readers), logic.PortID((i + 1) % readers)}
	}
	staticPort := func(j int) logic.PortID { return logic.PortID(10 + j%2) }
	for j := range 8 {
		m := uint64(0x02_00_00_00_20_00 + j)
		static = append(static, m)
		allowed[m] = []logic.PortID{0, staticPort(j)} // port 0 also sends them
	}
	check := func(what string, dst uint64, d logic.Dst) {
		if d == logic.Flood {
			return
		}
		if p, ok := d.Port(); !ok || !slices.Contains(allowed[dst], p) {
			t.Errorf("%s: MAC %v sent to %v, but it only uses ports %v", what, hw(dst), d, allowed[dst])
		}
	}

	var wg sync.WaitGroup
	var done atomic.Int32
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			rng := rand.New(rand.NewPCG(9, uint64(g)))
			in := logic.PortID(g)
			var mine []uint64
			for m, ports := range allowed {
				if slices.Contains(ports, in) && ports[1] < 10 {
					mine = append(mine, m)
				}
			}
			if g == 0 {
				mine = append(mine, static...)
			}
			pkts := make([]logic.Packet, batch)
			dsts := make([]uint64, batch)
			for range batches {
				for i := range pkts {
					src := mine[rng.IntN(len(mine))]
					dsts[i] = learned[rng.IntN(len(learned))]
					if rng.IntN(4) == 0 {
						dsts[i] = static[rng.IntN(len(static))]
					}
					var vids []uint16
					if rng.IntN(2) == 0 {
						vids = append(vids, 7)
					}
					pkts[i] = logic.Packet{Data: eth(dsts[i], src, vids...), Dst: logic.Drop}
				}
				b.Lookup(pkts, in)
				for i := range pkts {
					check("lookup", dsts[i], pkts[i].Dst)
				}
			}
		}()
	}

	rng := rand.New(rand.NewPCG(9, 99))
	for n := 0; done.Load() < readers; n++ {
		clk.Advance(time.Duration(rng.IntN(300)) * time.Millisecond)
		j := rng.IntN(len(static))
		switch rng.IntN(10) {
		case 0, 1, 2:
			b.AddStatic(hw(static[j]), 7, staticPort(j)) // may collide or find the table full
		case 3, 4:
			b.DeleteStatic(hw(static[j]), 7)
		case 5:
			b.PortRemoved(logic.PortID(rng.IntN(readers)))
		case 6:
			b.Flush()
		default:
			for _, e := range b.Dump() {
				var m uint64
				for _, c := range e.MAC {
					m = m<<8 | uint64(c)
				}
				check("dump", m, logic.To(e.Port))
			}
		}
		if n%16 == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	wg.Wait()
	checkTable(t, b)
	s := b.Stats()
	t.Logf("stats %+v", s)
	if s.Moves == 0 || s.Learned == 0 {
		t.Errorf("no moves or learning: %+v", s)
	}
}

// TestSlotReuse hammers one bucket: a writer keeps learning MACs that share
// it, each on a port of its own, ageing them out right away so that every
// new MAC takes over the slot of an expired one, while a reader looks them
// up. A reader that paired a key with the value of the slot's next occupant
// would see a MAC on another MAC's port.
func TestSlotReuse(t *testing.T) {
	b, clk := newBridge(t, Options{MaxEntries: 64, MaxAge: time.Second, Seed: 5})
	macs := sameBucket(b, 8)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := make([]logic.Packet, 1)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			j := i % len(macs)
			if j%4 == 0 {
				clk.Advance(time.Second)
			}
			p[0] = logic.Packet{Data: eth(bcast, macs[j])}
			b.Lookup(p, logic.PortID(j))
		}
	}()
	pkts := make([]logic.Packet, len(macs))
	for i, m := range macs {
		pkts[i].Data = eth(m, macB)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		b.Lookup(pkts, 100)
		for i := range pkts {
			if d := pkts[i].Dst; d != logic.Flood && d != logic.To(logic.PortID(i)) {
				t.Fatalf("MAC %d sent to %v", i, d)
			}
		}
	}
	close(stop)
	wg.Wait()
	checkTable(t, b)
	if s := b.Stats(); s.Learned < 100 {
		t.Errorf("only %d MACs learned", s.Learned)
	}
}
