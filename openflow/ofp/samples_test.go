package ofp

import "net/netip"

func ip4(s string) []byte  { a := netip.MustParseAddr(s).As4(); return a[:] }
func ip6(s string) []byte  { a := netip.MustParseAddr(s).As16(); return a[:] }
func mac(b ...byte) []byte { return b }

// everyFieldMatch uses every OpenFlow basic field once (not a consistent
// packet, just wire coverage), masked where the field allows it.
func everyFieldMatch() Match {
	return Match{Fields: []OXM{
		NewOXMUint(OXMInPort, 1),
		NewOXMUint(OXMInPhyPort, 1),
		NewOXMUintMasked(OXMMetadata, 0x1200, 0xff00),
		NewOXM(OXMEthDst, mac(0, 1, 2, 3, 4, 5), nil),
		NewOXM(OXMEthSrc, mac(0x0a, 0, 0, 0, 0, 0), mac(0xff, 0, 0, 0, 0, 0)),
		NewOXMUint(OXMEthType, EthTypeIPv4),
		NewOXMUintMasked(OXMVlanVID, uint64(VIDPresent|10), 0x1fff),
		NewOXMUint(OXMVlanPCP, 3),
		NewOXMUint(OXMIPDSCP, 46),
		NewOXMUint(OXMIPECN, 2),
		NewOXMUint(OXMIPProto, IPProtoTCP),
		NewOXM(OXMIPv4Src, ip4("10.0.0.0"), ip4("255.0.0.0")),
		NewOXM(OXMIPv4Dst, ip4("192.168.1.1"), nil),
		NewOXMUint(OXMTCPSrc, 1234),
		NewOXMUint(OXMTCPDst, 80),
		NewOXMUint(OXMUDPSrc, 53),
		NewOXMUint(OXMUDPDst, 5353),
		NewOXMUint(OXMSCTPSrc, 1),
		NewOXMUint(OXMSCTPDst, 2),
		NewOXMUint(OXMICMPv4Type, 8),
		NewOXMUint(OXMICMPv4Code, 0),
		NewOXMUint(OXMARPOp, 1),
		NewOXM(OXMARPSpa, ip4("10.0.0.0"), ip4("255.255.255.0")),
		NewOXM(OXMARPTpa, ip4("10.0.0.2"), nil),
		NewOXM(OXMARPSha, mac(2, 0, 0, 0, 0, 1), nil),
		NewOXM(OXMARPTha, mac(2, 0, 0, 0, 0, 0), mac(0xff, 0xff, 0xff, 0, 0, 0)),
		NewOXM(OXMIPv6Src, ip6("2001:db8::"), ip6("ffff:ffff::")),
		NewOXM(OXMIPv6Dst, ip6("2001:db8::1"), nil),
		NewOXMUintMasked(OXMIPv6FLabel, 0x12345, 0xfffff),
		NewOXMUint(OXMICMPv6Type, 135),
		NewOXMUint(OXMICMPv6Code, 0),
		NewOXM(OXMIPv6NDTarget, ip6("fe80::1"), nil),
		NewOXM(OXMIPv6NDSLL, mac(2, 0, 0, 0, 0, 3), nil),
		NewOXM(OXMIPv6NDTLL, mac(2, 0, 0, 0, 0, 4), nil),
		NewOXMUint(OXMMPLSLabel, 0xabcde),
		NewOXMUint(OXMMPLSTC, 5),
		NewOXMUint(OXMMPLSBOS, 1),
		NewOXMUintMasked(OXMPBBISID, 0x123400, 0xffff00),
		NewOXMUintMasked(OXMTunnelID, 0xdead, 0xffff),
		NewOXMUintMasked(OXMIPv6ExtHdr, uint64(IEHFrag), uint64(IEHFrag|IEHAuth)),
		{Class: OXMClassExperimenter, Field: 42, Experimenter: 0x4f4e4600, Value: []byte{0, 2}},
		{Class: OXMClassNXM1, Field: 1, Value: []byte{1, 2, 3, 4}, Mask: []byte{0xff, 0xff, 0, 0}},
	}}
}

func tcpMatch() Match {
	return Match{Fields: []OXM{
		NewOXMUint(OXMInPort, 1),
		NewOXMUint(OXMEthType, EthTypeIPv4),
		NewOXMUint(OXMIPProto, IPProtoTCP),
		NewOXM(OXMIPv4Src, ip4("10.0.0.0"), ip4("255.0.0.0")),
		NewOXMUint(OXMTCPDst, 80),
	}}
}

func everyAction() []Action {
	return []Action{
		ActionOutput{Port: 2, MaxLen: 0},
		ActionOutput{Port: PortController, MaxLen: CMLNoBuffer},
		ActionCopyTTLOut{},
		ActionCopyTTLIn{},
		ActionSetMPLSTTL{TTL: 64},
		ActionDecMPLSTTL{},
		ActionPushVLAN{EtherType: EthTypeVLAN},
		ActionPopVLAN{},
		ActionPushMPLS{EtherType: EthTypeMPLS},
		ActionPopMPLS{EtherType: EthTypeIPv4},
		ActionSetQueue{QueueID: 7},
		ActionGroup{GroupID: 3},
		ActionSetNWTTL{TTL: 32},
		ActionDecNWTTL{},
		ActionSetField{Field: NewOXMUint(OXMVlanVID, uint64(VIDPresent|100))},
		ActionSetField{Field: NewOXM(OXMIPv6Src, ip6("2001:db8::5"), nil)},
		ActionSetField{Field: NewOXMUint(OXMPBBISID, 0xabcdef)},
		ActionPushPBB{EtherType: EthTypePBB},
		ActionPopPBB{},
		ActionExperimenter{Experimenter: 0x2320, Data: []byte{0, 1, 2, 3, 4, 5, 6, 7}},
	}
}

func everyInstruction() []Instruction {
	return []Instruction{
		InstructionMeter{MeterID: 1},
		InstructionApplyActions{Actions: everyAction()},
		InstructionClearActions{},
		InstructionWriteActions{Actions: []Action{ActionOutput{Port: 3}, ActionGroup{GroupID: 1}}},
		InstructionWriteMetadata{Metadata: 0xab00, Mask: 0xff00},
		InstructionGotoTable{TableID: 2},
		InstructionExperimenter{Experimenter: 0x2320, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
	}
}

func samplePort(n uint32) Port {
	return Port{
		PortNo: n, HWAddr: [6]byte{2, 0, 0, 0, 0, byte(n)}, Name: "eth" + itoa(uint64(n)),
		Config: PortConfigNoPacketIn, State: PortStateLive, Curr: PortFeature10GbFD | PortFeatureCopper,
		Advertised: PortFeature10GbFD, Supported: PortFeature10GbFD | PortFeature1GbFD, Peer: 0,
		CurrSpeed: 10000000, MaxSpeed: 10000000,
	}
}

func sampleTableFeatures() []TableFeatures {
	return []TableFeatures{{
		TableID: 0, Name: "classifier", MetadataMatch: ^uint64(0), MetadataWrite: ^uint64(0),
		Config: 0, MaxEntries: 1000000,
		Properties: []TableFeatureProp{
			{Type: TFPInstructions, IDs: []FeatureID{{Type: uint16(InstGotoTable)}, {Type: uint16(InstApplyActions)}, {Type: uint16(InstExperimenter), Data: []byte{0, 0, 0x23, 0x20}}}},
			{Type: TFPNextTables, NextTables: []uint8{1, 2, 3}},
			{Type: TFPApplyActions, IDs: []FeatureID{{Type: uint16(ActOutput)}, {Type: uint16(ActSetField)}}},
			{Type: TFPMatch, OXMs: []OXMID{{Header: NewOXMUint(OXMInPort, 0).Header()}, {Header: 0xffff5404, Experimenter: 0x4f4e4600}}},
			{Type: TFPExperimenter, Experimenter: 0x2320, ExpType: 9, Data: []byte{1, 2, 3}},
			{Type: 0x77, Data: []byte{9, 9, 9, 9}},
		},
	}, {TableID: 1, Name: "second"}}
}

func sampleBands() []MeterBand {
	return []MeterBand{
		{Type: MeterBandDrop, Rate: 1000, BurstSize: 100},
		{Type: MeterBandDSCPRemark, Rate: 500, BurstSize: 50, PrecLevel: 1},
		{Type: MeterBandExperimenter, Rate: 1, BurstSize: 2, Experimenter: 0x2320, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
	}
}

func sampleBuckets() []Bucket {
	return []Bucket{
		{Weight: 1, WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{ActionOutput{Port: 2}}},
		{Weight: 2, WatchPort: 3, WatchGroup: GroupAny, Actions: []Action{ActionSetField{Field: NewOXM(OXMEthDst, mac(2, 0, 0, 0, 0, 9), nil)}, ActionOutput{Port: 3}}},
		{Weight: 0, WatchPort: PortAny, WatchGroup: 5},
	}
}

// sampleMessages covers every message type and every multipart body.
func sampleMessages() []Message {
	fsr := FlowStatsRequest{TableID: TableAll, OutPort: PortAny, OutGroup: GroupAny, Cookie: 1, CookieMask: 1, Match: tcpMatch()}
	asr := AggregateStatsRequest(fsr)
	return []Message{
		NewHello(Version),
		NewHello(1, 4, 5, 6),
		&Hello{Version: 1},
		&ErrorMsg{ErrType: ETBadMatch, Code: BMCDupField, Data: []byte{4, 14, 0, 8, 0, 0, 0, 1}},
		&ErrorMsg{ErrType: ETExperimenter, Code: 7, Experimenter: 0x2320, Data: []byte("x")},
		&EchoRequest{Data: []byte("ping")},
		&EchoReply{},
		&Experimenter{Experimenter: 0x2320, ExpType: 10, Data: []byte{1, 2}},
		&FeaturesRequest{},
		&FeaturesReply{DatapathID: 0x1122334455667788, NBuffers: 0, NTables: 254, Capabilities: CapFlowStats | CapTableStats | CapPortStats | CapGroupStats},
		&GetConfigRequest{},
		&GetConfigReply{Flags: FragNormal, MissSendLen: 128},
		&SetConfig{Flags: FragDrop, MissSendLen: CMLNoBuffer},
		&PacketIn{BufferID: NoBuffer, TotalLen: 60, Reason: ReasonAction, TableID: 1, Cookie: 42,
			Match: Match{Fields: []OXM{NewOXMUint(OXMInPort, 3)}}, Data: make([]byte, 60)},
		&PacketIn{BufferID: NoBuffer, Reason: ReasonNoMatch},
		&FlowRemoved{Cookie: 1, Priority: 100, Reason: RemovedIdleTimeout, TableID: 0, DurationSec: 5, DurationNsec: 6,
			IdleTimeout: 10, PacketCount: 100, ByteCount: 6400, Match: tcpMatch()},
		&PortStatus{Reason: PortReasonModify, Port: samplePort(1)},
		&PacketOut{BufferID: NoBuffer, InPort: PortController, Actions: []Action{ActionOutput{Port: PortFlood}}, Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 8, 6}},
		&PacketOut{BufferID: 5, InPort: 1},
		&FlowMod{Cookie: 0x10, CookieMask: 0, TableID: 0, Command: FlowAdd, IdleTimeout: 30, HardTimeout: 60,
			Priority: 100, BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny, Flags: FlowSendFlowRem,
			Match: everyFieldMatch(), Instructions: everyInstruction()},
		&FlowMod{Command: FlowDeleteStrict, TableID: TableAll, BufferID: NoBuffer, OutPort: 2, OutGroup: GroupAny},
		&GroupMod{Command: GroupAdd, GroupType: GroupTypeSelect, GroupID: 1, Buckets: sampleBuckets()},
		&GroupMod{Command: GroupDelete, GroupType: GroupTypeAll, GroupID: GroupAll},
		&PortMod{PortNo: 1, HWAddr: [6]byte{2, 0, 0, 0, 0, 1}, Config: PortConfigDown, Mask: PortConfigDown, Advertise: 0},
		&TableMod{TableID: TableAll, Config: TableConfigDeprecatedMask},
		&MultipartRequest{Body: &DescRequest{}},
		&MultipartRequest{Flags: MultipartRequestMore, Body: &fsr},
		&MultipartRequest{Body: &asr},
		&MultipartRequest{Body: &TableStatsRequest{}},
		&MultipartRequest{Body: &PortStatsRequest{PortNo: PortAny}},
		&MultipartRequest{Body: &QueueStatsRequest{PortNo: PortAny, QueueID: QueueAll}},
		&MultipartRequest{Body: &GroupStatsRequest{GroupID: GroupAll}},
		&MultipartRequest{Body: &GroupDescRequest{}},
		&MultipartRequest{Body: &GroupFeaturesRequest{}},
		&MultipartRequest{Body: &MeterStatsRequest{MeterID: MeterAll}},
		&MultipartRequest{Body: &MeterConfigRequest{MeterID: 1}},
		&MultipartRequest{Body: &MeterFeaturesRequest{}},
		&MultipartRequest{Body: &TableFeaturesRequest{}},
		&MultipartRequest{Body: &TableFeaturesRequest{Tables: sampleTableFeatures()}},
		&MultipartRequest{Body: &PortDescRequest{}},
		&MultipartRequest{Body: &ExperimenterMultipart{Experimenter: 0x2320, ExpType: 1, Data: []byte{1}}},
		&MultipartReply{Body: &DescReply{MfrDesc: "mswitch", HWDesc: "software", SWDesc: "0.1", SerialNum: "none", DPDesc: "test"}},
		&MultipartReply{Flags: MultipartReplyMore, Body: &FlowStatsReply{Stats: []FlowStats{
			{TableID: 0, DurationSec: 1, Priority: 100, Flags: FlowSendFlowRem, Cookie: 5, PacketCount: 10, ByteCount: 640, Match: tcpMatch(), Instructions: everyInstruction()},
			{TableID: 1},
		}}},
		&MultipartReply{Body: &FlowStatsReply{}},
		&MultipartReply{Body: &AggregateStatsReply{PacketCount: 1, ByteCount: 2, FlowCount: 3}},
		&MultipartReply{Body: &TableStatsReply{Stats: []TableStats{{TableID: 0, ActiveCount: 4, LookupCount: 100, MatchedCount: 90}, {TableID: 1}}}},
		&MultipartReply{Body: &PortStatsReply{Stats: []PortStats{{PortNo: 1, RxPackets: 1, TxPackets: 2, RxBytes: 3, TxBytes: 4, RxDropped: 5, TxDropped: 6, RxErrors: 7, TxErrors: 8, RxFrameErr: 9, RxOverErr: 10, RxCRCErr: 11, Collisions: 12, DurationSec: 13, DurationNsec: 14}}}},
		&MultipartReply{Body: &QueueStatsReply{Stats: []QueueStats{{PortNo: 1, QueueID: 0, TxBytes: 1, TxPackets: 2, TxErrors: 3, DurationSec: 4, DurationNsec: 5}}}},
		&MultipartReply{Body: &GroupStatsReply{Stats: []GroupStats{{GroupID: 1, RefCount: 2, PacketCount: 3, ByteCount: 4, DurationSec: 5, DurationNsec: 6, BucketStats: []BucketCounter{{1, 2}, {3, 4}}}, {GroupID: 2}}}},
		&MultipartReply{Body: &GroupDescReply{Groups: []GroupDesc{{GroupType: GroupTypeFF, GroupID: 1, Buckets: sampleBuckets()}, {GroupType: GroupTypeIndirect, GroupID: 2}}}},
		&MultipartReply{Body: &GroupFeaturesReply{Types: 0xf, Capabilities: GroupCapSelectWeight | GroupCapChaining, MaxGroups: [4]uint32{1, 2, 3, 4}, Actions: [4]uint32{5, 6, 7, 8}}},
		&MultipartReply{Body: &MeterStatsReply{Stats: []MeterStats{{MeterID: 1, FlowCount: 2, PacketInCount: 3, ByteInCount: 4, DurationSec: 5, DurationNsec: 6, BandStats: []MeterBandStats{{1, 2}}}}}},
		&MultipartReply{Body: &MeterConfigReply{Meters: []MeterConfig{{Flags: MeterFlagKbps, MeterID: 1, Bands: sampleBands()}}}},
		&MultipartReply{Body: &MeterFeaturesReply{MaxMeter: 100, BandTypes: 1 << MeterBandDrop, Capabilities: uint32(MeterFlagKbps), MaxBands: 1, MaxColor: 0}},
		&MultipartReply{Body: &TableFeaturesReply{Tables: sampleTableFeatures()}},
		&MultipartReply{Body: &PortDescReply{Ports: []Port{samplePort(1), samplePort(2), {PortNo: PortLocal, Name: "exactly16bytes!!"}}}},
		&MultipartReply{Body: &ExperimenterMultipart{Experimenter: 0x2320, ExpType: 2}},
		&BarrierRequest{},
		&BarrierReply{},
		&QueueGetConfigRequest{Port: PortAny},
		&QueueGetConfigReply{Port: 1, Queues: []PacketQueue{
			{QueueID: 0, Port: 1, Properties: []QueueProp{{Type: QueuePropMinRate, Rate: 100}, {Type: QueuePropMaxRate, Rate: 1000}, {Type: QueuePropExperimenter, Experimenter: 0x2320, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}},
			{QueueID: 1, Port: 1},
		}},
		&RoleRequest{Role: RoleMaster, GenerationID: 7},
		&RoleReply{Role: RoleSlave, GenerationID: 8},
		&GetAsyncRequest{},
		&GetAsyncReply{AsyncConfig{PacketInMask: [2]uint32{3, 0}, PortStatusMask: [2]uint32{7, 7}, FlowRemovedMask: [2]uint32{15, 0}}},
		&SetAsync{AsyncConfig{PacketInMask: [2]uint32{1, 2}, PortStatusMask: [2]uint32{3, 4}, FlowRemovedMask: [2]uint32{5, 6}}},
		&MeterMod{Command: MeterAdd, Flags: MeterFlagKbps | MeterFlagBurst, MeterID: 1, Bands: sampleBands()},
		&MeterMod{Command: MeterDelete, MeterID: MeterAll},
	}
}
