package ofp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
)

func mustAppend(t testing.TB, xid uint32, m Message) []byte {
	t.Helper()
	b, err := Append(nil, xid, m)
	if err != nil {
		t.Fatalf("Append %T: %v", m, err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for i, m := range sampleMessages() {
		name := fmt.Sprintf("%02d_%v", i, m.Type())
		if mp, ok := m.(*MultipartRequest); ok {
			name += fmt.Sprintf("_%T", mp.Body)
		}
		if mp, ok := m.(*MultipartReply); ok {
			name += fmt.Sprintf("_%T", mp.Body)
		}
		t.Run(name, func(t *testing.T) {
			b := mustAppend(t, uint32(i+1), m)
			h, err := ParseHeader(b)
			if err != nil || h.XID != uint32(i+1) || int(h.Length) != len(b) || h.Type != m.Type() {
				t.Fatalf("header %+v, err %v", h, err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v\n% x", err, b)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, m)
			}
			b2 := mustAppend(t, uint32(i+1), got)
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs:\n% x\n% x", b, b2)
			}
		})
		seen[m.Type().String()] = true
	}
	for ty := TypeHello; ty <= TypeMeterMod; ty++ {
		if !seen[ty.String()] {
			t.Errorf("no sample of %v", ty)
		}
	}
}

func TestMultipartCoverage(t *testing.T) {
	req, rep := map[MultipartType]bool{}, map[MultipartType]bool{}
	for _, m := range sampleMessages() {
		switch m := m.(type) {
		case *MultipartRequest:
			req[m.Body.MultipartType()] = true
		case *MultipartReply:
			rep[m.Body.MultipartType()] = true
		}
	}
	for mt := MPDesc; mt <= MPPortDesc; mt++ {
		if !req[mt] || !rep[mt] {
			t.Errorf("multipart %d: request sample %v, reply sample %v", mt, req[mt], rep[mt])
		}
	}
}

func wantErr(t *testing.T, err error, et ErrorType, code uint16) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *ofp.Error", err)
	}
	if e.Type != et || e.Code != code {
		t.Fatalf("error %v, want %v/%v", e, et, CodeName(et, code))
	}
}

// withHeader frames body as a message of type ty.
func withHeader(version uint8, ty MsgType, body []byte) []byte {
	b := []byte{version, byte(ty), 0, 0, 0, 0, 0, 9}
	b = append(b, body...)
	be.PutUint16(b[2:], uint16(len(b)))
	return b
}

func TestDecodeErrors(t *testing.T) {
	fm := mustAppend(t, 1, &FlowMod{Match: tcpMatch(), Instructions: []Instruction{InstructionApplyActions{Actions: []Action{ActionOutput{Port: 1}}}}})
	matchAt := HeaderLen + 40
	tests := []struct {
		name string
		b    []byte
		et   ErrorType
		code uint16
	}{
		{"short header", []byte{4, 0, 0}, ETBadRequest, BRCBadLen},
		{"length mismatch", func() []byte { b := mustAppend(t, 1, &BarrierRequest{}); return append(b, 0) }(), ETBadRequest, BRCBadLen},
		{"bad version", withHeader(1, TypeBarrierRequest, nil), ETBadRequest, BRCBadVersion},
		{"bad type", withHeader(4, 30, nil), ETBadRequest, BRCBadType},
		{"barrier with body", withHeader(4, TypeBarrierRequest, []byte{1}), ETBadRequest, BRCBadLen},
		{"short flow mod", withHeader(4, TypeFlowMod, make([]byte, 20)), ETBadRequest, BRCBadLen},
		{"bad multipart", withHeader(4, TypeMultipartRequest, []byte{0, 14, 0, 0, 0, 0, 0, 0}), ETBadRequest, BRCBadMultipart},
		{"standard match", func() []byte { b := bytes.Clone(fm); b[matchAt+1] = 0; return b }(), ETBadMatch, BMCBadType},
		{"match overruns", func() []byte { b := bytes.Clone(fm); be.PutUint16(b[matchAt+2:], 0x400); return b }(), ETBadMatch, BMCBadLen},
		{"oxm bad len", oxmFlowMod(t, []byte{0x80, 0x00, 0x00, 0x03, 0, 0, 1}), ETBadMatch, BMCBadLen},
		{"oxm unknown field", oxmFlowMod(t, []byte{0x80, 0x00, 40 << 1, 0x02, 0, 0}), ETBadMatch, BMCBadField},
		{"oxm dup field", oxmFlowMod(t, []byte{0x80, 0x00, 0x00, 0x04, 0, 0, 0, 1, 0x80, 0x00, 0x00, 0x04, 0, 0, 0, 2}), ETBadMatch, BMCDupField},
		{"oxm value outside mask", oxmFlowMod(t, []byte{0x80, 0x00, 0x17, 0x08, 10, 0, 0, 1, 255, 0, 0, 0}), ETBadMatch, BMCBadWildcards},
		{"oxm mask on unmaskable", oxmFlowMod(t, []byte{0x80, 0x00, 0x01, 0x08, 0, 0, 0, 1, 0, 0, 0, 1}), ETBadMatch, BMCBadMask},
		{"oxm vlan_vid out of range", oxmFlowMod(t, []byte{0x80, 0x00, 0x0c, 0x02, 0x20, 0x01}), ETBadMatch, BMCBadValue},
		{"oxm truncated", oxmFlowMod(t, []byte{0x80, 0x00}), ETBadMatch, BMCBadLen},
		{"unknown instruction", instFlowMod(t, []byte{0, 9, 0, 8, 0, 0, 0, 0}), ETBadInstruction, BICUnknownInst},
		{"instruction bad len", instFlowMod(t, []byte{0, 1, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), ETBadInstruction, BICBadLen},
		{"instruction odd len", instFlowMod(t, []byte{0, 1, 0, 7, 0, 0, 0, 0}), ETBadInstruction, BICBadLen},
		{"unknown action", instFlowMod(t, []byte{0, 4, 0, 16, 0, 0, 0, 0, 0, 5, 0, 8, 0, 0, 0, 0}), ETBadAction, BACBadType},
		{"action bad len", instFlowMod(t, []byte{0, 4, 0, 16, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0}), ETBadAction, BACBadLen},
		{"set-field masked", instFlowMod(t, []byte{0, 4, 0, 24, 0, 0, 0, 0, 0, 25, 0, 16, 0x80, 0x00, 0x17, 0x08, 10, 0, 0, 0, 255, 0, 0, 0}), ETBadAction, BACBadSetArgument},
		{"set-field unknown", instFlowMod(t, []byte{0, 4, 0, 16, 0, 0, 0, 0, 0, 25, 0, 8, 0x80, 0x00, 0x7e, 0x00}), ETBadAction, BACBadSetType},
		{"set-field bad len", instFlowMod(t, []byte{0, 4, 0, 24, 0, 0, 0, 0, 0, 25, 0, 16, 0x80, 0x00, 0x16, 0x02, 10, 0, 0, 0, 0, 0, 0, 0}), ETBadAction, BACBadSetLen},
		{"packet-out actions overrun", withHeader(4, TypePacketOut, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 64, 0, 0, 0, 0, 0, 0}), ETBadRequest, BRCBadLen},
		{"bucket bad len", withHeader(4, TypeGroupMod, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), ETGroupModFailed, GMFCBadBucket},
		{"meter band type", withHeader(4, TypeMeterMod, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 0, 16, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}), ETMeterModFailed, MMFCBadBand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.b)
			if err == nil {
				t.Fatalf("decoded %#v", m)
			}
			wantErr(t, err, tt.et, tt.code)
			em := NewErrorMsg(err, tt.b)
			if em.ErrType != tt.et || em.Code != tt.code || len(em.Data) > ErrorDataLen {
				t.Fatalf("NewErrorMsg %+v", em)
			}
		})
	}
}

// oxmFlowMod is a FLOW_MOD whose match holds the raw TLVs oxms.
func oxmFlowMod(t *testing.T, oxms []byte) []byte {
	body := make([]byte, 40)
	m := []byte{0, 1, 0, byte(4 + len(oxms))}
	m = append(m, oxms...)
	for len(m)%8 != 0 {
		m = append(m, 0)
	}
	return withHeader(4, TypeFlowMod, append(body, m...))
}

// instFlowMod is a FLOW_MOD with an empty match and the raw instructions.
func instFlowMod(t *testing.T, insts []byte) []byte {
	body := make([]byte, 40)
	body = append(body, 0, 1, 0, 4, 0, 0, 0, 0)
	return withHeader(4, TypeFlowMod, append(body, insts...))
}

func TestHelloAnyVersion(t *testing.T) {
	// An OF1.0 HELLO with a trailing malformed element still decodes.
	b := withHeader(1, TypeHello, []byte{0, 1, 0, 8, 0, 0, 0, 0x12, 0, 9})
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	h := m.(*Hello)
	if h.Version != 1 || len(h.Elements) != 1 {
		t.Fatalf("%+v", h)
	}
	if v, ok := NegotiateVersion(h, Version); !ok || v != Version {
		t.Fatalf("negotiate %v %v", v, ok)
	}
	if _, ok := NegotiateVersion(&Hello{Version: 1}, Version); ok {
		t.Fatal("negotiated with an OF1.0-only peer")
	}
	if v, ok := NegotiateVersion(&Hello{Version: 6}, Version); !ok || v != Version {
		t.Fatalf("negotiate without bitmap %v %v", v, ok)
	}
	if _, ok := NegotiateVersion(NewHello(1, 5), Version); ok {
		t.Fatal("negotiated without a common version")
	}
}

func TestReadMessage(t *testing.T) {
	var stream []byte
	msgs := sampleMessages()
	for i, m := range msgs {
		stream = append(stream, mustAppend(t, uint32(i), m)...)
	}
	r := bytes.NewReader(stream)
	buf := make([]byte, 16)
	for i := range msgs {
		f, err := ReadMessage(r, buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if h, _ := ParseHeader(f); h.XID != uint32(i) {
			t.Fatalf("message %d: xid %d", i, h.XID)
		}
		if _, err := Decode(f); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		buf = f
	}
	if _, err := ReadMessage(r, buf); err != io.EOF {
		t.Fatalf("at end: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader([]byte{4, 0, 0, 4, 0, 0, 0, 0}), nil); err != ErrFraming {
		t.Fatalf("short length: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader([]byte{4, 0, 0, 16, 0, 0, 0, 0, 1}), nil); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
}

func TestPrereqs(t *testing.T) {
	tests := []struct {
		name string
		m    Match
		ok   bool
	}{
		{"empty", Match{}, true},
		{"tcp chain", tcpMatch(), true},
		{"tcp without proto", Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypeIPv4), NewOXMUint(OXMTCPDst, 80)}}, false},
		{"ip_proto without eth_type", Match{Fields: []OXM{NewOXMUint(OXMIPProto, 6)}}, false},
		{"ipv4 on ipv6", Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypeIPv6), NewOXM(OXMIPv4Src, ip4("1.2.3.4"), nil)}}, false},
		{"masked eth_type", Match{Fields: []OXM{NewOXMUintMasked(OXMEthType, 0x0800, 0xff00), NewOXMUint(OXMIPProto, 6)}}, false},
		{"in_phy_port", Match{Fields: []OXM{NewOXMUint(OXMInPhyPort, 1)}}, false},
		{"vlan_pcp tagged", Match{Fields: []OXM{NewOXMUintMasked(OXMVlanVID, uint64(VIDPresent), uint64(VIDPresent)), NewOXMUint(OXMVlanPCP, 1)}}, true},
		{"vlan_pcp untagged", Match{Fields: []OXM{NewOXMUint(OXMVlanVID, uint64(VIDNone)), NewOXMUint(OXMVlanPCP, 1)}}, false},
		{"nd_sll on NA", Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypeIPv6), NewOXMUint(OXMIPProto, 58), NewOXMUint(OXMICMPv6Type, 136), NewOXM(OXMIPv6NDSLL, mac(1, 2, 3, 4, 5, 6), nil)}}, false},
		{"nd_tll on NA", Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypeIPv6), NewOXMUint(OXMIPProto, 58), NewOXMUint(OXMICMPv6Type, 136), NewOXM(OXMIPv6NDTLL, mac(1, 2, 3, 4, 5, 6), nil)}}, true},
		{"mpls", Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypeMPLSMC), NewOXMUint(OXMMPLSBOS, 1)}}, true},
		{"arp", Match{Fields: []OXM{NewOXMUint(OXMEthType, EthTypeARP), NewOXMUint(OXMARPOp, 2)}}, true},
	}
	for _, tt := range tests {
		err := tt.m.CheckPrereqs()
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
		if err != nil {
			wantErr(t, err, ETBadMatch, BMCBadPrereq)
		}
	}
}

func TestErrorIs(t *testing.T) {
	_, err := Decode(withHeader(4, 99, nil))
	if !errors.Is(err, &Error{Type: ETBadRequest, Code: BRCBadType}) {
		t.Fatalf("%v", err)
	}
	if s := err.Error(); s != "ofp: BAD_REQUEST/BAD_TYPE: message type 99" {
		t.Fatalf("%q", s)
	}
	em := NewErrorMsg(err, bytes.Repeat([]byte{1}, 100))
	if len(em.Data) != ErrorDataLen {
		t.Fatal(len(em.Data))
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b := mustAppend(t, 1, &PacketOut{BufferID: NoBuffer, InPort: 1, Data: []byte{1, 2, 3}})
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if d := m.(*PacketOut).Data; !bytes.Equal(d, []byte{1, 2, 3}) {
		t.Fatalf("data changed with the input: %v", d)
	}
}

func TestTooLarge(t *testing.T) {
	if _, err := Append(nil, 1, &PacketOut{Data: make([]byte, 70000)}); err != ErrTooLarge {
		t.Fatalf("%v", err)
	}
}
