package ofp

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOskenParse has os-ken (Debian python3-os-ken) parse every sample
// message we encode.
func TestOskenParse(t *testing.T) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err == nil {
		err = exec.Command(py, "-c", "import os_ken.ofproto.ofproto_v1_3_parser").Run()
	}
	if err != nil {
		t.Skipf("os-ken not available (Debian python3-os-ken): %v", err)
	}
	msgs := oskenMessages()
	var in bytes.Buffer
	for i, m := range msgs {
		in.WriteString(hex.EncodeToString(mustAppend(t, uint32(i), m)) + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/osken/parse.py")
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("parse.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("%d results for %d messages:\n%s", len(lines), len(msgs), out)
	}
	reser := 0
	for i, l := range lines {
		if strings.HasSuffix(l, " reser") {
			reser++
		} else if msgs[i].Type() == TypeFlowMod {
			t.Errorf("sample %d: os-ken re-serializes our FLOW_MOD differently: %s", i, l)
		}
		if !strings.HasPrefix(l, "ok ") {
			t.Errorf("sample %d (%v %s): %s", i, msgs[i].Type(), bodyName(msgs[i]), l)
		}
	}
	t.Logf("os-ken parsed %d messages; %d re-serialized to the same bytes", len(lines), reser)
}

func bodyName(m Message) string {
	switch m := m.(type) {
	case *MultipartRequest:
		return strings.TrimPrefix(typeName(m.Body), "*ofp.")
	case *MultipartReply:
		return strings.TrimPrefix(typeName(m.Body), "*ofp.")
	}
	return ""
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// oskenMessages are the samples os-ken can parse: it parses only what a
// switch sends (and FLOW_MOD), and neither experimenter instructions, meter
// bands or table feature properties nor OXM classes other than OpenFlow
// basic (os-ken 2.5.0 loops forever on an NXM_1 TLV in a match).
func oskenMessages() []Message {
	var r []Message
	for _, m := range sampleMessages() {
		switch m.Type() {
		case TypeHello, TypeError, TypeEchoRequest, TypeEchoReply, TypeExperimenter, TypeFeaturesReply,
			TypeGetConfigReply, TypePacketIn, TypeFlowRemoved, TypePortStatus, TypeBarrierReply,
			TypeQueueGetConfigReply, TypeRoleReply, TypeGetAsyncReply:
			r = append(r, m)
		case TypeMultipartReply:
			switch m.(*MultipartReply).Body.(type) {
			case *FlowStatsReply, *MeterConfigReply, *TableFeaturesReply:
			default:
				r = append(r, m)
			}
		}
	}
	for _, c := range ofctlCases() {
		if c.m.Type() == TypeFlowMod {
			r = append(r, c.m)
		}
	}
	r = append(r,
		&FlowMod{Command: FlowAdd, BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny,
			Match: Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypePBB), NewOXMUintMasked(OXMPBBISID, 0x123400, 0xffff00),
				NewOXMUintMasked(OXMIPv6ExtHdr, uint64(IEHFrag), uint64(IEHFrag|IEHAuth))}},
			Instructions: []Instruction{InstructionApplyActions{Actions: []Action{ActionCopyTTLIn{}, ActionCopyTTLOut{}, ActionPopPBB{},
				ActionPushPBB{EtherType: EthTypePBB}, ActionSetField{Field: NewOXMUint(OXMPBBISID, 0xabcdef)}, ActionOutput{Port: 1}}}}},
		&MultipartReply{Flags: MultipartReplyMore, Body: &FlowStatsReply{Stats: []FlowStats{
			{TableID: 0, DurationSec: 1, Priority: 100, Cookie: 5, PacketCount: 10, ByteCount: 640, Match: tcpMatch(),
				Instructions: []Instruction{InstructionGotoTable{TableID: 1}, InstructionApplyActions{Actions: everyAction()[:19]}}},
		}}},
		&MultipartReply{Body: &MeterConfigReply{Meters: []MeterConfig{{Flags: MeterFlagKbps, MeterID: 1, Bands: sampleBands()[:2]}}}},
		&MultipartReply{Body: &TableFeaturesReply{Tables: fullTableFeatures()}},
	)
	return r
}
