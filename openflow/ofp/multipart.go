package ofp

// MultipartRequest is OFPT_MULTIPART_REQUEST. Body's concrete type names the
// multipart type: *DescRequest, *FlowStatsRequest, *AggregateStatsRequest,
// *TableStatsRequest, *PortStatsRequest, *QueueStatsRequest,
// *GroupStatsRequest, *GroupDescRequest, *GroupFeaturesRequest,
// *MeterStatsRequest, *MeterConfigRequest, *MeterFeaturesRequest,
// *TableFeaturesRequest, *PortDescRequest or *ExperimenterMultipart.
type MultipartRequest struct {
	Flags uint16 // MultipartRequestMore
	Body  MultipartBody
}

// MultipartReply is OFPT_MULTIPART_REPLY. Body's concrete type is the reply
// counterpart of the request's: *DescReply, *FlowStatsReply, ...,
// *PortDescReply or *ExperimenterMultipart.
type MultipartReply struct {
	Flags uint16 // MultipartReplyMore
	Body  MultipartBody
}

// MultipartBody is the body of a multipart request or reply.
type MultipartBody interface {
	MultipartType() MultipartType
	appendTo(dst []byte) ([]byte, error)
}

func (*MultipartRequest) Type() MsgType { return TypeMultipartRequest }
func (*MultipartReply) Type() MsgType   { return TypeMultipartReply }

func appendMultipart(dst []byte, flags uint16, body MultipartBody) ([]byte, error) {
	if body == nil {
		return dst, newError(ETBadRequest, BRCBadMultipart, "multipart message without a body")
	}
	dst = be.AppendUint16(dst, uint16(body.MultipartType()))
	dst = appendZeros(be.AppendUint16(dst, flags), 4)
	return body.appendTo(dst)
}

func (m *MultipartRequest) appendBody(dst []byte) ([]byte, error) {
	return appendMultipart(dst, m.Flags, m.Body)
}

func (m *MultipartReply) appendBody(dst []byte) ([]byte, error) {
	return appendMultipart(dst, m.Flags, m.Body)
}

// Request bodies.
type (
	// DescRequest asks for the switch description.
	DescRequest struct{}
	// FlowStatsRequest asks for the statistics of the flows that match.
	FlowStatsRequest struct {
		TableID    uint8
		OutPort    uint32
		OutGroup   uint32
		Cookie     uint64
		CookieMask uint64
		Match      Match
	}
	// AggregateStatsRequest asks for the summed statistics of the flows that match.
	AggregateStatsRequest FlowStatsRequest
	// TableStatsRequest asks for table statistics.
	TableStatsRequest struct{}
	// PortStatsRequest asks for the statistics of PortNo (or PortAny).
	PortStatsRequest struct{ PortNo uint32 }
	// QueueStatsRequest asks for queue statistics.
	QueueStatsRequest struct{ PortNo, QueueID uint32 }
	// GroupStatsRequest asks for the statistics of GroupID (or GroupAll).
	GroupStatsRequest struct{ GroupID uint32 }
	// GroupDescRequest asks for the group descriptions.
	GroupDescRequest struct{}
	// GroupFeaturesRequest asks for the group features.
	GroupFeaturesRequest struct{}
	// MeterStatsRequest asks for the statistics of MeterID (or MeterAll).
	MeterStatsRequest struct{ MeterID uint32 }
	// MeterConfigRequest asks for the configuration of MeterID (or MeterAll).
	MeterConfigRequest struct{ MeterID uint32 }
	// MeterFeaturesRequest asks for the meter features.
	MeterFeaturesRequest struct{}
	// TableFeaturesRequest asks for the table features (empty Tables) or
	// sets them.
	TableFeaturesRequest struct{ Tables []TableFeatures }
	// PortDescRequest asks for the port descriptions.
	PortDescRequest struct{}
)

// ExperimenterMultipart is an experimenter multipart request or reply body.
type ExperimenterMultipart struct {
	Experimenter uint32
	ExpType      uint32
	Data         []byte
}

func (*DescRequest) MultipartType() MultipartType           { return MPDesc }
func (*FlowStatsRequest) MultipartType() MultipartType      { return MPFlow }
func (*AggregateStatsRequest) MultipartType() MultipartType { return MPAggregate }
func (*TableStatsRequest) MultipartType() MultipartType     { return MPTable }
func (*PortStatsRequest) MultipartType() MultipartType      { return MPPortStats }
func (*QueueStatsRequest) MultipartType() MultipartType     { return MPQueue }
func (*GroupStatsRequest) MultipartType() MultipartType     { return MPGroup }
func (*GroupDescRequest) MultipartType() MultipartType      { return MPGroupDesc }
func (*GroupFeaturesRequest) MultipartType() MultipartType  { return MPGroupFeatures }
func (*MeterStatsRequest) MultipartType() MultipartType     { return MPMeter }
func (*MeterConfigRequest) MultipartType() MultipartType    { return MPMeterConfig }
func (*MeterFeaturesRequest) MultipartType() MultipartType  { return MPMeterFeatures }
func (*TableFeaturesRequest) MultipartType() MultipartType  { return MPTableFeatures }
func (*PortDescRequest) MultipartType() MultipartType       { return MPPortDesc }
func (*ExperimenterMultipart) MultipartType() MultipartType { return MPExperimenter }

func (*DescRequest) appendTo(dst []byte) ([]byte, error)          { return dst, nil }
func (*TableStatsRequest) appendTo(dst []byte) ([]byte, error)    { return dst, nil }
func (*GroupDescRequest) appendTo(dst []byte) ([]byte, error)     { return dst, nil }
func (*GroupFeaturesRequest) appendTo(dst []byte) ([]byte, error) { return dst, nil }
func (*MeterFeaturesRequest) appendTo(dst []byte) ([]byte, error) { return dst, nil }
func (*PortDescRequest) appendTo(dst []byte) ([]byte, error)      { return dst, nil }

func (r *FlowStatsRequest) appendTo(dst []byte) ([]byte, error) {
	dst = appendZeros(append(dst, r.TableID), 3)
	dst = be.AppendUint32(dst, r.OutPort)
	dst = appendZeros(be.AppendUint32(dst, r.OutGroup), 4)
	dst = be.AppendUint64(be.AppendUint64(dst, r.Cookie), r.CookieMask)
	return r.Match.appendTo(dst)
}

func (r *AggregateStatsRequest) appendTo(dst []byte) ([]byte, error) {
	return (*FlowStatsRequest)(r).appendTo(dst)
}

func (r *PortStatsRequest) appendTo(dst []byte) ([]byte, error) {
	return appendZeros(be.AppendUint32(dst, r.PortNo), 4), nil
}
func (r *QueueStatsRequest) appendTo(dst []byte) ([]byte, error) {
	return be.AppendUint32(be.AppendUint32(dst, r.PortNo), r.QueueID), nil
}
func (r *GroupStatsRequest) appendTo(dst []byte) ([]byte, error) {
	return appendZeros(be.AppendUint32(dst, r.GroupID), 4), nil
}
func (r *MeterStatsRequest) appendTo(dst []byte) ([]byte, error) {
	return appendZeros(be.AppendUint32(dst, r.MeterID), 4), nil
}
func (r *MeterConfigRequest) appendTo(dst []byte) ([]byte, error) {
	return appendZeros(be.AppendUint32(dst, r.MeterID), 4), nil
}
func (r *TableFeaturesRequest) appendTo(dst []byte) ([]byte, error) {
	return appendTableFeatures(dst, r.Tables)
}
func (r *ExperimenterMultipart) appendTo(dst []byte) ([]byte, error) {
	return append(be.AppendUint32(be.AppendUint32(dst, r.Experimenter), r.ExpType), r.Data...), nil
}

func decodeFlowStatsRequest(b []byte) (*FlowStatsRequest, error) {
	if len(b) < 32+8 {
		return nil, badLen("flow stats request shorter than 40 bytes")
	}
	r := &FlowStatsRequest{
		TableID: b[0], OutPort: be.Uint32(b[4:]), OutGroup: be.Uint32(b[8:]),
		Cookie: be.Uint64(b[16:]), CookieMask: be.Uint64(b[24:]),
	}
	m, n, err := decodeMatch(b[32:])
	if err != nil {
		return nil, err
	}
	if 32+n != len(b) {
		return nil, badLen("bytes after the flow stats request's match")
	}
	r.Match = m
	return r, nil
}

func decodeExperimenterMultipart(b []byte) (*ExperimenterMultipart, error) {
	if len(b) < 8 {
		return nil, badLen("experimenter multipart body shorter than 8 bytes")
	}
	return &ExperimenterMultipart{Experimenter: be.Uint32(b), ExpType: be.Uint32(b[4:]), Data: clip(b[8:])}, nil
}

func decodeMultipartRequest(b []byte) (Message, error) {
	if len(b) < 8 {
		return nil, badLen("MULTIPART_REQUEST shorter than 16 bytes")
	}
	t := MultipartType(be.Uint16(b))
	m := &MultipartRequest{Flags: be.Uint16(b[2:])}
	b = b[8:]
	empty := func(body MultipartBody) (MultipartBody, error) {
		if len(b) != 0 {
			return nil, badLen("multipart request " + itoa(uint64(t)) + " has a body")
		}
		return body, nil
	}
	id := func() (uint32, error) {
		if len(b) != 8 {
			return 0, badLen("multipart request " + itoa(uint64(t)) + " body is not 8 bytes")
		}
		return be.Uint32(b), nil
	}
	var err error
	switch t {
	case MPDesc:
		m.Body, err = empty(&DescRequest{})
	case MPFlow:
		m.Body, err = decodeFlowStatsRequest(b)
	case MPAggregate:
		var r *FlowStatsRequest
		if r, err = decodeFlowStatsRequest(b); err == nil {
			m.Body = (*AggregateStatsRequest)(r)
		}
	case MPTable:
		m.Body, err = empty(&TableStatsRequest{})
	case MPPortStats:
		var v uint32
		v, err = id()
		m.Body = &PortStatsRequest{PortNo: v}
	case MPQueue:
		var v uint32
		if v, err = id(); err == nil {
			m.Body = &QueueStatsRequest{PortNo: v, QueueID: be.Uint32(b[4:])}
		}
	case MPGroup:
		var v uint32
		v, err = id()
		m.Body = &GroupStatsRequest{GroupID: v}
	case MPGroupDesc:
		m.Body, err = empty(&GroupDescRequest{})
	case MPGroupFeatures:
		m.Body, err = empty(&GroupFeaturesRequest{})
	case MPMeter:
		var v uint32
		v, err = id()
		m.Body = &MeterStatsRequest{MeterID: v}
	case MPMeterConfig:
		var v uint32
		v, err = id()
		m.Body = &MeterConfigRequest{MeterID: v}
	case MPMeterFeatures:
		m.Body, err = empty(&MeterFeaturesRequest{})
	case MPTableFeatures:
		var tf []TableFeatures
		if tf, err = decodeTableFeatures(b); err == nil {
			m.Body = &TableFeaturesRequest{Tables: tf}
		}
	case MPPortDesc:
		m.Body, err = empty(&PortDescRequest{})
	case MPExperimenter:
		m.Body, err = decodeExperimenterMultipart(b)
	default:
		return nil, newError(ETBadRequest, BRCBadMultipart, "multipart type "+itoa(uint64(t)))
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Reply bodies.
type (
	// DescReply is the switch description (ofp_desc); each string is
	// NUL-padded to 256 bytes on the wire, SerialNum to 32.
	DescReply struct {
		MfrDesc   string
		HWDesc    string
		SWDesc    string
		SerialNum string
		DPDesc    string
	}
	// FlowStatsReply lists flow statistics.
	FlowStatsReply struct{ Stats []FlowStats }
	// AggregateStatsReply is the sum over the flows that matched.
	AggregateStatsReply struct {
		PacketCount uint64
		ByteCount   uint64
		FlowCount   uint32
	}
	// TableStatsReply lists table statistics.
	TableStatsReply struct{ Stats []TableStats }
	// PortStatsReply lists port statistics.
	PortStatsReply struct{ Stats []PortStats }
	// QueueStatsReply lists queue statistics.
	QueueStatsReply struct{ Stats []QueueStats }
	// GroupStatsReply lists group statistics.
	GroupStatsReply struct{ Stats []GroupStats }
	// GroupDescReply lists group descriptions.
	GroupDescReply struct{ Groups []GroupDesc }
	// GroupFeaturesReply is ofp_group_features.
	GroupFeaturesReply struct {
		Types        uint32 // bitmap of GroupType*
		Capabilities uint32 // GroupCap*
		MaxGroups    [4]uint32
		Actions      [4]uint32 // bitmaps of ActionType per group type
	}
	// MeterStatsReply lists meter statistics.
	MeterStatsReply struct{ Stats []MeterStats }
	// MeterConfigReply lists meter configurations.
	MeterConfigReply struct{ Meters []MeterConfig }
	// MeterFeaturesReply is ofp_meter_features.
	MeterFeaturesReply struct {
		MaxMeter     uint32
		BandTypes    uint32
		Capabilities uint32
		MaxBands     uint8
		MaxColor     uint8
	}
	// TableFeaturesReply lists table features.
	TableFeaturesReply struct{ Tables []TableFeatures }
	// PortDescReply lists the ports.
	PortDescReply struct{ Ports []Port }
)

// FlowStats is ofp_flow_stats.
type FlowStats struct {
	TableID      uint8
	DurationSec  uint32
	DurationNsec uint32
	Priority     uint16
	IdleTimeout  uint16
	HardTimeout  uint16
	Flags        uint16
	Cookie       uint64
	PacketCount  uint64
	ByteCount    uint64
	Match        Match
	Instructions []Instruction
}

// TableStats is ofp_table_stats.
type TableStats struct {
	TableID      uint8
	ActiveCount  uint32
	LookupCount  uint64
	MatchedCount uint64
}

// PortStats is ofp_port_stats.
type PortStats struct {
	PortNo       uint32
	RxPackets    uint64
	TxPackets    uint64
	RxBytes      uint64
	TxBytes      uint64
	RxDropped    uint64
	TxDropped    uint64
	RxErrors     uint64
	TxErrors     uint64
	RxFrameErr   uint64
	RxOverErr    uint64
	RxCRCErr     uint64
	Collisions   uint64
	DurationSec  uint32
	DurationNsec uint32
}

// QueueStats is ofp_queue_stats.
type QueueStats struct {
	PortNo       uint32
	QueueID      uint32
	TxBytes      uint64
	TxPackets    uint64
	TxErrors     uint64
	DurationSec  uint32
	DurationNsec uint32
}

// BucketCounter is ofp_bucket_counter.
type BucketCounter struct {
	PacketCount uint64
	ByteCount   uint64
}

// GroupStats is ofp_group_stats.
type GroupStats struct {
	GroupID      uint32
	RefCount     uint32
	PacketCount  uint64
	ByteCount    uint64
	DurationSec  uint32
	DurationNsec uint32
	BucketStats  []BucketCounter
}

// GroupDesc is ofp_group_desc.
type GroupDesc struct {
	GroupType uint8
	GroupID   uint32
	Buckets   []Bucket
}

// MeterBandStats is ofp_meter_band_stats.
type MeterBandStats struct {
	PacketBandCount uint64
	ByteBandCount   uint64
}

// MeterStats is ofp_meter_stats.
type MeterStats struct {
	MeterID       uint32
	FlowCount     uint32
	PacketInCount uint64
	ByteInCount   uint64
	DurationSec   uint32
	DurationNsec  uint32
	BandStats     []MeterBandStats
}

// MeterConfig is ofp_meter_config.
type MeterConfig struct {
	Flags   uint16
	MeterID uint32
	Bands   []MeterBand
}

func (*DescReply) MultipartType() MultipartType           { return MPDesc }
func (*FlowStatsReply) MultipartType() MultipartType      { return MPFlow }
func (*AggregateStatsReply) MultipartType() MultipartType { return MPAggregate }
func (*TableStatsReply) MultipartType() MultipartType     { return MPTable }
func (*PortStatsReply) MultipartType() MultipartType      { return MPPortStats }
func (*QueueStatsReply) MultipartType() MultipartType     { return MPQueue }
func (*GroupStatsReply) MultipartType() MultipartType     { return MPGroup }
func (*GroupDescReply) MultipartType() MultipartType      { return MPGroupDesc }
func (*GroupFeaturesReply) MultipartType() MultipartType  { return MPGroupFeatures }
func (*MeterStatsReply) MultipartType() MultipartType     { return MPMeter }
func (*MeterConfigReply) MultipartType() MultipartType    { return MPMeterConfig }
func (*MeterFeaturesReply) MultipartType() MultipartType  { return MPMeterFeatures }
func (*TableFeaturesReply) MultipartType() MultipartType  { return MPTableFeatures }
func (*PortDescReply) MultipartType() MultipartType       { return MPPortDesc }

func (r *DescReply) appendTo(dst []byte) ([]byte, error) {
	dst = appendCString(dst, r.MfrDesc, 256)
	dst = appendCString(dst, r.HWDesc, 256)
	dst = appendCString(dst, r.SWDesc, 256)
	dst = appendCString(dst, r.SerialNum, 32)
	return appendCString(dst, r.DPDesc, 256), nil
}

// AppendFlowStats appends one ofp_flow_stats entry; a switch splitting a
// large reply over several messages can size entries with it.
func AppendFlowStats(dst []byte, s *FlowStats) ([]byte, error) {
	start := len(dst)
	dst = append(be.AppendUint16(dst, 0), s.TableID, 0)
	dst = be.AppendUint32(be.AppendUint32(dst, s.DurationSec), s.DurationNsec)
	dst = be.AppendUint16(be.AppendUint16(dst, s.Priority), s.IdleTimeout)
	dst = be.AppendUint16(be.AppendUint16(dst, s.HardTimeout), s.Flags)
	dst = appendZeros(dst, 4)
	dst = be.AppendUint64(be.AppendUint64(be.AppendUint64(dst, s.Cookie), s.PacketCount), s.ByteCount)
	dst, err := s.Match.appendTo(dst)
	if err != nil {
		return dst, err
	}
	if dst, err = appendInstructions(dst, s.Instructions); err != nil {
		return dst, err
	}
	return dst, putLen16(dst, start, start)
}

func (r *FlowStatsReply) appendTo(dst []byte) ([]byte, error) {
	var err error
	for i := range r.Stats {
		if dst, err = AppendFlowStats(dst, &r.Stats[i]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (r *AggregateStatsReply) appendTo(dst []byte) ([]byte, error) {
	dst = be.AppendUint64(be.AppendUint64(dst, r.PacketCount), r.ByteCount)
	return appendZeros(be.AppendUint32(dst, r.FlowCount), 4), nil
}

func (r *TableStatsReply) appendTo(dst []byte) ([]byte, error) {
	for _, s := range r.Stats {
		dst = be.AppendUint32(appendZeros(append(dst, s.TableID), 3), s.ActiveCount)
		dst = be.AppendUint64(be.AppendUint64(dst, s.LookupCount), s.MatchedCount)
	}
	return dst, nil
}

func (r *PortStatsReply) appendTo(dst []byte) ([]byte, error) {
	for _, s := range r.Stats {
		dst = appendZeros(be.AppendUint32(dst, s.PortNo), 4)
		for _, v := range [...]uint64{s.RxPackets, s.TxPackets, s.RxBytes, s.TxBytes, s.RxDropped, s.TxDropped,
			s.RxErrors, s.TxErrors, s.RxFrameErr, s.RxOverErr, s.RxCRCErr, s.Collisions} {
			dst = be.AppendUint64(dst, v)
		}
		dst = be.AppendUint32(be.AppendUint32(dst, s.DurationSec), s.DurationNsec)
	}
	return dst, nil
}

func (r *QueueStatsReply) appendTo(dst []byte) ([]byte, error) {
	for _, s := range r.Stats {
		dst = be.AppendUint32(be.AppendUint32(dst, s.PortNo), s.QueueID)
		dst = be.AppendUint64(be.AppendUint64(be.AppendUint64(dst, s.TxBytes), s.TxPackets), s.TxErrors)
		dst = be.AppendUint32(be.AppendUint32(dst, s.DurationSec), s.DurationNsec)
	}
	return dst, nil
}

func (r *GroupStatsReply) appendTo(dst []byte) ([]byte, error) {
	for _, s := range r.Stats {
		start := len(dst)
		dst = appendZeros(dst, 4)
		dst = appendZeros(be.AppendUint32(be.AppendUint32(dst, s.GroupID), s.RefCount), 4)
		dst = be.AppendUint64(be.AppendUint64(dst, s.PacketCount), s.ByteCount)
		dst = be.AppendUint32(be.AppendUint32(dst, s.DurationSec), s.DurationNsec)
		for _, c := range s.BucketStats {
			dst = be.AppendUint64(be.AppendUint64(dst, c.PacketCount), c.ByteCount)
		}
		if err := putLen16(dst, start, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (r *GroupDescReply) appendTo(dst []byte) ([]byte, error) {
	var err error
	for _, g := range r.Groups {
		start := len(dst)
		dst = append(be.AppendUint16(dst, 0), g.GroupType, 0)
		dst = be.AppendUint32(dst, g.GroupID)
		if dst, err = appendBuckets(dst, g.Buckets); err != nil {
			return dst, err
		}
		if err = putLen16(dst, start, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (r *GroupFeaturesReply) appendTo(dst []byte) ([]byte, error) {
	dst = be.AppendUint32(be.AppendUint32(dst, r.Types), r.Capabilities)
	for _, v := range r.MaxGroups {
		dst = be.AppendUint32(dst, v)
	}
	for _, v := range r.Actions {
		dst = be.AppendUint32(dst, v)
	}
	return dst, nil
}

func (r *MeterStatsReply) appendTo(dst []byte) ([]byte, error) {
	for _, s := range r.Stats {
		start := len(dst)
		dst = appendZeros(be.AppendUint32(dst, s.MeterID), 8)
		dst = be.AppendUint32(dst, s.FlowCount)
		dst = be.AppendUint64(be.AppendUint64(dst, s.PacketInCount), s.ByteInCount)
		dst = be.AppendUint32(be.AppendUint32(dst, s.DurationSec), s.DurationNsec)
		for _, c := range s.BandStats {
			dst = be.AppendUint64(be.AppendUint64(dst, c.PacketBandCount), c.ByteBandCount)
		}
		if err := putLen16(dst, start+4, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (r *MeterConfigReply) appendTo(dst []byte) ([]byte, error) {
	var err error
	for _, c := range r.Meters {
		start := len(dst)
		dst = be.AppendUint16(be.AppendUint16(dst, 0), c.Flags)
		dst = be.AppendUint32(dst, c.MeterID)
		if dst, err = appendBands(dst, c.Bands); err != nil {
			return dst, err
		}
		if err = putLen16(dst, start, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (r *MeterFeaturesReply) appendTo(dst []byte) ([]byte, error) {
	dst = be.AppendUint32(be.AppendUint32(be.AppendUint32(dst, r.MaxMeter), r.BandTypes), r.Capabilities)
	return appendZeros(append(dst, r.MaxBands, r.MaxColor), 2), nil
}

func (r *TableFeaturesReply) appendTo(dst []byte) ([]byte, error) {
	return appendTableFeatures(dst, r.Tables)
}

func (r *PortDescReply) appendTo(dst []byte) ([]byte, error) {
	for i := range r.Ports {
		dst = r.Ports[i].appendTo(dst)
	}
	return dst, nil
}

// fixedEntries checks that b is a whole number of size-byte entries.
func fixedEntries(b []byte, size int, what string) (int, error) {
	if len(b)%size != 0 {
		return 0, badLen(what + " body is not a multiple of " + itoa(uint64(size)) + " bytes")
	}
	return len(b) / size, nil
}

// lenEntries splits b into entries whose 16-bit length is at offset at,
// each at least min bytes, and calls f for each.
func lenEntries(b []byte, at, minLen int, what string, f func(e []byte) error) error {
	for len(b) > 0 {
		if len(b) < minLen {
			return badLen("truncated " + what)
		}
		n := int(be.Uint16(b[at:]))
		if n < minLen || n > len(b) {
			return badLen(what + " length " + itoa(uint64(n)))
		}
		if err := f(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func decodeMultipartReply(b []byte) (Message, error) {
	if len(b) < 8 {
		return nil, badLen("MULTIPART_REPLY shorter than 16 bytes")
	}
	t := MultipartType(be.Uint16(b))
	m := &MultipartReply{Flags: be.Uint16(b[2:])}
	b = b[8:]
	var err error
	switch t {
	case MPDesc:
		if len(b) != 1056 {
			return nil, badLen("desc reply is not 1056 bytes")
		}
		m.Body = &DescReply{
			MfrDesc: cstring(b[0:256]), HWDesc: cstring(b[256:512]), SWDesc: cstring(b[512:768]),
			SerialNum: cstring(b[768:800]), DPDesc: cstring(b[800:1056]),
		}
	case MPFlow:
		r := &FlowStatsReply{}
		err = lenEntries(b, 0, 56, "flow stats", func(e []byte) error {
			s := FlowStats{
				TableID: e[2], DurationSec: be.Uint32(e[4:]), DurationNsec: be.Uint32(e[8:]),
				Priority: be.Uint16(e[12:]), IdleTimeout: be.Uint16(e[14:]), HardTimeout: be.Uint16(e[16:]),
				Flags: be.Uint16(e[18:]), Cookie: be.Uint64(e[24:]), PacketCount: be.Uint64(e[32:]),
				ByteCount: be.Uint64(e[40:]),
			}
			match, n, err := decodeMatch(e[48:])
			if err != nil {
				return err
			}
			s.Match = match
			if s.Instructions, err = DecodeInstructions(e[48+n:]); err != nil {
				return err
			}
			r.Stats = append(r.Stats, s)
			return nil
		})
		m.Body = r
	case MPAggregate:
		if len(b) != 24 {
			return nil, badLen("aggregate reply is not 24 bytes")
		}
		m.Body = &AggregateStatsReply{PacketCount: be.Uint64(b), ByteCount: be.Uint64(b[8:]), FlowCount: be.Uint32(b[16:])}
	case MPTable:
		r := &TableStatsReply{}
		var n int
		if n, err = fixedEntries(b, 24, "table stats"); err == nil && n > 0 {
			r.Stats = make([]TableStats, n)
			for i := range r.Stats {
				e := b[24*i:]
				r.Stats[i] = TableStats{TableID: e[0], ActiveCount: be.Uint32(e[4:]), LookupCount: be.Uint64(e[8:]), MatchedCount: be.Uint64(e[16:])}
			}
		}
		m.Body = r
	case MPPortStats:
		r := &PortStatsReply{}
		var n int
		if n, err = fixedEntries(b, 112, "port stats"); err == nil && n > 0 {
			r.Stats = make([]PortStats, n)
			for i := range r.Stats {
				e := b[112*i:]
				var c [12]uint64
				for j := range c {
					c[j] = be.Uint64(e[8+8*j:])
				}
				r.Stats[i] = PortStats{
					PortNo: be.Uint32(e), RxPackets: c[0], TxPackets: c[1], RxBytes: c[2], TxBytes: c[3],
					RxDropped: c[4], TxDropped: c[5], RxErrors: c[6], TxErrors: c[7], RxFrameErr: c[8],
					RxOverErr: c[9], RxCRCErr: c[10], Collisions: c[11],
					DurationSec: be.Uint32(e[104:]), DurationNsec: be.Uint32(e[108:]),
				}
			}
		}
		m.Body = r
	case MPQueue:
		r := &QueueStatsReply{}
		var n int
		if n, err = fixedEntries(b, 40, "queue stats"); err == nil && n > 0 {
			r.Stats = make([]QueueStats, n)
			for i := range r.Stats {
				e := b[40*i:]
				r.Stats[i] = QueueStats{
					PortNo: be.Uint32(e), QueueID: be.Uint32(e[4:]), TxBytes: be.Uint64(e[8:]),
					TxPackets: be.Uint64(e[16:]), TxErrors: be.Uint64(e[24:]),
					DurationSec: be.Uint32(e[32:]), DurationNsec: be.Uint32(e[36:]),
				}
			}
		}
		m.Body = r
	case MPGroup:
		r := &GroupStatsReply{}
		err = lenEntries(b, 0, 40, "group stats", func(e []byte) error {
			if (len(e)-40)%16 != 0 {
				return badLen("group stats bucket counters")
			}
			s := GroupStats{
				GroupID: be.Uint32(e[4:]), RefCount: be.Uint32(e[8:]), PacketCount: be.Uint64(e[16:]),
				ByteCount: be.Uint64(e[24:]), DurationSec: be.Uint32(e[32:]), DurationNsec: be.Uint32(e[36:]),
			}
			for c := e[40:]; len(c) > 0; c = c[16:] {
				s.BucketStats = append(s.BucketStats, BucketCounter{PacketCount: be.Uint64(c), ByteCount: be.Uint64(c[8:])})
			}
			r.Stats = append(r.Stats, s)
			return nil
		})
		m.Body = r
	case MPGroupDesc:
		r := &GroupDescReply{}
		err = lenEntries(b, 0, 8, "group desc", func(e []byte) error {
			g := GroupDesc{GroupType: e[2], GroupID: be.Uint32(e[4:])}
			var err error
			if g.Buckets, err = decodeBuckets(e[8:]); err != nil {
				return err
			}
			r.Groups = append(r.Groups, g)
			return nil
		})
		m.Body = r
	case MPGroupFeatures:
		if len(b) != 40 {
			return nil, badLen("group features reply is not 40 bytes")
		}
		r := &GroupFeaturesReply{Types: be.Uint32(b), Capabilities: be.Uint32(b[4:])}
		for i := range 4 {
			r.MaxGroups[i] = be.Uint32(b[8+4*i:])
			r.Actions[i] = be.Uint32(b[24+4*i:])
		}
		m.Body = r
	case MPMeter:
		r := &MeterStatsReply{}
		err = lenEntries(b, 4, 40, "meter stats", func(e []byte) error {
			if (len(e)-40)%16 != 0 {
				return badLen("meter band stats")
			}
			s := MeterStats{
				MeterID: be.Uint32(e), FlowCount: be.Uint32(e[12:]), PacketInCount: be.Uint64(e[16:]),
				ByteInCount: be.Uint64(e[24:]), DurationSec: be.Uint32(e[32:]), DurationNsec: be.Uint32(e[36:]),
			}
			for c := e[40:]; len(c) > 0; c = c[16:] {
				s.BandStats = append(s.BandStats, MeterBandStats{PacketBandCount: be.Uint64(c), ByteBandCount: be.Uint64(c[8:])})
			}
			r.Stats = append(r.Stats, s)
			return nil
		})
		m.Body = r
	case MPMeterConfig:
		r := &MeterConfigReply{}
		err = lenEntries(b, 0, 8, "meter config", func(e []byte) error {
			c := MeterConfig{Flags: be.Uint16(e[2:]), MeterID: be.Uint32(e[4:])}
			var err error
			if c.Bands, err = decodeBands(e[8:]); err != nil {
				return err
			}
			r.Meters = append(r.Meters, c)
			return nil
		})
		m.Body = r
	case MPMeterFeatures:
		if len(b) != 16 {
			return nil, badLen("meter features reply is not 16 bytes")
		}
		m.Body = &MeterFeaturesReply{MaxMeter: be.Uint32(b), BandTypes: be.Uint32(b[4:]), Capabilities: be.Uint32(b[8:]), MaxBands: b[12], MaxColor: b[13]}
	case MPTableFeatures:
		var tf []TableFeatures
		if tf, err = decodeTableFeatures(b); err == nil {
			m.Body = &TableFeaturesReply{Tables: tf}
		}
	case MPPortDesc:
		r := &PortDescReply{}
		var n int
		if n, err = fixedEntries(b, portLen, "port desc"); err == nil && n > 0 {
			r.Ports = make([]Port, n)
			for i := range r.Ports {
				r.Ports[i] = decodePort(b[portLen*i:])
			}
		}
		m.Body = r
	case MPExperimenter:
		m.Body, err = decodeExperimenterMultipart(b)
	default:
		return nil, newError(ETBadRequest, BRCBadMultipart, "multipart type "+itoa(uint64(t)))
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
