package pipeline

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

func run(t testing.TB, p *Pipeline, pkt []byte, in uint32) (*Result, []byte) {
	t.Helper()
	var res Result
	out := p.NewWorker().Process(pkt, in, &res)
	return &res, out
}

func isErr(err error, typ ofp.ErrorType, code uint16) bool {
	return errors.Is(err, &ofp.Error{Type: typ, Code: code})
}

func TestMatching(t *testing.T) {
	udp := pktSpec{sport: 1000, dport: 53}
	tests := []struct {
		name string
		m    ofp.Match
		pkt  pktSpec
		in   uint32
		hit  bool
	}{
		{"in_port", match(u(ofp.OXMInPort, 1)), udp, 1, true},
		{"in_port other", match(u(ofp.OXMInPort, 2)), udp, 1, false},
		{"eth_dst masked", match(ofp.NewOXM(ofp.OXMEthDst, []byte{0x22, 0, 0, 0, 0, 0}, []byte{0xff, 0, 0, 0, 0, 0})), udp, 1, true},
		{"vlan none", match(u(ofp.OXMVlanVID, 0)), udp, 1, true},
		{"vlan none tagged", match(u(ofp.OXMVlanVID, 0)), pktSpec{vlan: 101}, 1, false},
		{"vlan 100", match(u(ofp.OXMVlanVID, 0x1000|100)), pktSpec{vlan: 101}, 1, true},
		{"vlan present", match(um(ofp.OXMVlanVID, 0x1000, 0x1000)), pktSpec{vlan: 5}, 1, true},
		{"vlan present untagged", match(um(ofp.OXMVlanVID, 0x1000, 0x1000)), udp, 1, false},
		{"vlan pcp", match(um(ofp.OXMVlanVID, 0x1000, 0x1000), u(ofp.OXMVlanPCP, 3)), pktSpec{vlan: 5}, 1, true},
		{"ipv4 dst /16", match(u(ofp.OXMEthType, 0x800), ofp.NewOXM(ofp.OXMIPv4Dst, []byte{192, 168, 0, 0}, []byte{255, 255, 0, 0})), udp, 1, true},
		{"ipv4 src other", match(u(ofp.OXMEthType, 0x800), ip4(ofp.OXMIPv4Src, "10.0.0.1")), udp, 1, false},
		{"dscp", match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPDSCP, 8)), udp, 1, true},
		{"udp dst", match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 17), u(ofp.OXMUDPDst, 53)), udp, 1, true},
		{"tcp dst on udp", match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 6), u(ofp.OXMTCPDst, 53)), udp, 1, false},
		{"tcp6 src", match(u(ofp.OXMEthType, 0x86dd), u(ofp.OXMIPProto, 6), u(ofp.OXMTCPSrc, 7)), pktSpec{v6: true, proto: "tcp", sport: 7}, 1, true},
		{"ipv6 dst", match(u(ofp.OXMEthType, 0x86dd), ip6(ofp.OXMIPv6Dst, "2001:db8::2")), pktSpec{v6: true}, 1, true},
		{"ipv6 flabel", match(u(ofp.OXMEthType, 0x86dd), u(ofp.OXMIPv6FLabel, 0x12345)), pktSpec{v6: true}, 1, true},
		{"icmpv4 type", match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 1), u(ofp.OXMICMPv4Type, 8)), pktSpec{proto: "icmp"}, 1, true},
		{"icmpv6 type", match(u(ofp.OXMEthType, 0x86dd), u(ofp.OXMIPProto, 58), u(ofp.OXMICMPv6Type, 128)), pktSpec{v6: true, proto: "icmp"}, 1, true},
		{"sctp dst", match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 132), u(ofp.OXMSCTPDst, 9)), pktSpec{proto: "sctp", dport: 9}, 1, true},
		{"arp op", match(u(ofp.OXMEthType, 0x806), u(ofp.OXMARPOp, 1)), pktSpec{arp: true}, 1, true},
		{"arp tpa", match(u(ofp.OXMEthType, 0x806), ip4(ofp.OXMARPTpa, "10.0.0.2")), pktSpec{arp: true}, 1, true},
		{"arp spa vs ipv4", match(u(ofp.OXMEthType, 0x806), ip4(ofp.OXMARPSpa, "192.168.10.10")), udp, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTest(t, Options{})
			mustFlow(t, p, flowAdd(0, 10, tt.m, apply(out(2))))
			res, _ := run(t, p, buildPacket(t, tt.pkt), tt.in)
			if got := len(res.Outputs) == 1; got != tt.hit {
				t.Fatalf("hit = %v, want %v\n%s", got, tt.hit, p.Trace(buildPacket(t, tt.pkt), tt.in))
			}
		})
	}
}

func TestPriorityAndTableMiss(t *testing.T) {
	p := newTest(t, Options{})
	pkt := func() []byte { return buildPacket(t, pktSpec{}) }
	res, _ := run(t, p, pkt(), 1)
	if len(res.Outputs) != 0 {
		t.Fatal("no flows: want drop")
	}
	mustFlow(t, p, flowAdd(0, 0, match(), apply(out(ofp.PortController))))
	mustFlow(t, p, flowAdd(0, 5, match(u(ofp.OXMInPort, 1)), apply(out(2))))
	mustFlow(t, p, flowAdd(0, 7, match(u(ofp.OXMEthType, 0x800)), apply(out(3))))
	res, _ = run(t, p, pkt(), 1)
	if !slices.Equal(ports(res), []uint32{3}) {
		t.Fatalf("priority: %v", ports(res))
	}
	res, _ = run(t, p, buildPacket(t, pktSpec{arp: true}), 9)
	if len(res.Outputs) != 1 || res.Outputs[0].Port != ofp.PortController || res.Outputs[0].Reason != ofp.ReasonNoMatch {
		t.Fatalf("table-miss entry: %+v", res.Outputs)
	}
	ts := p.TableStats().Stats[0]
	if ts.ActiveCount != 3 || ts.LookupCount != 3 || ts.MatchedCount != 2 {
		t.Fatalf("table stats %+v", ts)
	}
}

func TestFlowModErrors(t *testing.T) {
	p := newTest(t, Options{Tables: 4, PortExists: func(port uint32) bool { return port < 10 }})
	mustFlow(t, p, flowAdd(0, 10, match(u(ofp.OXMInPort, 1)), apply(out(2))))
	overlap := flowAdd(0, 10, match(u(ofp.OXMEthType, 0x800)), apply(out(2)))
	overlap.Flags = ofp.FlowCheckOverlap
	tests := []struct {
		name string
		fm   *ofp.FlowMod
		typ  ofp.ErrorType
		code uint16
	}{
		{"bad table", flowAdd(4, 1, match()), ofp.ETFlowModFailed, ofp.FMFCBadTableID},
		{"table all add", flowAdd(ofp.TableAll, 1, match()), ofp.ETFlowModFailed, ofp.FMFCBadTableID},
		{"bad command", &ofp.FlowMod{Command: 9}, ofp.ETFlowModFailed, ofp.FMFCBadCommand},
		{"overlap", overlap, ofp.ETFlowModFailed, ofp.FMFCOverlap},
		{"prereq", flowAdd(0, 1, match(u(ofp.OXMIPProto, 6))), ofp.ETBadMatch, ofp.BMCBadPrereq},
		{"push_pbb ethertype", flowAdd(0, 1, match(), apply(ofp.ActionPushPBB{EtherType: 0x8100})), ofp.ETBadAction, ofp.BACBadArgument},
		{"goto backwards", flowAdd(1, 1, match(), gotoT(1)), ofp.ETBadInstruction, ofp.BICBadTableID},
		{"goto beyond", flowAdd(1, 1, match(), gotoT(4)), ofp.ETBadInstruction, ofp.BICBadTableID},
		{"dup inst", flowAdd(0, 1, match(), apply(out(2)), apply(out(3))), ofp.ETBadInstruction, BICDupInst},
		{"unknown meter", flowAdd(0, 1, match(), ofp.InstructionMeter{MeterID: 1}), ofp.ETMeterModFailed, ofp.MMFCUnknownMeter},
		{"bad port", flowAdd(0, 1, match(), apply(out(11))), ofp.ETBadAction, ofp.BACBadOutPort},
		{"port zero", flowAdd(0, 1, match(), apply(out(0))), ofp.ETBadAction, ofp.BACBadOutPort},
		{"table port", flowAdd(0, 1, match(), apply(out(ofp.PortTable))), ofp.ETBadAction, ofp.BACBadOutPort},
		{"bad group", flowAdd(0, 1, match(), apply(ofp.ActionGroup{GroupID: 5})), ofp.ETBadAction, ofp.BACBadOutGroup},
		{"set inconsistent", flowAdd(0, 1, match(), apply(setf(ip4(ofp.OXMIPv4Src, "1.2.3.4")))), ofp.ETBadAction, ofp.BACMatchInconsistent},
		{"set in_port", flowAdd(0, 1, match(), apply(setf(u(ofp.OXMInPort, 3)))), ofp.ETBadAction, ofp.BACBadSetType},
		{"push_vlan type", flowAdd(0, 1, match(), apply(ofp.ActionPushVLAN{EtherType: 0x800})), ofp.ETBadAction, ofp.BACBadArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.FlowMod(tt.fm); !isErr(err, tt.typ, tt.code) {
				t.Fatalf("err = %v, want %v/%s", err, tt.typ, ofp.CodeName(tt.typ, tt.code))
			}
		})
	}
	// A set-field made consistent by an earlier push.
	mustFlow(t, p, flowAdd(0, 2, match(), apply(ofp.ActionPushVLAN{EtherType: 0x8100}, setf(u(ofp.OXMVlanPCP, 5)), out(2))))
}

func TestModifyDelete(t *testing.T) {
	clk := newClock()
	p := newTest(t, Options{Now: clk.now})
	add := func(pri uint16, cookie uint64, m ofp.Match, port uint32) {
		fm := flowAdd(0, pri, m, apply(out(port)))
		fm.Cookie, fm.Flags = cookie, ofp.FlowSendFlowRem
		mustFlow(t, p, fm)
	}
	ip := match(u(ofp.OXMEthType, 0x800))
	ipSrc := match(u(ofp.OXMEthType, 0x800), ip4(ofp.OXMIPv4Src, "192.168.10.10"))
	add(10, 0x11, ip, 2)
	add(20, 0x12, ipSrc, 3)
	add(30, 0x21, match(u(ofp.OXMInPort, 1)), 4)
	count := func() int { return int(p.TableStats().Stats[0].ActiveCount) }

	// Warm counters through the cache.
	for i := 0; i < 3; i++ {
		run(t, p, buildPacket(t, pktSpec{}), 5)
	}
	// Strict modify needs the exact priority.
	mod := &ofp.FlowMod{Command: ofp.FlowModifyStrict, Priority: 11, Match: ip, Instructions: []ofp.Instruction{apply(out(7))}}
	mustFlow(t, p, mod)
	res, _ := run(t, p, buildPacket(t, pktSpec{src: "192.168.1.1", dst: "1.1.1.1"}), 5)
	if !slices.Equal(ports(res), []uint32{2}) {
		t.Fatalf("strict modify with another priority changed the flow: %v", ports(res))
	}
	// Non-strict modify of eth_type=0x800 covers both IP flows, filtered by cookie.
	mod = &ofp.FlowMod{Command: ofp.FlowModify, Cookie: 0x10, CookieMask: 0xf0, Match: ip, Instructions: []ofp.Instruction{apply(out(8))}}
	mustFlow(t, p, mod)
	res, _ = run(t, p, buildPacket(t, pktSpec{}), 5)
	if !slices.Equal(ports(res), []uint32{8}) {
		t.Fatalf("modify: %v", ports(res))
	}
	st, _ := p.FlowStats(&ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny, Match: ipSrc})
	if len(st.Stats) != 1 || st.Stats[0].PacketCount != 4 || st.Stats[0].Cookie != 0x12 {
		t.Fatalf("counters kept on modify: %+v", st.Stats)
	}
	mod.Flags = ofp.FlowResetCounts
	mustFlow(t, p, mod)
	st, _ = p.FlowStats(&ofp.FlowStatsRequest{TableID: 0, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny, Match: ipSrc})
	if st.Stats[0].PacketCount != 0 {
		t.Fatal("RESET_COUNTS")
	}
	// Delete with an out_port filter that matches nothing.
	del := &ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, OutPort: 99, OutGroup: ofp.GroupAny}
	if rm, _ := p.FlowMod(del); len(rm) != 0 || count() != 3 {
		t.Fatalf("out_port filter: removed %d", len(rm))
	}
	// Strict delete of the in_port flow.
	del = &ofp.FlowMod{Command: ofp.FlowDeleteStrict, TableID: 0, Priority: 30, Match: match(u(ofp.OXMInPort, 1)), OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
	rm, _ := p.FlowMod(del)
	if len(rm) != 1 || !rm[0].Notify || rm[0].Reason != ofp.RemovedDelete || rm[0].Cookie != 0x21 {
		t.Fatalf("strict delete: %+v", rm)
	}
	// Non-strict delete of everything IP, by out_port 8.
	clk.add(3 * time.Second)
	del = &ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, Match: ip, OutPort: 8, OutGroup: ofp.GroupAny}
	rm, _ = p.FlowMod(del)
	if len(rm) != 2 || count() != 0 || rm[0].DurationSec != 3 {
		t.Fatalf("delete: %+v", rm)
	}
	res, _ = run(t, p, buildPacket(t, pktSpec{}), 5)
	if len(res.Outputs) != 0 {
		t.Fatal("a deleted flow still forwards (stale cache)")
	}
}

func TestAddReplaces(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 10, match(u(ofp.OXMInPort, 1)), apply(out(2))))
	run(t, p, buildPacket(t, pktSpec{}), 1)
	mustFlow(t, p, flowAdd(0, 10, match(u(ofp.OXMInPort, 1)), apply(out(3))))
	res, _ := run(t, p, buildPacket(t, pktSpec{}), 1)
	st, _ := p.FlowStats(&ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	if !slices.Equal(ports(res), []uint32{3}) || len(st.Stats) != 1 || st.Stats[0].PacketCount != 1 {
		t.Fatalf("replace: %v %+v", ports(res), st.Stats)
	}
}

func TestTimeouts(t *testing.T) {
	clk := newClock()
	p := newTest(t, Options{Now: clk.now})
	idle := flowAdd(0, 10, match(u(ofp.OXMInPort, 1)), apply(out(2)))
	idle.IdleTimeout, idle.Flags = 5, ofp.FlowSendFlowRem
	hard := flowAdd(0, 10, match(u(ofp.OXMInPort, 2)), apply(out(3)))
	hard.HardTimeout = 8
	mustFlow(t, p, idle)
	mustFlow(t, p, hard)
	w := p.NewWorker()
	var res Result
	for s := 1; s <= 12; s++ {
		clk.add(time.Second)
		if s <= 6 {
			w.Process(buildPacket(t, pktSpec{}), 1, &res) // keeps the idle flow alive
			w.Process(buildPacket(t, pktSpec{}), 2, &res)
		}
		for _, r := range p.Expire(clk.now()) {
			switch {
			case r.Match.Fields[0].Uint() == 1 && r.Reason == ofp.RemovedIdleTimeout && s == 11 && r.Notify && r.PacketCount == 6:
			case r.Match.Fields[0].Uint() == 2 && r.Reason == ofp.RemovedHardTimeout && s == 8 && !r.Notify:
			default:
				t.Fatalf("second %d: removed %+v", s, r)
			}
		}
	}
	if n := p.TableStats().Stats[0].ActiveCount; n != 0 {
		t.Fatalf("%d flows left", n)
	}
}

func TestGotoWriteActionsMetadata(t *testing.T) {
	p := newTest(t, Options{})
	// Table 0 writes an output and a set-field and metadata; table 1 matches
	// the metadata, clears nothing, adds a push_vlan to the set; table 2
	// overrides the output. The set runs push_vlan before set-field.
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800)),
		writeActs(out(2), setf(u(ofp.OXMVlanVID, 0x1000|7))), ofp.InstructionWriteMetadata{Metadata: 0xab00, Mask: 0xff00}, gotoT(1)))
	mustFlow(t, p, flowAdd(1, 1, match(um(ofp.OXMMetadata, 0xab00, 0xff00)), writeActs(ofp.ActionPushVLAN{EtherType: 0x8100}), gotoT(2)))
	mustFlow(t, p, flowAdd(2, 1, match(), writeActs(out(4))))
	for i := 0; i < 2; i++ {
		res, pkt := run(t, p, buildPacket(t, pktSpec{}), 1)
		if !slices.Equal(ports(res), []uint32{4}) || res.Outputs[0].Version != -1 {
			t.Fatalf("outputs %+v", res.Outputs)
		}
		if be.Uint16(pkt[12:]) != 0x8100 || be.Uint16(pkt[14:])&0xfff != 7 || !checksumsOK(t, pkt) {
			t.Fatalf("packet %x", pkt)
		}
	}
	// clear_actions in table 2 empties the set: drop.
	mustFlow(t, p, flowAdd(2, 1, match(), ofp.InstructionClearActions{}))
	res, _ := run(t, p, buildPacket(t, pktSpec{}), 1)
	if len(res.Outputs) != 0 {
		t.Fatalf("clear_actions: %+v", res.Outputs)
	}
}

func TestSetFieldChecksums(t *testing.T) {
	tests := []struct {
		name string
		pkt  pktSpec
		m    ofp.Match
		set  ofp.OXM
	}{
		{"ipv4 src tcp", pktSpec{proto: "tcp", sport: 1, dport: 2}, match(u(ofp.OXMEthType, 0x800)), ip4(ofp.OXMIPv4Src, "10.1.2.3")},
		{"ipv4 dst udp", pktSpec{proto: "udp", sport: 1, dport: 2}, match(u(ofp.OXMEthType, 0x800)), ip4(ofp.OXMIPv4Dst, "10.9.8.7")},
		{"tcp dst", pktSpec{proto: "tcp", sport: 1, dport: 2}, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 6)), u(ofp.OXMTCPDst, 8080)},
		{"udp src", pktSpec{proto: "udp", sport: 1, dport: 2}, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 17)), u(ofp.OXMUDPSrc, 4444)},
		{"dscp", pktSpec{proto: "udp"}, match(u(ofp.OXMEthType, 0x800)), u(ofp.OXMIPDSCP, 46)},
		{"ecn", pktSpec{proto: "tcp"}, match(u(ofp.OXMEthType, 0x800)), u(ofp.OXMIPECN, 3)},
		{"icmp type", pktSpec{proto: "icmp"}, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 1)), u(ofp.OXMICMPv4Type, 0)},
		{"ipv6 src tcp", pktSpec{v6: true, proto: "tcp"}, match(u(ofp.OXMEthType, 0x86dd)), ip6(ofp.OXMIPv6Src, "fe80::99")},
		{"ipv6 dst udp", pktSpec{v6: true, proto: "udp"}, match(u(ofp.OXMEthType, 0x86dd)), ip6(ofp.OXMIPv6Dst, "2001:db8:1::7")},
		{"ipv6 dst icmpv6", pktSpec{v6: true, proto: "icmp"}, match(u(ofp.OXMEthType, 0x86dd)), ip6(ofp.OXMIPv6Dst, "2001:db8:1::7")},
		{"icmpv6 code", pktSpec{v6: true, proto: "icmp"}, match(u(ofp.OXMEthType, 0x86dd), u(ofp.OXMIPProto, 58)), u(ofp.OXMICMPv6Code, 1)},
		{"flabel", pktSpec{v6: true, proto: "udp"}, match(u(ofp.OXMEthType, 0x86dd)), u(ofp.OXMIPv6FLabel, 0xabcde)},
		{"eth src", pktSpec{proto: "udp"}, match(), ofp.NewOXM(ofp.OXMEthSrc, []byte{2, 0, 0, 0, 0, 1}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTest(t, Options{})
			mustFlow(t, p, flowAdd(0, 1, tt.m, apply(setf(tt.set), out(2))))
			res, pkt := run(t, p, buildPacket(t, tt.pkt), 1)
			if len(res.Outputs) != 1 || !checksumsOK(t, pkt) {
				t.Fatalf("outputs %+v", res.Outputs)
			}
			var k Key
			var l layout
			extract(pkt, 1, &k, &l)
			var want Key
			want.put(tt.set.Field, tt.set.Value)
			d := fields[tt.set.Field]
			if d.bits == 128 {
				if k[d.word] != want[d.word] || k[d.word+1] != want[d.word+1] {
					t.Fatal("field not set")
				}
			} else if k.get(tt.set.Field) != want.get(tt.set.Field) {
				t.Fatalf("field %v = %#x, want %#x", tt.set.Field, k.get(tt.set.Field), want.get(tt.set.Field))
			}
		})
	}
}

func TestVersionsBetweenOutputs(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800)), apply(
		out(2), setf(ip4(ofp.OXMIPv4Dst, "10.0.0.9")), out(3), ofp.ActionPushVLAN{EtherType: 0x8100}, out(4))))
	orig := buildPacket(t, pktSpec{})
	for i := 0; i < 2; i++ {
		res, pkt := run(t, p, append(make([]byte, 0, len(orig)+64), orig...), 1)
		if len(res.Outputs) != 3 || res.Outputs[0].Version != 0 || res.Outputs[1].Version != 1 || res.Outputs[2].Version != -1 {
			t.Fatalf("versions %+v", res.Outputs)
		}
		if string(res.Copies[0]) != string(orig) || len(pkt) != len(orig)+4 || len(res.Copies[1]) != len(orig) {
			t.Fatal("copies")
		}
		for _, b := range [][]byte{res.Copies[1], pkt} {
			if !checksumsOK(t, b) {
				t.Fatal("checksum")
			}
		}
	}
}

func TestVLANAndTTL(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 2, match(um(ofp.OXMVlanVID, 0x1000, 0x1000)), apply(ofp.ActionPopVLAN{}, out(2))))
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800)), apply(ofp.ActionDecNWTTL{}, out(3))))
	_, pkt := run(t, p, buildPacket(t, pktSpec{vlan: 10}), 1)
	if !slices.Equal(pkt, buildPacket(t, pktSpec{})) {
		t.Fatal("pop_vlan")
	}
	res, pkt := run(t, p, buildPacket(t, pktSpec{ttl: 9}), 1)
	if !slices.Equal(ports(res), []uint32{3}) || !slices.Equal(pkt, buildPacket(t, pktSpec{ttl: 8})) {
		t.Fatal("dec_nw_ttl")
	}
	res, _ = run(t, p, buildPacket(t, pktSpec{ttl: 1}), 1)
	if len(res.Outputs) != 0 || !res.InvalidTTL {
		t.Fatalf("ttl 1: %+v", res.Outputs)
	}
	p.SetInvalidTTLToController(true)
	res, _ = run(t, p, buildPacket(t, pktSpec{ttl: 1}), 1)
	if len(res.Outputs) != 1 || res.Outputs[0].Reason != ofp.ReasonInvalidTTL {
		t.Fatalf("ttl 1 to controller: %+v", res.Outputs)
	}
	// push/pop MPLS round trip.
	q := newTest(t, Options{Tables: 2})
	mustFlow(t, q, flowAdd(0, 1, match(u(ofp.OXMEthType, 0x800)), apply(ofp.ActionPushMPLS{EtherType: 0x8847}), gotoT(1)))
	mustFlow(t, q, flowAdd(1, 1, match(u(ofp.OXMEthType, 0x8847), u(ofp.OXMMPLSBOS, 1)), apply(out(2), ofp.ActionPopMPLS{EtherType: 0x800}, out(3))))
	res, pkt = run(t, q, buildPacket(t, pktSpec{}), 1)
	if len(res.Outputs) != 2 || !slices.Equal(pkt, buildPacket(t, pktSpec{})) || be.Uint16(res.Copies[0][12:]) != 0x8847 || res.Copies[0][17] != 64 {
		t.Fatalf("mpls: %+v\n%s", res.Outputs, q.Trace(buildPacket(t, pktSpec{}), 1))
	}
}

func TestGroups(t *testing.T) {
	live := map[uint32]bool{2: true, 3: true}
	p := newTest(t, Options{PortLive: func(port uint32) bool { return live[port] }})
	mustGroup(t, p, &ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeAll, GroupID: 1,
		Buckets: []ofp.Bucket{bucketOf(out(2)), bucketOf(setf(u(ofp.OXMEthType, 0x800)), setf(ip4(ofp.OXMIPv4Dst, "1.1.1.1")), out(3))}})
	ff := &ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeFF, GroupID: 2, Buckets: []ofp.Bucket{
		{WatchPort: 2, WatchGroup: ofp.GroupAny, Actions: []ofp.Action{out(2)}},
		{WatchPort: 3, WatchGroup: ofp.GroupAny, Actions: []ofp.Action{out(3)}}}}
	mustGroup(t, p, ff)
	mustGroup(t, p, &ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeIndirect, GroupID: 3, Buckets: []ofp.Bucket{bucketOf(ofp.ActionGroup{GroupID: 2})}})
	mustGroup(t, p, &ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeSelect, GroupID: 4, Buckets: []ofp.Bucket{
		{Weight: 1, WatchPort: ofp.PortAny, WatchGroup: ofp.GroupAny, Actions: []ofp.Action{out(5)}},
		{Weight: 3, WatchPort: ofp.PortAny, WatchGroup: ofp.GroupAny, Actions: []ofp.Action{out(6)}}}})

	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 1)), apply(ofp.ActionGroup{GroupID: 1}, out(4))))
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 8)), writeActs(ofp.ActionGroup{GroupID: 3}, out(9))))
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 7)), apply(ofp.ActionGroup{GroupID: 4})))

	// all: bucket 2 rewrites a clone; output 4 after the group sees the original.
	orig := buildPacket(t, pktSpec{})
	res, pkt := run(t, p, buildPacket(t, pktSpec{}), 1)
	if !slices.Equal(ports(res), []uint32{2, 3, 4}) || res.Outputs[2].Version != -1 || !slices.Equal(pkt, orig) {
		t.Fatalf("all: %+v", res.Outputs)
	}
	if v := res.Outputs[1].Version; v < 0 || res.Copies[v][33] != 1 || !checksumsOK(t, res.Copies[v]) {
		t.Fatal("all: rewritten bucket copy")
	}
	// indirect -> fast failover (chained), in the action set: group wins over output.
	w := p.NewWorker()
	var r Result
	w.Process(buildPacket(t, pktSpec{}), 8, &r)
	if !slices.Equal(ports(&r), []uint32{2}) {
		t.Fatalf("ff: %v", ports(&r))
	}
	live[2] = false
	p.PortChanged()
	w.Process(buildPacket(t, pktSpec{}), 8, &r)
	if !slices.Equal(ports(&r), []uint32{3}) {
		t.Fatalf("ff after port 2 down: %v", ports(&r))
	}
	live[3] = false
	p.PortChanged()
	w.Process(buildPacket(t, pktSpec{}), 8, &r)
	if len(r.Outputs) != 0 {
		t.Fatalf("ff all down: %v", ports(&r))
	}
	// select: weights 1:3 over many flows.
	n := map[uint32]int{}
	for i := 0; i < 4000; i++ {
		w.Process(buildPacket(t, pktSpec{sport: uint16(i), dport: 80}), 7, &r)
		n[r.Outputs[0].Port]++
	}
	if n[5] < 800 || n[5] > 1200 || n[6] < 2800 {
		t.Fatalf("select distribution %v", n)
	}
	gs := p.GroupStats(&ofp.GroupStatsRequest{GroupID: 4}).Stats[0]
	if gs.PacketCount != 4000 || gs.BucketStats[0].PacketCount+gs.BucketStats[1].PacketCount != 4000 || gs.RefCount != 1 {
		t.Fatalf("group stats %+v", gs)
	}

	// Errors.
	errs := []struct {
		gm   *ofp.GroupMod
		code uint16
	}{
		{&ofp.GroupMod{Command: ofp.GroupAdd, GroupID: 1}, ofp.GMFCGroupExists},
		{&ofp.GroupMod{Command: ofp.GroupModify, GroupID: 77}, ofp.GMFCUnknownGroup},
		{&ofp.GroupMod{Command: ofp.GroupAdd, GroupID: ofp.GroupAll}, ofp.GMFCInvalidGroup},
		{&ofp.GroupMod{Command: ofp.GroupAdd, GroupID: 9, GroupType: 7}, ofp.GMFCBadType},
		{&ofp.GroupMod{Command: ofp.GroupAdd, GroupID: 9, GroupType: ofp.GroupTypeIndirect}, ofp.GMFCInvalidGroup},
		{&ofp.GroupMod{Command: ofp.GroupModify, GroupID: 2, GroupType: ofp.GroupTypeAll, Buckets: []ofp.Bucket{bucketOf(ofp.ActionGroup{GroupID: 3})}}, ofp.GMFCLoop},
		{&ofp.GroupMod{Command: ofp.GroupDelete, GroupID: 2}, ofp.GMFCChainedGroup},
		{&ofp.GroupMod{Command: 5, GroupID: 2}, ofp.GMFCBadCommand},
	}
	for _, e := range errs {
		if _, err := p.GroupMod(e.gm); !isErr(err, ofp.ETGroupModFailed, e.code) {
			t.Errorf("%+v: err %v, want %s", e.gm, err, ofp.CodeName(ofp.ETGroupModFailed, e.code))
		}
	}
	// Deleting a group deletes the flows that forward to it.
	rm, err := p.GroupMod(&ofp.GroupMod{Command: ofp.GroupDelete, GroupID: 1})
	if err != nil || len(rm) != 1 || rm[0].Reason != ofp.RemovedGroupDelete {
		t.Fatalf("group delete: %v %+v", err, rm)
	}
	w.Process(buildPacket(t, pktSpec{}), 1, &r)
	if len(r.Outputs) != 0 {
		t.Fatal("flow of a deleted group still forwards")
	}
}

func TestMultipart(t *testing.T) {
	p := newTest(t, Options{Tables: 3})
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 1)), apply(out(2)), gotoT(2)))
	mustFlow(t, p, flowAdd(2, 1, match(), apply(out(3))))
	w := p.NewWorker()
	var r Result
	for i := 0; i < 5; i++ {
		w.Process(buildPacket(t, pktSpec{}), 1, &r)
	}
	agg, err := p.AggregateStats(&ofp.AggregateStatsRequest{TableID: ofp.TableAll, OutPort: 3, OutGroup: ofp.GroupAny})
	if err != nil || agg.FlowCount != 1 || agg.PacketCount != 5 || agg.ByteCount != 5*60 {
		t.Fatalf("aggregate %+v %v", agg, err)
	}
	if _, err := p.FlowStats(&ofp.FlowStatsRequest{TableID: 7}); !isErr(err, ofp.ETBadRequest, ofp.BRCBadTableID) {
		t.Fatal(err)
	}
	ts := p.TableStats().Stats
	if ts[0].LookupCount != 5 || ts[1].LookupCount != 0 || ts[2].MatchedCount != 5 {
		t.Fatalf("table stats %+v", ts)
	}
	tf, err := p.Multipart(&ofp.TableFeaturesRequest{})
	if err != nil || len(tf.(*ofp.TableFeaturesReply).Tables) != 3 {
		t.Fatal("table features")
	}
	if _, err := ofp.Append(nil, 1, &ofp.MultipartReply{Body: tf}); err != nil {
		t.Fatalf("encode table features: %v", err)
	}
	st := p.CacheStats()
	if st.Misses != 1 || st.EMCHits != 4 {
		t.Fatalf("cache stats %+v", st)
	}
}

func TestPacketOut(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, uint64(ofp.PortController))), apply(out(5))))
	w := p.NewWorker()
	var r Result
	_, err := w.PacketOut(buildPacket(t, pktSpec{}), ofp.PortController, []ofp.Action{out(2), out(ofp.PortTable)}, &r)
	if err != nil || !slices.Equal(ports(&r), []uint32{2, 5}) {
		t.Fatalf("packet-out: %v %v", err, ports(&r))
	}
}
