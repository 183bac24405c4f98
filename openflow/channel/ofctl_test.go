package channel

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// TestOvsOfctl drives the switch with Open vSwitch's ovs-ofctl (Debian
// openvswitch-common) over the passive target.
func TestOvsOfctl(t *testing.T) {
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Skipf("ovs-ofctl not installed (Debian openvswitch-common): %v", err)
	}
	dp := newFakeDP()
	dp.setAnswer(func(req *Request) ([]ofp.Message, error) {
		switch m := req.Msg.(type) {
		case *ofp.FlowMod:
			if m.TableID == 200 {
				return nil, &ofp.Error{Type: ofp.ETFlowModFailed, Code: ofp.FMFCBadTableID, Reason: "no table 200"}
			}
		case *ofp.MultipartRequest:
			switch m.Body.(type) {
			case *ofp.PortDescRequest:
				return []ofp.Message{&ofp.MultipartReply{Body: &ofp.PortDescReply{Ports: []ofp.Port{
					{PortNo: 1, HWAddr: [6]byte{2, 0, 0, 0, 0, 1}, Name: "veth-a", Curr: ofp.PortFeature10GbFD | ofp.PortFeatureCopper, CurrSpeed: 10000000, MaxSpeed: 10000000},
					{PortNo: 2, HWAddr: [6]byte{2, 0, 0, 0, 0, 2}, Name: "memif0", State: ofp.PortStateLinkDown},
				}}}}, nil
			case *ofp.TableFeaturesRequest:
				// ovs-ofctl add-flow asks for them before it sends the flow.
				return []ofp.Message{&ofp.MultipartReply{Body: &ofp.TableFeaturesReply{Tables: tableFeatures()}}}, nil
			case *ofp.FlowStatsRequest:
				return []ofp.Message{&ofp.MultipartReply{Body: &ofp.FlowStatsReply{Stats: []ofp.FlowStats{{
					TableID: 0, DurationSec: 12, Priority: 10, Cookie: 0x1234, PacketCount: 42, ByteCount: 4200,
					Match:        ofp.Match{Fields: []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, 1)}},
					Instructions: []ofp.Instruction{ofp.InstructionApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}}},
				}}}}}, nil
			}
		}
		return nil, nil
	})
	_, addr := startSwitch(t, dp, Options{})
	target := "tcp:" + addr
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ofctl, append([]string{"-O", "OpenFlow13"}, args...)...).CombinedOutput()
		t.Logf("ovs-ofctl %s:\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
	}

	out, err := run("show", target)
	if err != nil {
		t.Fatalf("show: %v", err)
	}
	contains(out, "OFPT_FEATURES_REPLY (OF1.3)", "dpid:0000000000abcdef", "n_tables:8, n_buffers:0", "FLOW_STATS",
		"1(veth-a): addr:02:00:00:00:00:01", "2(memif0)", "LINK_DOWN", "10GB-FD", "OFPT_GET_CONFIG_REPLY (OF1.3)", "frags=normal miss_send_len=128")

	out, err = run("dump-desc", target)
	if err != nil {
		t.Fatalf("dump-desc: %v", err)
	}
	contains(out, "Manufacturer: mswitch", "DP Description: test switch", "Serial Num: None")

	out, err = run("get-frags", target)
	if err != nil {
		t.Fatalf("get-frags: %v", err)
	}
	contains(out, "normal")

	if _, err := run("add-flow", target, "table=0,priority=10,in_port=1,actions=output:2"); err != nil {
		t.Fatalf("add-flow: %v", err)
	}
	var fm *ofp.FlowMod
	for _, m := range dp.received() {
		if f, ok := m.(*ofp.FlowMod); ok {
			fm = f
		}
	}
	if fm == nil || fm.Command != ofp.FlowAdd || fm.Priority != 10 || len(fm.Match.Fields) != 1 || len(fm.Instructions) != 1 {
		t.Fatalf("datapath got FLOW_MOD %+v", fm)
	}
	if v, ok := fm.Match.Field(ofp.OXMInPort); !ok || v.Uint() != 1 {
		t.Errorf("FLOW_MOD match %+v", fm.Match)
	}

	out, err = run("dump-flows", target)
	if err != nil {
		t.Fatalf("dump-flows: %v", err)
	}
	contains(out, "cookie=0x1234", "duration=12", "n_packets=42", "n_bytes=4200", "priority=10,in_port=1", "actions=output:2")

	out, err = run("add-flow", target, "table=200,priority=1,actions=drop")
	if err == nil {
		t.Error("add-flow of a refused flow exited 0")
	}
	contains(out, "OFPFMFC_BAD_TABLE_ID")

	// A 1.0-only client is refused with a HELLO_FAILED it understands.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, ofctl, "-O", "OpenFlow10", "show", target).CombinedOutput()
	t.Logf("ovs-ofctl -O OpenFlow10 show:\n%s", b)
	if err == nil {
		t.Error("ovs-ofctl -O OpenFlow10 show succeeded")
	}
	contains(string(b), "version negotiation failed")
}

// tableFeatures describes one table with every property ovs-ofctl requires.
func tableFeatures() []ofp.TableFeatures {
	ids := func(ts ...uint16) []ofp.FeatureID {
		var r []ofp.FeatureID
		for _, t := range ts {
			r = append(r, ofp.FeatureID{Type: t})
		}
		return r
	}
	var oxms []ofp.OXMID
	for _, f := range []ofp.OXMField{ofp.OXMInPort, ofp.OXMEthDst, ofp.OXMEthSrc, ofp.OXMEthType} {
		oxms = append(oxms, ofp.OXMID{Header: ofp.NewOXMUint(f, 0).Header()})
	}
	insts := ids(uint16(ofp.InstGotoTable), uint16(ofp.InstApplyActions), uint16(ofp.InstWriteActions), uint16(ofp.InstClearActions))
	acts := ids(uint16(ofp.ActOutput), uint16(ofp.ActSetField))
	return []ofp.TableFeatures{{TableID: 0, Name: "classifier", MaxEntries: 1000000,
		Properties: []ofp.TableFeatureProp{
			{Type: ofp.TFPInstructions, IDs: insts}, {Type: ofp.TFPInstructionsMiss, IDs: insts},
			{Type: ofp.TFPNextTables, NextTables: []uint8{1}}, {Type: ofp.TFPNextTablesMiss, NextTables: []uint8{1}},
			{Type: ofp.TFPWriteActions, IDs: acts}, {Type: ofp.TFPWriteActionsMiss, IDs: acts},
			{Type: ofp.TFPApplyActions, IDs: acts}, {Type: ofp.TFPApplyActionsMiss, IDs: acts},
			{Type: ofp.TFPMatch, OXMs: oxms}, {Type: ofp.TFPWildcards, OXMs: oxms},
			{Type: ofp.TFPWriteSetField, OXMs: oxms}, {Type: ofp.TFPWriteSetFieldMiss, OXMs: oxms},
			{Type: ofp.TFPApplySetField, OXMs: oxms}, {Type: ofp.TFPApplySetFieldMiss, OXMs: oxms},
		}}}
}
