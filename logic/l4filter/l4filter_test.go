package l4filter_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/l4filter"
)

const (
	tcp = frame.ProtoTCP
	udp = frame.ProtoUDP
)

// rules is the rule set of the table tests.
var rules = []l4filter.Rule{
	{Proto: tcp, Port: 22, Out: 5},
	{Proto: tcp, Port: 80, Out: 3},
	{Proto: tcp, Port: 443, Out: 7},
	{Proto: udp, Port: 53, Out: 4},
	{Proto: udp, Port: 5353, Out: 6},
}

func newFilter(t testing.TB) *l4filter.Filter {
	t.Helper()
	f := l4filter.New()
	for _, r := range rules {
		if err := f.Add(r.Proto, r.Port, r.Out); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func eth4(proto uint8, l4 []byte, tags ...ft.VLAN) []byte {
	return ft.Frame(ft.Ethernet(frame.TypeIPv4, tags...), ft.IPv4{Proto: proto}.Build(l4))
}

func eth6(h ft.IPv6, l4 []byte, tags ...ft.VLAN) []byte {
	return ft.Frame(ft.Ethernet(frame.TypeIPv6, tags...), h.Build(l4))
}

var (
	dot1q = ft.VLAN{TPID: frame.TypeVLAN, VID: 10}
	dot1s = ft.VLAN{TPID: frame.TypeQinQ, VID: 100}
)

// outcome names what Stats should count for a packet.
type outcome int

const (
	matched outcome = iota
	unmatched
	notL4
	malformed
)

func (o outcome) dst(port logic.PortID) logic.Dst {
	switch o {
	case matched:
		return logic.To(port)
	case malformed:
		return logic.DropMalformed
	}
	return logic.Drop
}

func (o outcome) stats() l4filter.Stats {
	var s l4filter.Stats
	*[]*uint64{&s.Matched, &s.Unmatched, &s.NotL4, &s.Malformed}[o]++
	return s
}

// jumbo returns an IPv6 frame with a hop-by-hop header and a payload length
// of zero, as a jumbogram has.
func jumbo() []byte {
	b := eth6(ft.IPv6{Next: udp, Ext: []ft.Ext{{Type: ft.HopByHop}}}, ft.UDP(1000, 53, nil))
	b[18], b[19] = 0, 0
	return b
}

type testCase struct {
	name string
	b    []byte
	want outcome
	port logic.PortID // when matched
}

var cases = []testCase{
	{"tcp-dst", eth4(tcp, ft.TCP(40000, 80)), matched, 3},
	{"tcp-src", eth4(tcp, ft.TCP(80, 40000)), matched, 3},
	{"tcp-dst-before-src", eth4(tcp, ft.TCP(22, 80)), matched, 3},
	{"tcp-dst-before-src-reversed", eth4(tcp, ft.TCP(80, 22)), matched, 5},
	{"udp-dst", eth4(udp, ft.UDP(1000, 53, nil)), matched, 4},
	{"udp-src", eth4(udp, ft.UDP(53, 1000, nil)), matched, 4},
	{"udp-dst-before-src", eth4(udp, ft.UDP(53, 5353, nil)), matched, 6},
	{"tcp-no-match", eth4(tcp, ft.TCP(1, 2)), unmatched, 0},
	{"udp-port-of-tcp-rule", eth4(udp, ft.UDP(1000, 80, nil)), unmatched, 0},
	{"tcp-port-of-udp-rule", eth4(tcp, ft.TCP(53, 1000)), unmatched, 0},
	{"vlan-tcp", eth4(tcp, ft.TCP(40000, 443), dot1q), matched, 7},
	{"qinq-udp", eth4(udp, ft.UDP(1000, 53, nil), dot1s, dot1q), matched, 4},
	{"qinq-ipv6-tcp", eth6(ft.IPv6{Next: tcp}, ft.TCP(80, 1), dot1s, dot1q), matched, 3},
	{"ipv6-tcp", eth6(ft.IPv6{Next: tcp}, ft.TCP(40000, 80)), matched, 3},
	{"ipv6-udp-no-match", eth6(ft.IPv6{Next: udp}, ft.UDP(1, 2, nil)), unmatched, 0},
	{
		"ipv6-ext-headers",
		eth6(ft.IPv6{Next: udp, Ext: []ft.Ext{{Type: ft.HopByHop}, {Type: ft.DestOpts, Len: 2}, {Type: ft.Routing, Len: 1}}}, ft.UDP(5353, 9, nil)),
		matched, 6,
	},
	{"ipv6-first-fragment", eth6(ft.IPv6{Next: udp, Ext: []ft.Ext{{Type: ft.Fragment, More: true}}}, ft.UDP(1, 53, nil)), matched, 4},
	{"ipv6-jumbo-length", jumbo(), matched, 4},
	{"ipv4-options-ihl6", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, Options: 4}.Build(ft.UDP(1, 53, nil))), matched, 4},
	{"ipv4-options-ihl15", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: tcp, Options: 40}.Build(ft.TCP(80, 1))), matched, 3},
	{"ipv4-first-fragment", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, More: true}.Build(ft.UDP(1, 53, make([]byte, 64)))), matched, 4},
	{"ipv4-payload-beyond-buffer", eth4(udp, ft.UDP(1, 53, make([]byte, 100)))[:50], matched, 4},

	{"arp", ft.ARP(), notL4, 0},
	{"lldp", ft.Frame(ft.Ethernet(0x88cc)), notL4, 0},
	{"ethernet-header-only", ft.Ethernet(0x88cc), notL4, 0},
	{"ipv4-icmp", eth4(frame.ProtoICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1}), notL4, 0},
	{"ipv6-icmpv6", eth6(ft.IPv6{Next: frame.ProtoICMPv6}, []byte{128, 0, 0, 0, 0, 1, 0, 1}), notL4, 0},
	{"ipv6-no-next-header", eth6(ft.IPv6{Next: 59}, nil), notL4, 0},
	{"ipv4-later-fragment", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, FragOffset: 1}.Build(ft.UDP(1, 53, nil))), notL4, 0},
	{"vlan-ipv4-later-fragment", ft.Frame(ft.Ethernet(frame.TypeIPv4, dot1q), ft.IPv4{Proto: tcp, FragOffset: 8191, Options: 8}.Build(ft.TCP(80, 80))), notL4, 0},
	{"ipv6-later-fragment", eth6(ft.IPv6{Next: udp, Ext: []ft.Ext{{Type: ft.Fragment, FragOffset: 3}}}, ft.UDP(1, 53, nil)), notL4, 0},
	{"ipv6-hbh-later-fragment", eth6(ft.IPv6{Next: tcp, Ext: []ft.Ext{{Type: ft.HopByHop}, {Type: ft.Fragment, FragOffset: 3, More: true}}}, ft.TCP(1, 80)), notL4, 0},

	{"empty", nil, malformed, 0},
	{"runt-13", make([]byte, 13), malformed, 0},
	{"three-tags", eth4(udp, ft.UDP(1, 53, nil), dot1s, dot1q, dot1q), malformed, 0},
	{"cut-tag", ft.Ethernet(frame.TypeIPv4, dot1q)[:16], malformed, 0},
	{"ipv4-ihl4", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, IHL: 4}.Build(ft.UDP(1, 53, nil))), malformed, 0},
	{"ipv4-ihl4-fragment", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, IHL: 4, FragOffset: 1}.Build(ft.UDP(1, 53, nil))), malformed, 0},
	{"ipv4-ihl-beyond-buffer", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, IHL: 15, TotalLen: 100}.Build(ft.UDP(1, 53, nil))), malformed, 0},
	{"ipv4-total-below-ihl", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, TotalLen: 19}.Build(ft.UDP(1, 53, nil))), malformed, 0},
	{"ipv4-bad-version", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv6{Next: udp}.Build(ft.UDP(1, 53, nil))), malformed, 0},
	{"ipv6-bad-version", ft.Frame(ft.Ethernet(frame.TypeIPv6), ft.IPv4{Proto: udp}.Build(ft.UDP(1, 53, make([]byte, 40)))), malformed, 0},
	// The UDP header lies in the Ethernet padding, behind the IP packet.
	{"ipv4-udp-in-padding", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, TotalLen: 20}.Build(ft.UDP(53, 53, nil))), malformed, 0},
	{"ipv4-udp-cut-by-total", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: udp, TotalLen: 27}.Build(ft.UDP(53, 53, nil))), malformed, 0},
	{"ipv4-tcp-cut-by-total", ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: tcp, TotalLen: 39}.Build(ft.TCP(80, 80))), malformed, 0},
	{"ipv6-udp-cut-by-length", eth6(ft.IPv6{Next: udp, PayloadLen: 4}, ft.UDP(53, 53, nil)), malformed, 0},
	{"ipv6-ext-cut-by-length", eth6(ft.IPv6{Next: udp, PayloadLen: 8, Ext: []ft.Ext{{Type: ft.DestOpts, Len: 1}}}, ft.UDP(53, 53, nil)), malformed, 0},
	{
		"ipv6-too-many-ext-headers",
		eth6(ft.IPv6{Next: udp, Ext: []ft.Ext{{Type: 0}, {Type: 60}, {Type: 60}, {Type: 60}, {Type: 60}, {Type: 60}, {Type: 60}, {Type: 60}}}, ft.UDP(1, 53, nil)),
		malformed, 0,
	},
	{"tcp-header-cut", eth4(tcp, ft.TCP(40000, 80))[:14+20+19], malformed, 0},
	{"udp-header-cut", eth4(udp, ft.UDP(1000, 53, nil))[:14+20+7], malformed, 0},
}

func init() {
	for _, c := range ft.Captures {
		tc := testCase{name: "capture-" + c.Name, b: c.Bytes(), want: notL4}
		if c.Proto != 0 {
			tc.want = unmatched
			for _, r := range rules {
				if r.Proto == c.Proto && (r.Port == c.Dst || r.Port == c.Src && tc.want != matched) {
					tc.want, tc.port = matched, r.Out
				}
			}
		}
		cases = append(cases, tc)
	}
}

func lookup1(f *l4filter.Filter, b []byte) logic.Dst {
	pkts := []logic.Packet{{Data: b, Dst: logic.Flood}}
	f.Lookup(pkts, 1)
	return pkts[0].Dst
}

func TestLookup(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFilter(t)
			if got, want := lookup1(f, tc.b), tc.want.dst(tc.port); got != want {
				t.Errorf("Lookup = %v, want %v", got, want)
			}
			if got, want := f.Stats(), tc.want.stats(); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

// TestBatch looks every case up in one batch and checks the counters add up.
func TestBatch(t *testing.T) {
	f := newFilter(t)
	pkts := make([]logic.Packet, len(cases))
	var want l4filter.Stats
	for i, tc := range cases {
		pkts[i].Data = tc.b
		s := tc.want.stats()
		want.Matched += s.Matched
		want.Unmatched += s.Unmatched
		want.NotL4 += s.NotL4
		want.Malformed += s.Malformed
	}
	f.Lookup(pkts, 0)
	for i, tc := range cases {
		if got, want := pkts[i].Dst, tc.want.dst(tc.port); got != want {
			t.Errorf("%s: Lookup = %v, want %v", tc.name, got, want)
		}
	}
	if got := f.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// TestTruncated cuts every case at every length. A cut frame must give what
// the whole frame gives, or DropMalformed; once it gives the whole frame's
// answer, every longer cut must too; and under 14 bytes it is malformed.
func TestTruncated(t *testing.T) {
	f := newFilter(t)
	for _, tc := range cases {
		full := lookup1(f, tc.b)
		valid := false
		for n := 0; n <= len(tc.b); n++ {
			got := lookup1(f, tc.b[:n:n])
			switch {
			case n < frame.EthHeaderLen && got != logic.DropMalformed:
				t.Errorf("%s[:%d] = %v, want malformed", tc.name, n, got)
			case got != full && got != logic.DropMalformed:
				t.Errorf("%s[:%d] = %v, whole frame %v", tc.name, n, got, full)
			case valid && got != full:
				t.Errorf("%s[:%d] = %v after a shorter cut gave %v", tc.name, n, got, full)
			}
			valid = valid || got == full
		}
	}
}

func TestRules(t *testing.T) {
	f := l4filter.New()
	if r := f.Rules(); len(r) != 0 {
		t.Fatalf("new filter has rules %v", r)
	}
	for _, r := range slices.Backward(rules) {
		if err := f.Add(r.Proto, r.Port, r.Out); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.Rules(); !slices.Equal(got, rules) {
		t.Errorf("Rules() = %v, want %v", got, rules)
	}
	// Add replaces; Delete removes.
	f.Add(tcp, 80, 9)
	if err := f.Delete(udp, 53); err != nil {
		t.Error(err)
	}
	want := []l4filter.Rule{{tcp, 22, 5}, {tcp, 80, 9}, {tcp, 443, 7}, {udp, 5353, 6}}
	if got := f.Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"add-icmp", f.Add(frame.ProtoICMP, 1, 1), l4filter.ErrBadProto},
		{"add-bad-port", f.Add(tcp, 1, logic.MaxPorts), l4filter.ErrBadPort},
		{"delete-icmp", f.Delete(frame.ProtoICMP, 1), l4filter.ErrBadProto},
		{"delete-missing", f.Delete(udp, 53), l4filter.ErrNoRule},
		{"delete-other-proto", f.Delete(udp, 80), l4filter.ErrNoRule},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if got := f.Rules(); !slices.Equal(got, want) {
		t.Errorf("failed calls changed the rules: %v", got)
	}
	if got, want := (l4filter.Rule{udp, 53, 4}).String(), "udp/53 -> port 4"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPortRemoved(t *testing.T) {
	f := newFilter(t)
	f.Add(udp, 123, 3)
	f.PortAdded(3) // no effect
	f.PortRemoved(3)
	want := []l4filter.Rule{{tcp, 22, 5}, {tcp, 443, 7}, {udp, 53, 4}, {udp, 5353, 6}}
	if got := f.Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
	if got := lookup1(f, eth4(tcp, ft.TCP(1, 80))); got != logic.Drop {
		t.Errorf("Lookup to a removed port's rule = %v", got)
	}
}

func TestRegistered(t *testing.T) {
	l, err := logic.New("l4filter")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*l4filter.Filter); !ok {
		t.Fatalf("logic.New(l4filter) = %T", l)
	}
}

// TestReference drives the filter and a map-based reference with the same
// seeded random rule changes and packets.
func TestReference(t *testing.T) {
	type key struct {
		proto uint8
		port  uint16
	}
	rng := rand.New(rand.NewPCG(42, 42))
	f := l4filter.New()
	ref := map[key]logic.PortID{}
	protos := []uint8{tcp, udp}
	l4port := func() uint16 { return uint16(rng.IntN(64)) } // small, so rules collide
	for i := range 20000 {
		k := key{protos[rng.IntN(2)], l4port()}
		switch op := rng.IntN(10); {
		case op < 5:
			out := logic.PortID(rng.IntN(8))
			f.Add(k.proto, k.port, out)
			ref[k] = out
		case op < 8:
			_, had := ref[k]
			if err := f.Delete(k.proto, k.port); (err == nil) != had {
				t.Fatalf("op %d: Delete(%v) = %v, had rule: %v", i, k, err, had)
			}
			delete(ref, k)
		case op == 8:
			id := logic.PortID(rng.IntN(8))
			f.PortRemoved(id)
			for k, out := range ref {
				if out == id {
					delete(ref, k)
				}
			}
		default:
			src, dst := l4port(), l4port()
			var b []byte
			if k.proto == tcp {
				b = eth6(ft.IPv6{Next: tcp}, ft.TCP(src, dst))
			} else {
				b = eth4(udp, ft.UDP(src, dst, nil))
			}
			want := logic.Drop
			if out, ok := ref[key{k.proto, src}]; ok {
				want = logic.To(out)
			}
			if out, ok := ref[key{k.proto, dst}]; ok {
				want = logic.To(out)
			}
			if got := lookup1(f, b); got != want {
				t.Fatalf("op %d: proto %d %d->%d = %v, want %v", i, k.proto, src, dst, got, want)
			}
		}
	}
	var want []l4filter.Rule
	for k, out := range ref {
		want = append(want, l4filter.Rule{Proto: k.proto, Port: k.port, Out: out})
	}
	slices.SortFunc(want, func(a, b l4filter.Rule) int {
		return int(a.Proto)<<16 + int(a.Port) - int(b.Proto)<<16 - int(b.Port)
	})
	if got := f.Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %v\nreference %v", got, want)
	}
}

// TestConcurrent changes rules while other goroutines look packets up
// (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFilter(t)
	b := eth4(tcp, ft.TCP(40000, 80))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			pkts := make([]logic.Packet, 32)
			for i := range pkts {
				pkts[i].Data = b
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.Lookup(pkts, 1)
				for _, p := range pkts {
					if p.Dst != logic.Drop && p.Dst != 3 && p.Dst != 8 {
						t.Errorf("Lookup = %v", p.Dst)
						return
					}
				}
				_ = f.Stats()
			}
		})
	}
	for i := range 2000 {
		switch i % 4 {
		case 0:
			f.Add(tcp, 80, 8)
		case 1:
			f.Delete(tcp, 80)
		case 2:
			f.Add(tcp, 80, 3)
		case 3:
			f.PortRemoved(3)
		}
		_ = f.Rules()
	}
	close(stop)
	wg.Wait()
}

func TestAllocs(t *testing.T) {
	f := newFilter(t)
	pkts := make([]logic.Packet, len(cases))
	for i, tc := range cases {
		pkts[i].Data = tc.b
	}
	if n := testing.AllocsPerRun(100, func() { f.Lookup(pkts, 1) }); n != 0 {
		t.Errorf("Lookup allocates %v times per batch", n)
	}
}

func FuzzLookup(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.b)
	}
	filter := newFilter(f)
	outs := map[logic.Dst]bool{logic.Drop: true, logic.DropMalformed: true}
	for _, r := range rules {
		outs[logic.To(r.Out)] = true
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := filter.Stats()
		pkts := []logic.Packet{{Data: b}, {Data: b[:len(b)/2]}}
		filter.Lookup(pkts, 1)
		for _, p := range pkts {
			if !outs[p.Dst] {
				t.Fatalf("Lookup = %v, not a rule's port nor a drop", p.Dst)
			}
			if len(p.Data) < frame.EthHeaderLen && p.Dst != logic.DropMalformed {
				t.Fatalf("Lookup(%d bytes) = %v, want malformed", len(p.Data), p.Dst)
			}
		}
		after := filter.Stats()
		if n := after.Matched + after.Unmatched + after.NotL4 + after.Malformed -
			before.Matched - before.Unmatched - before.NotL4 - before.Malformed; n != 2 {
			t.Fatalf("counters grew by %d for 2 packets", n)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"udp4-dst", eth4(udp, ft.UDP(1000, 53, nil))},
		{"udp4-src", eth4(udp, ft.UDP(53, 1000, nil))},
		{"udp4-unmatched", eth4(udp, ft.UDP(1000, 2000, nil))},
		{"qinq-udp4", eth4(udp, ft.UDP(1000, 53, nil), dot1s, dot1q)},
		{"tcp6", eth6(ft.IPv6{Next: tcp}, ft.TCP(40000, 80))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFilter(b)
			pkts := make([]logic.Packet, 1024)
			for i := range pkts {
				pkts[i].Data = bc.frame
			}
			b.ReportAllocs()
			for b.Loop() {
				f.Lookup(pkts, 1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
		})
	}
}
