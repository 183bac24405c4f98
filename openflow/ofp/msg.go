package ofp

// HelloElement is one element of a HELLO. For HelloElemVersionBitmap, Data
// holds the 32-bit bitmaps; see NewHello and Hello.VersionBitmap.
type HelloElement struct {
	Type uint16
	Data []byte
}

// Hello is OFPT_HELLO. Version is the header's version (the sender's
// highest); Append uses Version when it is not zero.
type Hello struct {
	Version  uint8
	Elements []HelloElement
}

// NewHello returns a HELLO of the highest of versions, with a version
// bitmap element listing all of them.
func NewHello(versions ...uint8) *Hello {
	h := &Hello{}
	var bm []uint32
	for _, v := range versions {
		if v > h.Version {
			h.Version = v
		}
		for int(v/32) >= len(bm) {
			bm = append(bm, 0)
		}
		bm[v/32] |= 1 << (v % 32)
	}
	data := make([]byte, 0, 4*len(bm))
	for _, w := range bm {
		data = be.AppendUint32(data, w)
	}
	h.Elements = []HelloElement{{Type: HelloElemVersionBitmap, Data: data}}
	return h
}

// VersionBitmap returns the bitmaps of the first version-bitmap element, or
// nil when there is none.
func (h *Hello) VersionBitmap() []uint32 {
	for _, e := range h.Elements {
		if e.Type == HelloElemVersionBitmap {
			bm := make([]uint32, 0, len(e.Data)/4)
			for i := 0; i+4 <= len(e.Data); i += 4 {
				bm = append(bm, be.Uint32(e.Data[i:]))
			}
			return bm
		}
	}
	return nil
}

// NegotiateVersion returns the version to speak with a peer that sent h,
// given the versions we support (spec 1.3.5 §6.3.1): with a version bitmap
// on the peer's side, the highest version in both; without, the smaller of
// the peer's and our highest version, if we support it. ok is false when
// there is no common version (answer HELLO_FAILED/INCOMPATIBLE).
func NegotiateVersion(h *Hello, supported ...uint8) (v uint8, ok bool) {
	bm := h.VersionBitmap()
	if bm != nil {
		for _, s := range supported {
			if int(s/32) < len(bm) && bm[s/32]&(1<<(s%32)) != 0 && s >= v {
				v, ok = s, true
			}
		}
		return v, ok
	}
	var highest uint8
	for _, s := range supported {
		highest = max(highest, s)
	}
	v = min(h.Version, highest)
	for _, s := range supported {
		if s == v {
			return v, true
		}
	}
	return 0, false
}

func (*Hello) Type() MsgType { return TypeHello }

func (h *Hello) appendBody(dst []byte) ([]byte, error) {
	for _, e := range h.Elements {
		start := len(dst)
		dst = be.AppendUint16(dst, e.Type)
		dst = append(dst, 0, 0)
		dst = append(dst, e.Data...)
		if err := putLen16(dst, start+2, start); err != nil {
			return dst, err
		}
		dst = padTo8(dst, start)
	}
	return dst, nil
}

// decodeHello is lenient, as a HELLO may come from any version: it keeps
// the well-formed elements and stops at the first malformed one.
func decodeHello(version uint8, b []byte) (Message, error) {
	h := &Hello{Version: version}
	for len(b) >= 4 {
		n := int(be.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			break
		}
		h.Elements = append(h.Elements, HelloElement{Type: be.Uint16(b), Data: clip(b[4:n])})
		b = b[min(pad8(n), len(b)):]
	}
	return h, nil
}

// ErrorMsg is OFPT_ERROR. For ErrType ETExperimenter, Code is the exp_type and
// Experimenter the experimenter id. Data is (a prefix of) the offending
// request, or ASCII text for ETHelloFailed.
type ErrorMsg struct {
	ErrType      ErrorType
	Code         uint16
	Experimenter uint32
	Data         []byte
}

// Err returns the message's error as an *Error.
func (m *ErrorMsg) Err() *Error { return &Error{Type: m.ErrType, Code: m.Code} }

func (*ErrorMsg) Type() MsgType { return TypeError }

func (m *ErrorMsg) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint16(be.AppendUint16(dst, uint16(m.ErrType)), m.Code)
	if m.ErrType == ETExperimenter {
		dst = be.AppendUint32(dst, m.Experimenter)
	}
	return append(dst, m.Data...), nil
}

func decodeErrorMsg(b []byte) (Message, error) {
	if len(b) < 4 {
		return nil, badLen("ERROR shorter than 12 bytes")
	}
	m := &ErrorMsg{ErrType: ErrorType(be.Uint16(b)), Code: be.Uint16(b[2:])}
	b = b[4:]
	if m.ErrType == ETExperimenter {
		if len(b) < 4 {
			return nil, badLen("experimenter ERROR shorter than 16 bytes")
		}
		m.Experimenter = be.Uint32(b)
		b = b[4:]
	}
	m.Data = clip(b)
	return m, nil
}

// EchoRequest is OFPT_ECHO_REQUEST with an arbitrary payload.
type EchoRequest struct{ Data []byte }

// EchoReply is OFPT_ECHO_REPLY; it returns the request's payload.
type EchoReply struct{ Data []byte }

func (*EchoRequest) Type() MsgType { return TypeEchoRequest }
func (*EchoReply) Type() MsgType   { return TypeEchoReply }

func (m *EchoRequest) appendBody(dst []byte) ([]byte, error) { return append(dst, m.Data...), nil }
func (m *EchoReply) appendBody(dst []byte) ([]byte, error)   { return append(dst, m.Data...), nil }

// Experimenter is OFPT_EXPERIMENTER, kept opaque.
type Experimenter struct {
	Experimenter uint32
	ExpType      uint32
	Data         []byte
}

func (*Experimenter) Type() MsgType { return TypeExperimenter }

func (m *Experimenter) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint32(be.AppendUint32(dst, m.Experimenter), m.ExpType)
	return append(dst, m.Data...), nil
}

func decodeExperimenter(b []byte) (Message, error) {
	if len(b) < 8 {
		return nil, badLen("EXPERIMENTER shorter than 16 bytes")
	}
	return &Experimenter{Experimenter: be.Uint32(b), ExpType: be.Uint32(b[4:]), Data: clip(b[8:])}, nil
}

// FeaturesRequest is OFPT_FEATURES_REQUEST.
type FeaturesRequest struct{}

// FeaturesReply is OFPT_FEATURES_REPLY. OpenFlow 1.3 lists no ports here;
// controllers ask for MPPortDesc.
type FeaturesReply struct {
	DatapathID   uint64
	NBuffers     uint32
	NTables      uint8
	AuxiliaryID  uint8
	Capabilities uint32
	Reserved     uint32
}

func (*FeaturesRequest) Type() MsgType { return TypeFeaturesRequest }
func (*FeaturesReply) Type() MsgType   { return TypeFeaturesReply }

func (*FeaturesRequest) appendBody(dst []byte) ([]byte, error) { return dst, nil }

func (m *FeaturesReply) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint64(dst, m.DatapathID)
	dst = be.AppendUint32(dst, m.NBuffers)
	dst = append(dst, m.NTables, m.AuxiliaryID, 0, 0)
	dst = be.AppendUint32(dst, m.Capabilities)
	return be.AppendUint32(dst, m.Reserved), nil
}

func decodeFeaturesReply(b []byte) (Message, error) {
	if len(b) != 24 {
		return nil, badLen("FEATURES_REPLY is not 32 bytes")
	}
	return &FeaturesReply{
		DatapathID: be.Uint64(b), NBuffers: be.Uint32(b[8:]), NTables: b[12], AuxiliaryID: b[13],
		Capabilities: be.Uint32(b[16:]), Reserved: be.Uint32(b[20:]),
	}, nil
}

// GetConfigRequest is OFPT_GET_CONFIG_REQUEST.
type GetConfigRequest struct{}

// GetConfigReply is OFPT_GET_CONFIG_REPLY.
type GetConfigReply struct {
	Flags       uint16 // Frag*
	MissSendLen uint16
}

// SetConfig is OFPT_SET_CONFIG.
type SetConfig struct {
	Flags       uint16 // Frag*
	MissSendLen uint16
}

func (*GetConfigRequest) Type() MsgType { return TypeGetConfigRequest }
func (*GetConfigReply) Type() MsgType   { return TypeGetConfigReply }
func (*SetConfig) Type() MsgType        { return TypeSetConfig }

func (*GetConfigRequest) appendBody(dst []byte) ([]byte, error) { return dst, nil }
func (m *GetConfigReply) appendBody(dst []byte) ([]byte, error) {
	return be.AppendUint16(be.AppendUint16(dst, m.Flags), m.MissSendLen), nil
}
func (m *SetConfig) appendBody(dst []byte) ([]byte, error) {
	return be.AppendUint16(be.AppendUint16(dst, m.Flags), m.MissSendLen), nil
}

func decodeSwitchConfig(t MsgType, b []byte) (Message, error) {
	if len(b) != 4 {
		return nil, badLen(t.String() + " is not 12 bytes")
	}
	flags, msl := be.Uint16(b), be.Uint16(b[2:])
	if t == TypeSetConfig {
		return &SetConfig{Flags: flags, MissSendLen: msl}, nil
	}
	return &GetConfigReply{Flags: flags, MissSendLen: msl}, nil
}

// PacketIn is OFPT_PACKET_IN.
type PacketIn struct {
	BufferID uint32
	TotalLen uint16
	Reason   uint8 // Reason*
	TableID  uint8
	Cookie   uint64
	Match    Match
	Data     []byte
}

func (*PacketIn) Type() MsgType { return TypePacketIn }

func (m *PacketIn) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint32(dst, m.BufferID)
	dst = be.AppendUint16(dst, m.TotalLen)
	dst = append(dst, m.Reason, m.TableID)
	dst = be.AppendUint64(dst, m.Cookie)
	dst, err := m.Match.appendTo(dst)
	if err != nil {
		return dst, err
	}
	dst = append(dst, 0, 0)
	return append(dst, m.Data...), nil
}

func decodePacketIn(b []byte) (Message, error) {
	if len(b) < 16+8+2 {
		return nil, badLen("PACKET_IN shorter than 34 bytes")
	}
	m := &PacketIn{
		BufferID: be.Uint32(b), TotalLen: be.Uint16(b[4:]), Reason: b[6], TableID: b[7],
		Cookie: be.Uint64(b[8:]),
	}
	match, n, err := decodeMatch(b[16:])
	if err != nil {
		return nil, err
	}
	m.Match = match
	rest := b[16+n:]
	if len(rest) < 2 {
		return nil, badLen("PACKET_IN without padding after its match")
	}
	m.Data = clip(rest[2:])
	return m, nil
}

// FlowRemoved is OFPT_FLOW_REMOVED.
type FlowRemoved struct {
	Cookie       uint64
	Priority     uint16
	Reason       uint8 // Removed*
	TableID      uint8
	DurationSec  uint32
	DurationNsec uint32
	IdleTimeout  uint16
	HardTimeout  uint16
	PacketCount  uint64
	ByteCount    uint64
	Match        Match
}

func (*FlowRemoved) Type() MsgType { return TypeFlowRemoved }

func (m *FlowRemoved) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint64(dst, m.Cookie)
	dst = be.AppendUint16(dst, m.Priority)
	dst = append(dst, m.Reason, m.TableID)
	dst = be.AppendUint32(dst, m.DurationSec)
	dst = be.AppendUint32(dst, m.DurationNsec)
	dst = be.AppendUint16(dst, m.IdleTimeout)
	dst = be.AppendUint16(dst, m.HardTimeout)
	dst = be.AppendUint64(dst, m.PacketCount)
	dst = be.AppendUint64(dst, m.ByteCount)
	return m.Match.appendTo(dst)
}

func decodeFlowRemoved(b []byte) (Message, error) {
	if len(b) < 40+8 {
		return nil, badLen("FLOW_REMOVED shorter than 56 bytes")
	}
	m := &FlowRemoved{
		Cookie: be.Uint64(b), Priority: be.Uint16(b[8:]), Reason: b[10], TableID: b[11],
		DurationSec: be.Uint32(b[12:]), DurationNsec: be.Uint32(b[16:]),
		IdleTimeout: be.Uint16(b[20:]), HardTimeout: be.Uint16(b[22:]),
		PacketCount: be.Uint64(b[24:]), ByteCount: be.Uint64(b[32:]),
	}
	match, n, err := decodeMatch(b[40:])
	if err != nil {
		return nil, err
	}
	if 40+n != len(b) {
		return nil, badLen("FLOW_REMOVED has bytes after its match")
	}
	m.Match = match
	return m, nil
}

// Port is ofp_port, the description of a port.
type Port struct {
	PortNo     uint32
	HWAddr     [6]byte
	Name       string // at most 16 bytes on the wire, NUL-padded
	Config     uint32 // PortConfig*
	State      uint32 // PortState*
	Curr       uint32 // PortFeature*
	Advertised uint32
	Supported  uint32
	Peer       uint32
	CurrSpeed  uint32 // kbps
	MaxSpeed   uint32 // kbps
}

// portLen is the size of ofp_port.
const portLen = 64

func (p *Port) appendTo(dst []byte) []byte {
	dst = appendZeros(be.AppendUint32(dst, p.PortNo), 4)
	dst = appendZeros(append(dst, p.HWAddr[:]...), 2)
	dst = appendCString(dst, p.Name, 16)
	for _, v := range [...]uint32{p.Config, p.State, p.Curr, p.Advertised, p.Supported, p.Peer, p.CurrSpeed, p.MaxSpeed} {
		dst = be.AppendUint32(dst, v)
	}
	return dst
}

func decodePort(b []byte) Port {
	p := Port{PortNo: be.Uint32(b), Name: cstring(b[16:32])}
	copy(p.HWAddr[:], b[8:14])
	p.Config, p.State = be.Uint32(b[32:]), be.Uint32(b[36:])
	p.Curr, p.Advertised = be.Uint32(b[40:]), be.Uint32(b[44:])
	p.Supported, p.Peer = be.Uint32(b[48:]), be.Uint32(b[52:])
	p.CurrSpeed, p.MaxSpeed = be.Uint32(b[56:]), be.Uint32(b[60:])
	return p
}

// PortStatus is OFPT_PORT_STATUS.
type PortStatus struct {
	Reason uint8 // PortReason*
	Port   Port
}

func (*PortStatus) Type() MsgType { return TypePortStatus }

func (m *PortStatus) appendBody(dst []byte) ([]byte, error) {
	return m.Port.appendTo(appendZeros(append(dst, m.Reason), 7)), nil
}

func decodePortStatus(b []byte) (Message, error) {
	if len(b) != 8+portLen {
		return nil, badLen("PORT_STATUS is not 80 bytes")
	}
	return &PortStatus{Reason: b[0], Port: decodePort(b[8:])}, nil
}

// PacketOut is OFPT_PACKET_OUT. Data is the frame when BufferID is NoBuffer.
type PacketOut struct {
	BufferID uint32
	InPort   uint32
	Actions  []Action
	Data     []byte
}

func (*PacketOut) Type() MsgType { return TypePacketOut }

func (m *PacketOut) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint32(dst, m.BufferID)
	dst = be.AppendUint32(dst, m.InPort)
	at := len(dst)
	dst = appendZeros(dst, 8)
	dst, err := appendActions(dst, m.Actions)
	if err != nil {
		return dst, err
	}
	if err := putLen16(dst, at, at+8); err != nil {
		return dst, err
	}
	return append(dst, m.Data...), nil
}

func decodePacketOut(b []byte) (Message, error) {
	if len(b) < 16 {
		return nil, badLen("PACKET_OUT shorter than 24 bytes")
	}
	m := &PacketOut{BufferID: be.Uint32(b), InPort: be.Uint32(b[4:])}
	n := int(be.Uint16(b[8:]))
	if 16+n > len(b) {
		return nil, badLen("PACKET_OUT actions overrun the message")
	}
	acts, err := DecodeActions(b[16 : 16+n])
	if err != nil {
		return nil, err
	}
	m.Actions = acts
	m.Data = clip(b[16+n:])
	return m, nil
}

// FlowMod is OFPT_FLOW_MOD.
type FlowMod struct {
	Cookie       uint64
	CookieMask   uint64
	TableID      uint8
	Command      uint8 // Flow{Add,Modify,ModifyStrict,Delete,DeleteStrict}
	IdleTimeout  uint16
	HardTimeout  uint16
	Priority     uint16
	BufferID     uint32
	OutPort      uint32
	OutGroup     uint32
	Flags        uint16 // Flow{SendFlowRem,...}
	Match        Match
	Instructions []Instruction
}

func (*FlowMod) Type() MsgType { return TypeFlowMod }

func (m *FlowMod) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint64(dst, m.Cookie)
	dst = be.AppendUint64(dst, m.CookieMask)
	dst = append(dst, m.TableID, m.Command)
	dst = be.AppendUint16(dst, m.IdleTimeout)
	dst = be.AppendUint16(dst, m.HardTimeout)
	dst = be.AppendUint16(dst, m.Priority)
	dst = be.AppendUint32(dst, m.BufferID)
	dst = be.AppendUint32(dst, m.OutPort)
	dst = be.AppendUint32(dst, m.OutGroup)
	dst = appendZeros(be.AppendUint16(dst, m.Flags), 2)
	dst, err := m.Match.appendTo(dst)
	if err != nil {
		return dst, err
	}
	return appendInstructions(dst, m.Instructions)
}

func decodeFlowMod(b []byte) (Message, error) {
	if len(b) < 40+8 {
		return nil, badLen("FLOW_MOD shorter than 56 bytes")
	}
	m := &FlowMod{
		Cookie: be.Uint64(b), CookieMask: be.Uint64(b[8:]), TableID: b[16], Command: b[17],
		IdleTimeout: be.Uint16(b[18:]), HardTimeout: be.Uint16(b[20:]), Priority: be.Uint16(b[22:]),
		BufferID: be.Uint32(b[24:]), OutPort: be.Uint32(b[28:]), OutGroup: be.Uint32(b[32:]),
		Flags: be.Uint16(b[36:]),
	}
	match, n, err := decodeMatch(b[40:])
	if err != nil {
		return nil, err
	}
	m.Match = match
	if m.Instructions, err = DecodeInstructions(b[40+n:]); err != nil {
		return nil, err
	}
	return m, nil
}

// Bucket is one bucket of a group (ofp_bucket).
type Bucket struct {
	Weight     uint16
	WatchPort  uint32
	WatchGroup uint32
	Actions    []Action
}

func appendBuckets(dst []byte, buckets []Bucket) ([]byte, error) {
	var err error
	for i := range buckets {
		bk := &buckets[i]
		start := len(dst)
		dst = be.AppendUint16(dst, 0)
		dst = be.AppendUint16(dst, bk.Weight)
		dst = be.AppendUint32(dst, bk.WatchPort)
		dst = appendZeros(be.AppendUint32(dst, bk.WatchGroup), 4)
		if dst, err = appendActions(dst, bk.Actions); err != nil {
			return dst, err
		}
		if err = putLen16(dst, start, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// decodeBuckets decodes a list of buckets that fills b exactly.
func decodeBuckets(b []byte) ([]Bucket, error) {
	var buckets []Bucket
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, newError(ETGroupModFailed, GMFCBadBucket, "truncated bucket")
		}
		n := int(be.Uint16(b))
		if n < 16 || n > len(b) {
			return nil, newError(ETGroupModFailed, GMFCBadBucket, "bucket length "+itoa(uint64(n)))
		}
		acts, err := DecodeActions(b[16:n])
		if err != nil {
			return nil, err
		}
		buckets = append(buckets, Bucket{
			Weight: be.Uint16(b[2:]), WatchPort: be.Uint32(b[4:]), WatchGroup: be.Uint32(b[8:]), Actions: acts,
		})
		b = b[n:]
	}
	return buckets, nil
}

// GroupMod is OFPT_GROUP_MOD.
type GroupMod struct {
	Command   uint16 // Group{Add,Modify,Delete}
	GroupType uint8  // GroupType*
	GroupID   uint32
	Buckets   []Bucket
}

func (*GroupMod) Type() MsgType { return TypeGroupMod }

func (m *GroupMod) appendBody(dst []byte) ([]byte, error) {
	dst = append(be.AppendUint16(dst, m.Command), m.GroupType, 0)
	dst = be.AppendUint32(dst, m.GroupID)
	return appendBuckets(dst, m.Buckets)
}

func decodeGroupMod(b []byte) (Message, error) {
	if len(b) < 8 {
		return nil, badLen("GROUP_MOD shorter than 16 bytes")
	}
	m := &GroupMod{Command: be.Uint16(b), GroupType: b[2], GroupID: be.Uint32(b[4:])}
	var err error
	if m.Buckets, err = decodeBuckets(b[8:]); err != nil {
		return nil, err
	}
	return m, nil
}

// PortMod is OFPT_PORT_MOD.
type PortMod struct {
	PortNo    uint32
	HWAddr    [6]byte
	Config    uint32
	Mask      uint32
	Advertise uint32
}

func (*PortMod) Type() MsgType { return TypePortMod }

func (m *PortMod) appendBody(dst []byte) ([]byte, error) {
	dst = appendZeros(be.AppendUint32(dst, m.PortNo), 4)
	dst = appendZeros(append(dst, m.HWAddr[:]...), 2)
	dst = be.AppendUint32(dst, m.Config)
	dst = be.AppendUint32(dst, m.Mask)
	return appendZeros(be.AppendUint32(dst, m.Advertise), 4), nil
}

func decodePortMod(b []byte) (Message, error) {
	if len(b) != 32 {
		return nil, badLen("PORT_MOD is not 40 bytes")
	}
	m := &PortMod{PortNo: be.Uint32(b), Config: be.Uint32(b[16:]), Mask: be.Uint32(b[20:]), Advertise: be.Uint32(b[24:])}
	copy(m.HWAddr[:], b[8:14])
	return m, nil
}

// TableMod is OFPT_TABLE_MOD.
type TableMod struct {
	TableID uint8
	Config  uint32
}

func (*TableMod) Type() MsgType { return TypeTableMod }

func (m *TableMod) appendBody(dst []byte) ([]byte, error) {
	return be.AppendUint32(appendZeros(append(dst, m.TableID), 3), m.Config), nil
}

func decodeTableMod(b []byte) (Message, error) {
	if len(b) != 8 {
		return nil, badLen("TABLE_MOD is not 16 bytes")
	}
	return &TableMod{TableID: b[0], Config: be.Uint32(b[4:])}, nil
}

// BarrierRequest is OFPT_BARRIER_REQUEST.
type BarrierRequest struct{}

// BarrierReply is OFPT_BARRIER_REPLY.
type BarrierReply struct{}

func (*BarrierRequest) Type() MsgType                         { return TypeBarrierRequest }
func (*BarrierReply) Type() MsgType                           { return TypeBarrierReply }
func (*BarrierRequest) appendBody(dst []byte) ([]byte, error) { return dst, nil }
func (*BarrierReply) appendBody(dst []byte) ([]byte, error)   { return dst, nil }

// QueueGetConfigRequest is OFPT_QUEUE_GET_CONFIG_REQUEST.
type QueueGetConfigRequest struct{ Port uint32 }

func (*QueueGetConfigRequest) Type() MsgType { return TypeQueueGetConfigRequest }

func (m *QueueGetConfigRequest) appendBody(dst []byte) ([]byte, error) {
	return appendZeros(be.AppendUint32(dst, m.Port), 4), nil
}

func decodeQueueGetConfigRequest(b []byte) (Message, error) {
	if len(b) != 8 {
		return nil, badLen("QUEUE_GET_CONFIG_REQUEST is not 16 bytes")
	}
	return &QueueGetConfigRequest{Port: be.Uint32(b)}, nil
}

// QueueProp is a queue property. Rate is that of QueuePropMinRate and
// QueuePropMaxRate (in 1/10 of a percent); Experimenter and Data those of
// QueuePropExperimenter; Data holds the body of unknown properties.
type QueueProp struct {
	Type         uint16
	Rate         uint16
	Experimenter uint32
	Data         []byte
}

// PacketQueue is ofp_packet_queue.
type PacketQueue struct {
	QueueID    uint32
	Port       uint32
	Properties []QueueProp
}

// QueueGetConfigReply is OFPT_QUEUE_GET_CONFIG_REPLY.
type QueueGetConfigReply struct {
	Port   uint32
	Queues []PacketQueue
}

func (*QueueGetConfigReply) Type() MsgType { return TypeQueueGetConfigReply }

func (m *QueueGetConfigReply) appendBody(dst []byte) ([]byte, error) {
	dst = appendZeros(be.AppendUint32(dst, m.Port), 4)
	for _, q := range m.Queues {
		qstart := len(dst)
		dst = be.AppendUint32(dst, q.QueueID)
		dst = be.AppendUint32(dst, q.Port)
		dst = appendZeros(dst, 8)
		for _, p := range q.Properties {
			pstart := len(dst)
			dst = appendZeros(be.AppendUint16(dst, p.Type), 6)
			switch p.Type {
			case QueuePropMinRate, QueuePropMaxRate:
				dst = appendZeros(be.AppendUint16(dst, p.Rate), 6)
			case QueuePropExperimenter:
				dst = appendZeros(be.AppendUint32(dst, p.Experimenter), 4)
				dst = append(dst, p.Data...)
			default:
				dst = append(dst, p.Data...)
			}
			dst = padTo8(dst, pstart)
			if err := putLen16(dst, pstart+2, pstart); err != nil {
				return dst, err
			}
		}
		if err := putLen16(dst, qstart+8, qstart); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func decodeQueueGetConfigReply(b []byte) (Message, error) {
	if len(b) < 8 {
		return nil, badLen("QUEUE_GET_CONFIG_REPLY shorter than 16 bytes")
	}
	m := &QueueGetConfigReply{Port: be.Uint32(b)}
	b = b[8:]
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, badLen("truncated queue")
		}
		n := int(be.Uint16(b[8:]))
		if n < 16 || n > len(b) {
			return nil, badLen("queue length " + itoa(uint64(n)))
		}
		q := PacketQueue{QueueID: be.Uint32(b), Port: be.Uint32(b[4:])}
		props := b[16:n]
		for len(props) > 0 {
			if len(props) < 8 {
				return nil, badLen("truncated queue property")
			}
			pn := int(be.Uint16(props[2:]))
			if pn < 8 || pn%8 != 0 || pn > len(props) {
				return nil, badLen("queue property length " + itoa(uint64(pn)))
			}
			p := QueueProp{Type: be.Uint16(props)}
			switch p.Type {
			case QueuePropMinRate, QueuePropMaxRate:
				if pn != 16 {
					return nil, badLen("rate property is not 16 bytes")
				}
				p.Rate = be.Uint16(props[8:])
			case QueuePropExperimenter:
				if pn < 16 {
					return nil, badLen("experimenter property shorter than 16 bytes")
				}
				p.Experimenter = be.Uint32(props[8:])
				p.Data = clip(props[16:pn])
			default:
				p.Data = clip(props[8:pn])
			}
			q.Properties = append(q.Properties, p)
			props = props[pn:]
		}
		m.Queues = append(m.Queues, q)
		b = b[n:]
	}
	return m, nil
}

// RoleRequest is OFPT_ROLE_REQUEST.
type RoleRequest struct {
	Role         uint32 // Role*
	GenerationID uint64
}

// RoleReply is OFPT_ROLE_REPLY.
type RoleReply struct {
	Role         uint32
	GenerationID uint64
}

func (*RoleRequest) Type() MsgType { return TypeRoleRequest }
func (*RoleReply) Type() MsgType   { return TypeRoleReply }

func appendRole(dst []byte, role uint32, gen uint64) []byte {
	return be.AppendUint64(appendZeros(be.AppendUint32(dst, role), 4), gen)
}

func (m *RoleRequest) appendBody(dst []byte) ([]byte, error) {
	return appendRole(dst, m.Role, m.GenerationID), nil
}
func (m *RoleReply) appendBody(dst []byte) ([]byte, error) {
	return appendRole(dst, m.Role, m.GenerationID), nil
}

func decodeRole(t MsgType, b []byte) (Message, error) {
	if len(b) != 16 {
		return nil, badLen(t.String() + " is not 24 bytes")
	}
	role, gen := be.Uint32(b), be.Uint64(b[8:])
	if t == TypeRoleRequest {
		return &RoleRequest{Role: role, GenerationID: gen}, nil
	}
	return &RoleReply{Role: role, GenerationID: gen}, nil
}

// AsyncConfig is the body of GET_ASYNC_REPLY and SET_ASYNC: per message
// kind, a bitmap of reasons for [0] the master/equal role and [1] the slave.
type AsyncConfig struct {
	PacketInMask    [2]uint32
	PortStatusMask  [2]uint32
	FlowRemovedMask [2]uint32
}

// GetAsyncRequest is OFPT_GET_ASYNC_REQUEST.
type GetAsyncRequest struct{}

// GetAsyncReply is OFPT_GET_ASYNC_REPLY.
type GetAsyncReply struct{ AsyncConfig }

// SetAsync is OFPT_SET_ASYNC.
type SetAsync struct{ AsyncConfig }

func (*GetAsyncRequest) Type() MsgType { return TypeGetAsyncRequest }
func (*GetAsyncReply) Type() MsgType   { return TypeGetAsyncReply }
func (*SetAsync) Type() MsgType        { return TypeSetAsync }

func (*GetAsyncRequest) appendBody(dst []byte) ([]byte, error) { return dst, nil }
func (m *GetAsyncReply) appendBody(dst []byte) ([]byte, error) {
	return m.AsyncConfig.appendTo(dst), nil
}
func (m *SetAsync) appendBody(dst []byte) ([]byte, error) { return m.AsyncConfig.appendTo(dst), nil }

func (c *AsyncConfig) appendTo(dst []byte) []byte {
	for _, v := range [...]uint32{c.PacketInMask[0], c.PacketInMask[1], c.PortStatusMask[0], c.PortStatusMask[1], c.FlowRemovedMask[0], c.FlowRemovedMask[1]} {
		dst = be.AppendUint32(dst, v)
	}
	return dst
}

func decodeAsync(t MsgType, b []byte) (Message, error) {
	if len(b) != 24 {
		return nil, badLen(t.String() + " is not 32 bytes")
	}
	c := AsyncConfig{
		PacketInMask:    [2]uint32{be.Uint32(b), be.Uint32(b[4:])},
		PortStatusMask:  [2]uint32{be.Uint32(b[8:]), be.Uint32(b[12:])},
		FlowRemovedMask: [2]uint32{be.Uint32(b[16:]), be.Uint32(b[20:])},
	}
	if t == TypeSetAsync {
		return &SetAsync{c}, nil
	}
	return &GetAsyncReply{c}, nil
}

// MeterBand is one band of a meter. PrecLevel is that of
// MeterBandDSCPRemark; Experimenter and Data (after the 16-byte band
// header) those of MeterBandExperimenter.
type MeterBand struct {
	Type         uint16 // MeterBand*
	Rate         uint32
	BurstSize    uint32
	PrecLevel    uint8
	Experimenter uint32
	Data         []byte
}

func appendBands(dst []byte, bands []MeterBand) ([]byte, error) {
	for _, bd := range bands {
		start := len(dst)
		dst = be.AppendUint16(be.AppendUint16(dst, bd.Type), 0)
		dst = be.AppendUint32(be.AppendUint32(dst, bd.Rate), bd.BurstSize)
		switch bd.Type {
		case MeterBandDSCPRemark:
			dst = appendZeros(append(dst, bd.PrecLevel), 3)
		case MeterBandExperimenter:
			dst = append(be.AppendUint32(dst, bd.Experimenter), bd.Data...)
			dst = padTo8(dst, start)
		default:
			dst = appendZeros(dst, 4)
		}
		if err := putLen16(dst, start+2, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// decodeBands decodes a list of meter bands that fills b exactly.
func decodeBands(b []byte) ([]MeterBand, error) {
	var bands []MeterBand
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, badLen("truncated meter band")
		}
		t, n := be.Uint16(b), int(be.Uint16(b[2:]))
		if n < 16 || n%8 != 0 || n > len(b) {
			return nil, badLen("meter band length " + itoa(uint64(n)))
		}
		bd := MeterBand{Type: t, Rate: be.Uint32(b[4:]), BurstSize: be.Uint32(b[8:])}
		switch t {
		case MeterBandDrop:
		case MeterBandDSCPRemark:
			bd.PrecLevel = b[12]
		case MeterBandExperimenter:
			bd.Experimenter = be.Uint32(b[12:])
			bd.Data = clip(b[16:n])
		default:
			return nil, newError(ETMeterModFailed, MMFCBadBand, "meter band type "+itoa(uint64(t)))
		}
		if t != MeterBandExperimenter && n != 16 {
			return nil, badLen("meter band is not 16 bytes")
		}
		bands = append(bands, bd)
		b = b[n:]
	}
	return bands, nil
}

// MeterMod is OFPT_METER_MOD.
type MeterMod struct {
	Command uint16 // Meter{Add,Modify,Delete}
	Flags   uint16 // MeterFlag*
	MeterID uint32
	Bands   []MeterBand
}

func (*MeterMod) Type() MsgType { return TypeMeterMod }

func (m *MeterMod) appendBody(dst []byte) ([]byte, error) {
	dst = be.AppendUint16(be.AppendUint16(dst, m.Command), m.Flags)
	return appendBands(be.AppendUint32(dst, m.MeterID), m.Bands)
}

func decodeMeterMod(b []byte) (Message, error) {
	if len(b) < 8 {
		return nil, badLen("METER_MOD shorter than 16 bytes")
	}
	m := &MeterMod{Command: be.Uint16(b), Flags: be.Uint16(b[2:]), MeterID: be.Uint32(b[4:])}
	var err error
	if m.Bands, err = decodeBands(b[8:]); err != nil {
		return nil, err
	}
	return m, nil
}
