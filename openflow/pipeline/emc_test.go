package pipeline

import (
	"testing"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// FuzzFlatKey checks the flat cache's premise: a flat packet's flow key and
// layout are extract's, and changing the bytes the flat key leaves out (IP
// length, ID, flags, TTL, checksum, the payload, the frame's length) changes
// neither the flat key nor what extract finds.
func FuzzFlatKey(f *testing.F) {
	for _, s := range []pktSpec{{proto: "tcp"}, {proto: "udp"}, {proto: "sctp"}, {proto: "icmp"}, {vlan: 3, proto: "udp"}, {v6: true, proto: "udp"}} {
		f.Add(buildPacket(f, s), []byte{1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, data, noise []byte) {
		var fk flatKey
		var k1 Key
		var l1 layout
		ok := extract(data, 7, &k1, &l1)
		if !fk.of(data, 7, 9) {
			return
		}
		if !ok || l1 != flatLayout(data) {
			t.Fatalf("flat packet: extract's layout %+v, flatLayout %+v", l1, flatLayout(data))
		}
		if len(noise) == 0 {
			noise = []byte{0x5a}
		}
		n := len(data)
		if len(noise) > 1 {
			n = 38 + int(noise[0])%64
		}
		b := make([]byte, n)
		copy(b, data)
		for i := 38; i < n; i++ {
			b[i] = noise[i%len(noise)]
		}
		for j, i := range []int{16, 17, 18, 19, 22, 24, 25} {
			b[i] = noise[j%len(noise)]
		}
		b[20] = b[20]&0x1f | noise[0]&0xe0 // flags, not the offset
		var fk2 flatKey
		if !fk2.of(b, 7, 9) || fk2 != fk {
			t.Fatalf("flat key changed with bytes it leaves out")
		}
		var k2 Key
		var l2 layout
		extract(b, 7, &k2, &l2)
		if k2 != k1 || l2 != l1 {
			t.Fatalf("extract differs for equal flat keys:\n%x\n%x", k1, k2)
		}
	})
}

// TestFlatCache checks which packets the flat cache takes, that a hit there
// is counted and forwarded as the tables say, and that a flow change takes
// effect at once.
func TestFlatCache(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 17), u(ofp.OXMUDPDst, 53)), apply(out(2))))
	mustFlow(t, p, flowAdd(0, 0, match(), apply(out(3))))
	w := p.NewWorker()
	var res Result
	send := func(s pktSpec) (uint32, CacheLevel) {
		t.Helper()
		pkt := buildPacket(t, s)
		w.Process(pkt, 1, &res)
		if len(res.Outputs) != 1 {
			t.Fatalf("%+v: outputs %v", s, ports(&res))
		}
		return res.Outputs[0].Port, res.Cache
	}
	for _, c := range []struct {
		s    pktSpec
		flat bool
		port uint32
	}{
		{pktSpec{proto: "udp", dport: 53}, true, 2},
		{pktSpec{proto: "udp", dport: 54}, true, 3},
		{pktSpec{proto: "tcp", dport: 53}, true, 3},
		{pktSpec{proto: "icmp"}, false, 3},
		{pktSpec{vlan: 2, proto: "udp", dport: 53}, false, 2},
		{pktSpec{v6: true, proto: "udp", dport: 53}, false, 3},
	} {
		var fk flatKey
		if got := fk.of(buildPacket(t, c.s), 1, 0); got != c.flat {
			t.Errorf("%+v: flat %v, want %v", c.s, got, c.flat)
		}
		// The first packet is translated, or hits the megaflow of an
		// earlier one; the second hits an exact-match cache.
		if port, level := send(c.s); port != c.port || level == CacheEMC {
			t.Errorf("%+v, first packet: port %d from %v, want %d", c.s, port, level, c.port)
		}
		if port, level := send(c.s); port != c.port || level != CacheEMC {
			t.Errorf("%+v, second packet: port %d from %v, want %d from the EMC", c.s, port, level, c.port)
		}
	}
	before := p.CacheStats()
	for i := 0; i < 10; i++ {
		send(pktSpec{proto: "udp", dport: 53, ttl: uint8(1 + i)}) // the TTL is not in the key
	}
	if st := p.CacheStats(); st.EMCHits-before.EMCHits != 10 {
		t.Errorf("EMC hits %d, want 10", st.EMCHits-before.EMCHits)
	}
	mustFlow(t, p, flowAdd(0, 2, match(u(ofp.OXMEthType, 0x800)), apply(out(4))))
	if port, level := send(pktSpec{proto: "udp", dport: 53}); port != 4 || level != CacheNone {
		t.Errorf("after FLOW_MOD: port %d from %v, want 4 translated", port, level)
	}
	req := &ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
	st, err := p.FlowStats(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Stats {
		if s.Priority == 1 && s.PacketCount != 14 { // 2 untagged, 2 tagged, 10
			t.Errorf("the UDP flow counted %d packets, want 14", s.PacketCount)
		}
	}
}
