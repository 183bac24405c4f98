package ofp

import "testing"

// typicalFlowMod is what a controller sends most: a 5-tuple-ish match and
// an apply-actions with a rewrite and an output.
func typicalFlowMod() *FlowMod {
	return &FlowMod{Cookie: 1, Command: FlowAdd, IdleTimeout: 60, Priority: 100, BufferID: NoBuffer,
		OutPort: PortAny, OutGroup: GroupAny, Flags: FlowSendFlowRem, Match: tcpMatch(),
		Instructions: []Instruction{InstructionApplyActions{Actions: []Action{
			ActionSetField{Field: NewOXM(OXMEthDst, mac(2, 0, 0, 0, 0, 2), nil)}, ActionOutput{Port: 2}}}}}
}

// typicalPacketIn is a table miss with a 128-byte frame.
func typicalPacketIn() *PacketIn {
	return &PacketIn{BufferID: NoBuffer, TotalLen: 128, Reason: ReasonNoMatch, TableID: 0, Cookie: 0,
		Match: Match{Fields: []OXM{NewOXMUint(OXMInPort, 1)}}, Data: make([]byte, 128)}
}

func benchDecode(b *testing.B, m Message) {
	buf, err := Append(nil, 1, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppend(b *testing.B, m Message) {
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], 1, m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeFlowMod(b *testing.B)  { benchDecode(b, typicalFlowMod()) }
func BenchmarkAppendFlowMod(b *testing.B)  { benchAppend(b, typicalFlowMod()) }
func BenchmarkDecodePacketIn(b *testing.B) { benchDecode(b, typicalPacketIn()) }
func BenchmarkAppendPacketIn(b *testing.B) { benchAppend(b, typicalPacketIn()) }
