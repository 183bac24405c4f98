package ofp

// Version is the wire version of OpenFlow 1.3.
const Version = 0x04

// HeaderLen is the length of the common OpenFlow header.
const HeaderLen = 8

// MaxMessageLen is the largest message the 16-bit header length allows.
const MaxMessageLen = 0xffff

// MsgType is ofp_header.type.
type MsgType uint8

// Message types (ofp_type).
const (
	TypeHello                 MsgType = 0
	TypeError                 MsgType = 1
	TypeEchoRequest           MsgType = 2
	TypeEchoReply             MsgType = 3
	TypeExperimenter          MsgType = 4
	TypeFeaturesRequest       MsgType = 5
	TypeFeaturesReply         MsgType = 6
	TypeGetConfigRequest      MsgType = 7
	TypeGetConfigReply        MsgType = 8
	TypeSetConfig             MsgType = 9
	TypePacketIn              MsgType = 10
	TypeFlowRemoved           MsgType = 11
	TypePortStatus            MsgType = 12
	TypePacketOut             MsgType = 13
	TypeFlowMod               MsgType = 14
	TypeGroupMod              MsgType = 15
	TypePortMod               MsgType = 16
	TypeTableMod              MsgType = 17
	TypeMultipartRequest      MsgType = 18
	TypeMultipartReply        MsgType = 19
	TypeBarrierRequest        MsgType = 20
	TypeBarrierReply          MsgType = 21
	TypeQueueGetConfigRequest MsgType = 22
	TypeQueueGetConfigReply   MsgType = 23
	TypeRoleRequest           MsgType = 24
	TypeRoleReply             MsgType = 25
	TypeGetAsyncRequest       MsgType = 26
	TypeGetAsyncReply         MsgType = 27
	TypeSetAsync              MsgType = 28
	TypeMeterMod              MsgType = 29
)

var msgTypeNames = [...]string{
	"HELLO", "ERROR", "ECHO_REQUEST", "ECHO_REPLY", "EXPERIMENTER",
	"FEATURES_REQUEST", "FEATURES_REPLY", "GET_CONFIG_REQUEST", "GET_CONFIG_REPLY", "SET_CONFIG",
	"PACKET_IN", "FLOW_REMOVED", "PORT_STATUS", "PACKET_OUT", "FLOW_MOD",
	"GROUP_MOD", "PORT_MOD", "TABLE_MOD", "MULTIPART_REQUEST", "MULTIPART_REPLY",
	"BARRIER_REQUEST", "BARRIER_REPLY", "QUEUE_GET_CONFIG_REQUEST", "QUEUE_GET_CONFIG_REPLY", "ROLE_REQUEST",
	"ROLE_REPLY", "GET_ASYNC_REQUEST", "GET_ASYNC_REPLY", "SET_ASYNC", "METER_MOD",
}

func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return "TYPE_" + itoa(uint64(t))
}

// Port numbers (ofp_port_no).
const (
	PortMax        uint32 = 0xffffff00
	PortInPort     uint32 = 0xfffffff8
	PortTable      uint32 = 0xfffffff9
	PortNormal     uint32 = 0xfffffffa
	PortFlood      uint32 = 0xfffffffb
	PortAll        uint32 = 0xfffffffc
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
	PortAny        uint32 = 0xffffffff
)

// Group numbers (ofp_group).
const (
	GroupMax uint32 = 0xffffff00
	GroupAll uint32 = 0xfffffffc
	GroupAny uint32 = 0xffffffff
)

// Meter numbers (ofp_meter).
const (
	MeterMax        uint32 = 0xffff0000
	MeterSlowpath   uint32 = 0xfffffffd
	MeterController uint32 = 0xfffffffe
	MeterAll        uint32 = 0xffffffff
)

// Table numbers (ofp_table).
const (
	TableMax uint8 = 0xfe
	TableAll uint8 = 0xff
)

// Queue number wildcard.
const QueueAll uint32 = 0xffffffff

// NoBuffer is the buffer_id of a message that carries the whole packet.
const NoBuffer uint32 = 0xffffffff

// max_len values of an output action to the controller (ofp_controller_max_len).
const (
	CMLMax      uint16 = 0xffe5
	CMLNoBuffer uint16 = 0xffff
)

// VLAN id bits (ofp_vlan_id).
const (
	VIDPresent uint16 = 0x1000
	VIDNone    uint16 = 0x0000
)

// Switch capabilities (ofp_capabilities).
const (
	CapFlowStats   uint32 = 1 << 0
	CapTableStats  uint32 = 1 << 1
	CapPortStats   uint32 = 1 << 2
	CapGroupStats  uint32 = 1 << 3
	CapIPReasm     uint32 = 1 << 5
	CapQueueStats  uint32 = 1 << 6
	CapPortBlocked uint32 = 1 << 8
)

// Switch configuration flags (ofp_config_flags).
const (
	FragNormal uint16 = 0
	FragDrop   uint16 = 1
	FragReasm  uint16 = 2
	FragMask   uint16 = 3
)

// Table configuration (ofp_table_config).
const TableConfigDeprecatedMask uint32 = 3

// Flow mod commands (ofp_flow_mod_command).
const (
	FlowAdd          uint8 = 0
	FlowModify       uint8 = 1
	FlowModifyStrict uint8 = 2
	FlowDelete       uint8 = 3
	FlowDeleteStrict uint8 = 4
)

// Flow mod flags (ofp_flow_mod_flags).
const (
	FlowSendFlowRem  uint16 = 1 << 0
	FlowCheckOverlap uint16 = 1 << 1
	FlowResetCounts  uint16 = 1 << 2
	FlowNoPktCounts  uint16 = 1 << 3
	FlowNoBytCounts  uint16 = 1 << 4
)

// DefaultPriority is OFP_DEFAULT_PRIORITY.
const DefaultPriority uint16 = 0x8000

// Group mod commands (ofp_group_mod_command).
const (
	GroupAdd    uint16 = 0
	GroupModify uint16 = 1
	GroupDelete uint16 = 2
)

// Group types (ofp_group_type).
const (
	GroupTypeAll      uint8 = 0
	GroupTypeSelect   uint8 = 1
	GroupTypeIndirect uint8 = 2
	GroupTypeFF       uint8 = 3
)

// Group capabilities (ofp_group_capabilities).
const (
	GroupCapSelectWeight   uint32 = 1 << 0
	GroupCapSelectLiveness uint32 = 1 << 1
	GroupCapChaining       uint32 = 1 << 2
	GroupCapChainingChecks uint32 = 1 << 3
)

// Packet-in reasons (ofp_packet_in_reason).
const (
	ReasonNoMatch    uint8 = 0
	ReasonAction     uint8 = 1
	ReasonInvalidTTL uint8 = 2
)

// Flow-removed reasons (ofp_flow_removed_reason).
const (
	RemovedIdleTimeout uint8 = 0
	RemovedHardTimeout uint8 = 1
	RemovedDelete      uint8 = 2
	RemovedGroupDelete uint8 = 3
)

// Port-status reasons (ofp_port_reason).
const (
	PortReasonAdd    uint8 = 0
	PortReasonDelete uint8 = 1
	PortReasonModify uint8 = 2
)

// Port configuration flags (ofp_port_config).
const (
	PortConfigDown       uint32 = 1 << 0
	PortConfigNoRecv     uint32 = 1 << 2
	PortConfigNoFwd      uint32 = 1 << 5
	PortConfigNoPacketIn uint32 = 1 << 6
)

// Port state flags (ofp_port_state).
const (
	PortStateLinkDown uint32 = 1 << 0
	PortStateBlocked  uint32 = 1 << 1
	PortStateLive     uint32 = 1 << 2
)

// Port features (ofp_port_features).
const (
	PortFeature10MbHD    uint32 = 1 << 0
	PortFeature10MbFD    uint32 = 1 << 1
	PortFeature100MbHD   uint32 = 1 << 2
	PortFeature100MbFD   uint32 = 1 << 3
	PortFeature1GbHD     uint32 = 1 << 4
	PortFeature1GbFD     uint32 = 1 << 5
	PortFeature10GbFD    uint32 = 1 << 6
	PortFeature40GbFD    uint32 = 1 << 7
	PortFeature100GbFD   uint32 = 1 << 8
	PortFeature1TbFD     uint32 = 1 << 9
	PortFeatureOther     uint32 = 1 << 10
	PortFeatureCopper    uint32 = 1 << 11
	PortFeatureFiber     uint32 = 1 << 12
	PortFeatureAutoneg   uint32 = 1 << 13
	PortFeaturePause     uint32 = 1 << 14
	PortFeaturePauseAsym uint32 = 1 << 15
)

// Controller roles (ofp_controller_role).
const (
	RoleNoChange uint32 = 0
	RoleEqual    uint32 = 1
	RoleMaster   uint32 = 2
	RoleSlave    uint32 = 3
)

// Meter mod commands, flags and band types.
const (
	MeterAdd    uint16 = 0
	MeterModify uint16 = 1
	MeterDelete uint16 = 2

	MeterFlagKbps  uint16 = 1 << 0
	MeterFlagPktps uint16 = 1 << 1
	MeterFlagBurst uint16 = 1 << 2
	MeterFlagStats uint16 = 1 << 3

	MeterBandDrop         uint16 = 1
	MeterBandDSCPRemark   uint16 = 2
	MeterBandExperimenter uint16 = 0xffff
)

// Queue properties (ofp_queue_properties).
const (
	QueuePropMinRate      uint16 = 1
	QueuePropMaxRate      uint16 = 2
	QueuePropExperimenter uint16 = 0xffff
)

// Multipart flags.
const (
	MultipartRequestMore uint16 = 1 << 0 // OFPMPF_REQ_MORE
	MultipartReplyMore   uint16 = 1 << 0 // OFPMPF_REPLY_MORE
)

// MultipartType is ofp_multipart_type.
type MultipartType uint16

// Multipart types.
const (
	MPDesc          MultipartType = 0
	MPFlow          MultipartType = 1
	MPAggregate     MultipartType = 2
	MPTable         MultipartType = 3
	MPPortStats     MultipartType = 4
	MPQueue         MultipartType = 5
	MPGroup         MultipartType = 6
	MPGroupDesc     MultipartType = 7
	MPGroupFeatures MultipartType = 8
	MPMeter         MultipartType = 9
	MPMeterConfig   MultipartType = 10
	MPMeterFeatures MultipartType = 11
	MPTableFeatures MultipartType = 12
	MPPortDesc      MultipartType = 13
	MPExperimenter  MultipartType = 0xffff
)

// Hello element types.
const HelloElemVersionBitmap uint16 = 1

// itoa formats v without fmt, for String methods.
func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
