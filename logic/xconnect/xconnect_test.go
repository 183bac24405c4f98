package xconnect_test

import (
	"errors"
	"maps"
	"sync"
	"testing"

	"github.com/mswitch/mswitch/frame/frametest"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/xconnect"
)

type P = logic.PortID

// lookup runs one batch of n packets (of the given bytes) from in and
// checks that every packet got the same destination, which it returns.
func lookup(t testing.TB, x logic.Logic, in P, n int, data []byte) logic.Dst {
	t.Helper()
	pkts := make([]logic.Packet, n)
	for i := range pkts {
		pkts[i] = logic.Packet{Data: data, Dst: logic.Flood}
	}
	x.Lookup(pkts, in)
	for i := range pkts {
		if pkts[i].Dst != pkts[0].Dst {
			t.Fatalf("packet %d: %v, packet 0: %v", i, pkts[i].Dst, pkts[0].Dst)
		}
	}
	return pkts[0].Dst
}

func TestLookup(t *testing.T) {
	type conn struct {
		pair    bool
		in, out P
	}
	for _, tc := range []struct {
		name  string
		conns []conn
		want  map[P]logic.Dst // input port -> destination; others: Drop
	}{
		{"empty", nil, nil},
		{"connect", []conn{{false, 1, 2}}, map[P]logic.Dst{1: 2}},
		{"connect-one-way", []conn{{false, 2, 1}}, map[P]logic.Dst{2: 1}},
		{"pair", []conn{{true, 1, 2}}, map[P]logic.Dst{1: 2, 2: 1}},
		{"replace", []conn{{true, 1, 2}, {false, 1, 3}}, map[P]logic.Dst{1: 3, 2: 1}},
		{"fan-in", []conn{{false, 1, 0}, {false, 2, 0}, {false, 3, 0}}, map[P]logic.Dst{1: 0, 2: 0, 3: 0}},
		{"port-zero", []conn{{true, 0, 7}}, map[P]logic.Dst{0: 7, 7: 0}},
		{"highest-port", []conn{{true, logic.MaxPorts - 1, 5}}, map[P]logic.Dst{logic.MaxPorts - 1: 5, 5: logic.MaxPorts - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := xconnect.New()
			wantMap := map[P]P{}
			for _, c := range tc.conns {
				var err error
				if c.pair {
					err = x.Pair(c.in, c.out)
				} else {
					err = x.Connect(c.in, c.out)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			for in, d := range tc.want {
				wantMap[in], _ = d.Port()
			}
			if got := x.Map(); !maps.Equal(got, wantMap) {
				t.Errorf("Map() = %v, want %v", got, wantMap)
			}
			for _, in := range []P{0, 1, 2, 3, 4, 5, 7, 100, logic.MaxPorts - 1, logic.MaxPorts, 0xffff} {
				want, ok := tc.want[in]
				if !ok {
					want = logic.Drop
				}
				for _, n := range []int{1, 3} {
					if got := lookup(t, x, in, n, nil); got != want {
						t.Errorf("Lookup(%d pkts from %d) = %v, want %v", n, in, got, want)
					}
				}
			}
		})
	}
}

// TestAnyBytes checks that xconnect forwards packets it cannot parse.
func TestAnyBytes(t *testing.T) {
	x := xconnect.New()
	if err := x.Connect(1, 2); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{nil, {}, {0xff}, make([]byte, 13), frametest.ARP()} {
		if got := lookup(t, x, 1, 1, b); got != logic.To(2) {
			t.Errorf("Lookup(%d bytes) = %v, want port 2", len(b), got)
		}
	}
}

func TestErrors(t *testing.T) {
	x := xconnect.New()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"connect-self", x.Connect(3, 3), xconnect.ErrSamePort},
		{"pair-self", x.Pair(3, 3), xconnect.ErrSamePort},
		{"connect-bad-in", x.Connect(logic.MaxPorts, 1), xconnect.ErrBadPort},
		{"connect-bad-out", x.Connect(1, 0xffff), xconnect.ErrBadPort},
		{"pair-bad", x.Pair(1, logic.MaxPorts), xconnect.ErrBadPort},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if m := x.Map(); len(m) != 0 {
		t.Errorf("failed calls changed the map: %v", m)
	}
}

func TestDisconnect(t *testing.T) {
	x := xconnect.New()
	x.Pair(1, 2)
	x.Disconnect(1)
	x.Disconnect(9) // not mapped: no-op
	if got, want := x.Map(), map[P]P{2: 1}; !maps.Equal(got, want) {
		t.Errorf("Map() = %v, want %v", got, want)
	}
	if got := lookup(t, x, 1, 1, nil); got != logic.Drop {
		t.Errorf("Lookup from disconnected port = %v", got)
	}
}

func TestPortRemoved(t *testing.T) {
	x := xconnect.New()
	x.Pair(1, 2)
	x.Pair(3, 4)
	x.Connect(5, 2)
	x.Connect(6, 1)
	x.PortAdded(7) // no effect
	x.PortRemoved(2)
	if got, want := x.Map(), map[P]P{3: 4, 4: 3, 6: 1}; !maps.Equal(got, want) {
		t.Errorf("Map() = %v, want %v", got, want)
	}
	for in, want := range map[P]logic.Dst{1: logic.Drop, 2: logic.Drop, 5: logic.Drop, 6: 1, 3: 4} {
		if got := lookup(t, x, in, 2, nil); got != want {
			t.Errorf("Lookup from %d = %v, want %v", in, got, want)
		}
	}
	// The ID is reused by a new port: it starts unconnected.
	x.PortAdded(2)
	if got := lookup(t, x, 2, 1, nil); got != logic.Drop {
		t.Errorf("Lookup from reused port = %v", got)
	}
}

func TestRegistered(t *testing.T) {
	l, err := logic.New("xconnect")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*xconnect.XConnect); !ok {
		t.Fatalf("logic.New(xconnect) = %T", l)
	}
}

// TestConcurrent changes the map while other goroutines run lookups (run
// with -race). Each batch must be decided by one table: every packet gets
// the same destination, one that some version of the map gave.
func TestConcurrent(t *testing.T) {
	x := xconnect.New()
	x.Pair(1, 2)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		in := P(1 + g%2)
		wg.Go(func() {
			pkts := make([]logic.Packet, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				x.Lookup(pkts, in)
				d := pkts[0].Dst
				if d != logic.Drop && d != 1 && d != 2 && d != 3 && d != 4 {
					t.Errorf("Lookup from %d = %v", in, d)
					return
				}
				for i := range pkts {
					if pkts[i].Dst != d {
						t.Errorf("batch split: %v and %v", d, pkts[i].Dst)
						return
					}
				}
			}
		})
	}
	for i := range 2000 {
		switch i % 4 {
		case 0:
			x.Connect(1, 3)
		case 1:
			x.Pair(1, 2)
		case 2:
			x.PortRemoved(2)
		case 3:
			x.Connect(2, 4)
		}
		_ = x.Map()
	}
	close(stop)
	wg.Wait()
}

func TestAllocs(t *testing.T) {
	x := xconnect.New()
	x.Pair(1, 2)
	pkts := make([]logic.Packet, 256)
	if n := testing.AllocsPerRun(100, func() { x.Lookup(pkts, 1) }); n != 0 {
		t.Errorf("Lookup allocates %v times per batch", n)
	}
}

func FuzzLookup(f *testing.F) {
	for _, c := range frametest.Captures {
		f.Add(c.Bytes(), uint16(1), uint16(2), uint16(1))
	}
	f.Add([]byte{}, uint16(0), uint16(0), uint16(0))
	f.Add([]byte{1}, uint16(logic.MaxPorts-1), uint16(0), uint16(logic.MaxPorts-1))
	f.Fuzz(func(t *testing.T, b []byte, in, out, from uint16) {
		x := xconnect.New()
		err := x.Connect(P(in), P(out))
		pkts := []logic.Packet{{Data: b}, {Data: b[:len(b)/2]}}
		x.Lookup(pkts, P(from))
		want := logic.Drop
		if err == nil && from == in {
			want = logic.To(P(out))
		}
		for _, p := range pkts {
			if p.Dst != want {
				t.Fatalf("Connect(%d, %d) = %v; Lookup from %d = %v, want %v", in, out, err, from, p.Dst, want)
			}
			if _, ok := p.Dst.Port(); !ok && p.Dst != logic.Drop {
				t.Fatalf("invalid destination %v", p.Dst)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	x := xconnect.New()
	x.Pair(1, 2)
	frame := frametest.Frame(frametest.Ethernet(0x0800), frametest.IPv4{Proto: 17}.Build(frametest.UDP(1000, 2000, nil)))
	pkts := make([]logic.Packet, 1024)
	for i := range pkts {
		pkts[i].Data = frame
	}
	b.ReportAllocs()
	for b.Loop() {
		x.Lookup(pkts, 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}
