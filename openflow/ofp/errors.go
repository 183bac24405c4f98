package ofp

import (
	"errors"
	"strings"
)

// ErrorType is ofp_error_msg.type (ofp_error_type).
type ErrorType uint16

// Error types.
const (
	ETHelloFailed        ErrorType = 0
	ETBadRequest         ErrorType = 1
	ETBadAction          ErrorType = 2
	ETBadInstruction     ErrorType = 3
	ETBadMatch           ErrorType = 4
	ETFlowModFailed      ErrorType = 5
	ETGroupModFailed     ErrorType = 6
	ETPortModFailed      ErrorType = 7
	ETTableModFailed     ErrorType = 8
	ETQueueOpFailed      ErrorType = 9
	ETSwitchConfigFailed ErrorType = 10
	ETRoleRequestFailed  ErrorType = 11
	ETMeterModFailed     ErrorType = 12
	ETTableFeaturesFail  ErrorType = 13
	ETExperimenter       ErrorType = 0xffff
)

// Codes of ETHelloFailed (ofp_hello_failed_code).
const (
	HFCIncompatible uint16 = 0
	HFCEperm        uint16 = 1
)

// Codes of ETBadRequest (ofp_bad_request_code).
const (
	BRCBadVersion              uint16 = 0
	BRCBadType                 uint16 = 1
	BRCBadMultipart            uint16 = 2
	BRCBadExperimenter         uint16 = 3
	BRCBadExpType              uint16 = 4
	BRCEperm                   uint16 = 5
	BRCBadLen                  uint16 = 6
	BRCBufferEmpty             uint16 = 7
	BRCBufferUnknown           uint16 = 8
	BRCBadTableID              uint16 = 9
	BRCIsSlave                 uint16 = 10
	BRCBadPort                 uint16 = 11
	BRCBadPacket               uint16 = 12
	BRCMultipartBufferOverflow uint16 = 13
)

// Codes of ETBadAction (ofp_bad_action_code).
const (
	BACBadType           uint16 = 0
	BACBadLen            uint16 = 1
	BACBadExperimenter   uint16 = 2
	BACBadExpType        uint16 = 3
	BACBadOutPort        uint16 = 4
	BACBadArgument       uint16 = 5
	BACEperm             uint16 = 6
	BACTooMany           uint16 = 7
	BACBadQueue          uint16 = 8
	BACBadOutGroup       uint16 = 9
	BACMatchInconsistent uint16 = 10
	BACUnsupportedOrder  uint16 = 11
	BACBadTag            uint16 = 12
	BACBadSetType        uint16 = 13
	BACBadSetLen         uint16 = 14
	BACBadSetArgument    uint16 = 15
)

// Codes of ETBadInstruction (ofp_bad_instruction_code).
const (
	BICUnknownInst      uint16 = 0
	BICUnsupInst        uint16 = 1
	BICBadTableID       uint16 = 2
	BICUnsupMetadata    uint16 = 3
	BICUnsupMetadataMsk uint16 = 4
	BICBadExperimenter  uint16 = 5
	BICBadExpType       uint16 = 6
	BICBadLen           uint16 = 7
	BICEperm            uint16 = 8
)

// Codes of ETBadMatch (ofp_bad_match_code).
const (
	BMCBadType       uint16 = 0
	BMCBadLen        uint16 = 1
	BMCBadTag        uint16 = 2
	BMCBadDLAddrMask uint16 = 3
	BMCBadNWAddrMask uint16 = 4
	BMCBadWildcards  uint16 = 5
	BMCBadField      uint16 = 6
	BMCBadValue      uint16 = 7
	BMCBadMask       uint16 = 8
	BMCBadPrereq     uint16 = 9
	BMCDupField      uint16 = 10
	BMCEperm         uint16 = 11
)

// Codes of ETFlowModFailed (ofp_flow_mod_failed_code).
const (
	FMFCUnknown    uint16 = 0
	FMFCTableFull  uint16 = 1
	FMFCBadTableID uint16 = 2
	FMFCOverlap    uint16 = 3
	FMFCEperm      uint16 = 4
	FMFCBadTimeout uint16 = 5
	FMFCBadCommand uint16 = 6
	FMFCBadFlags   uint16 = 7
)

// Codes of ETGroupModFailed (ofp_group_mod_failed_code).
const (
	GMFCGroupExists         uint16 = 0
	GMFCInvalidGroup        uint16 = 1
	GMFCWeightUnsupported   uint16 = 2
	GMFCOutOfGroups         uint16 = 3
	GMFCOutOfBuckets        uint16 = 4
	GMFCChainingUnsupported uint16 = 5
	GMFCWatchUnsupported    uint16 = 6
	GMFCLoop                uint16 = 7
	GMFCUnknownGroup        uint16 = 8
	GMFCChainedGroup        uint16 = 9
	GMFCBadType             uint16 = 10
	GMFCBadCommand          uint16 = 11
	GMFCBadBucket           uint16 = 12
	GMFCBadWatch            uint16 = 13
	GMFCEperm               uint16 = 14
)

// Codes of ETPortModFailed (ofp_port_mod_failed_code).
const (
	PMFCBadPort      uint16 = 0
	PMFCBadHWAddr    uint16 = 1
	PMFCBadConfig    uint16 = 2
	PMFCBadAdvertise uint16 = 3
	PMFCEperm        uint16 = 4
)

// Codes of ETTableModFailed (ofp_table_mod_failed_code).
const (
	TMFCBadTable  uint16 = 0
	TMFCBadConfig uint16 = 1
	TMFCEperm     uint16 = 2
)

// Codes of ETQueueOpFailed (ofp_queue_op_failed_code).
const (
	QOFCBadPort  uint16 = 0
	QOFCBadQueue uint16 = 1
	QOFCEperm    uint16 = 2
)

// Codes of ETSwitchConfigFailed (ofp_switch_config_failed_code).
const (
	SCFCBadFlags uint16 = 0
	SCFCBadLen   uint16 = 1
	SCFCEperm    uint16 = 2
)

// Codes of ETRoleRequestFailed (ofp_role_request_failed_code).
const (
	RRFCStale   uint16 = 0
	RRFCUnsup   uint16 = 1
	RRFCBadRole uint16 = 2
)

// Codes of ETMeterModFailed (ofp_meter_mod_failed_code).
const (
	MMFCUnknown      uint16 = 0
	MMFCMeterExists  uint16 = 1
	MMFCInvalidMeter uint16 = 2
	MMFCUnknownMeter uint16 = 3
	MMFCBadCommand   uint16 = 4
	MMFCBadFlags     uint16 = 5
	MMFCBadRate      uint16 = 6
	MMFCBadBurst     uint16 = 7
	MMFCBadBand      uint16 = 8
	MMFCBadBandValue uint16 = 9
	MMFCOutOfMeters  uint16 = 10
	MMFCOutOfBands   uint16 = 11
)

// Codes of ETTableFeaturesFail (ofp_table_features_failed_code).
const (
	TFFCBadTable    uint16 = 0
	TFFCBadMetadata uint16 = 1
	TFFCBadType     uint16 = 2
	TFFCBadLen      uint16 = 3
	TFFCBadArgument uint16 = 4
	TFFCEperm       uint16 = 5
)

var errorNames = [...]struct {
	typ   string
	codes []string
}{
	{"HELLO_FAILED", []string{"INCOMPATIBLE", "EPERM"}},
	{"BAD_REQUEST", []string{"BAD_VERSION", "BAD_TYPE", "BAD_MULTIPART", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "EPERM", "BAD_LEN", "BUFFER_EMPTY", "BUFFER_UNKNOWN", "BAD_TABLE_ID", "IS_SLAVE", "BAD_PORT", "BAD_PACKET", "MULTIPART_BUFFER_OVERFLOW"}},
	{"BAD_ACTION", []string{"BAD_TYPE", "BAD_LEN", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_OUT_PORT", "BAD_ARGUMENT", "EPERM", "TOO_MANY", "BAD_QUEUE", "BAD_OUT_GROUP", "MATCH_INCONSISTENT", "UNSUPPORTED_ORDER", "BAD_TAG", "BAD_SET_TYPE", "BAD_SET_LEN", "BAD_SET_ARGUMENT"}},
	{"BAD_INSTRUCTION", []string{"UNKNOWN_INST", "UNSUP_INST", "BAD_TABLE_ID", "UNSUP_METADATA", "UNSUP_METADATA_MASK", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_LEN", "EPERM"}},
	{"BAD_MATCH", []string{"BAD_TYPE", "BAD_LEN", "BAD_TAG", "BAD_DL_ADDR_MASK", "BAD_NW_ADDR_MASK", "BAD_WILDCARDS", "BAD_FIELD", "BAD_VALUE", "BAD_MASK", "BAD_PREREQ", "DUP_FIELD", "EPERM"}},
	{"FLOW_MOD_FAILED", []string{"UNKNOWN", "TABLE_FULL", "BAD_TABLE_ID", "OVERLAP", "EPERM", "BAD_TIMEOUT", "BAD_COMMAND", "BAD_FLAGS"}},
	{"GROUP_MOD_FAILED", []string{"GROUP_EXISTS", "INVALID_GROUP", "WEIGHT_UNSUPPORTED", "OUT_OF_GROUPS", "OUT_OF_BUCKETS", "CHAINING_UNSUPPORTED", "WATCH_UNSUPPORTED", "LOOP", "UNKNOWN_GROUP", "CHAINED_GROUP", "BAD_TYPE", "BAD_COMMAND", "BAD_BUCKET", "BAD_WATCH", "EPERM"}},
	{"PORT_MOD_FAILED", []string{"BAD_PORT", "BAD_HW_ADDR", "BAD_CONFIG", "BAD_ADVERTISE", "EPERM"}},
	{"TABLE_MOD_FAILED", []string{"BAD_TABLE", "BAD_CONFIG", "EPERM"}},
	{"QUEUE_OP_FAILED", []string{"BAD_PORT", "BAD_QUEUE", "EPERM"}},
	{"SWITCH_CONFIG_FAILED", []string{"BAD_FLAGS", "BAD_LEN", "EPERM"}},
	{"ROLE_REQUEST_FAILED", []string{"STALE", "UNSUP", "BAD_ROLE"}},
	{"METER_MOD_FAILED", []string{"UNKNOWN", "METER_EXISTS", "INVALID_METER", "UNKNOWN_METER", "BAD_COMMAND", "BAD_FLAGS", "BAD_RATE", "BAD_BURST", "BAD_BAND", "BAD_BAND_VALUE", "OUT_OF_METERS", "OUT_OF_BANDS"}},
	{"TABLE_FEATURES_FAILED", []string{"BAD_TABLE", "BAD_METADATA", "BAD_TYPE", "BAD_LEN", "BAD_ARGUMENT", "EPERM"}},
}

// String returns the spec's name without the OFPET_ prefix, e.g. "BAD_MATCH".
func (t ErrorType) String() string {
	if int(t) < len(errorNames) {
		return errorNames[t].typ
	}
	if t == ETExperimenter {
		return "EXPERIMENTER"
	}
	return "ERROR_TYPE_" + itoa(uint64(t))
}

// CodeName returns the spec's name of code under type t without its prefix,
// e.g. "DUP_FIELD", or the number when the code is unknown.
func CodeName(t ErrorType, code uint16) string {
	if int(t) < len(errorNames) && int(code) < len(errorNames[t].codes) {
		return errorNames[t].codes[code]
	}
	return itoa(uint64(code))
}

// Error is a decode failure, or any failure the switch reports to a
// controller, with the (type, code) pair of the ERROR message that answers it.
type Error struct {
	Type   ErrorType
	Code   uint16
	Reason string // human-readable detail; not sent on the wire
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ofp: ")
	b.WriteString(e.Type.String())
	b.WriteByte('/')
	b.WriteString(CodeName(e.Type, e.Code))
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

// Is reports whether target is an *Error with the same type and code, so that
// errors.Is(err, &ofp.Error{Type: ofp.ETBadMatch, Code: ofp.BMCDupField}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type && t.Code == e.Code
}

func newError(t ErrorType, code uint16, reason string) *Error {
	return &Error{Type: t, Code: code, Reason: reason}
}

func badLen(reason string) *Error { return newError(ETBadRequest, BRCBadLen, reason) }

// ErrorDataLen is the number of bytes of the offending request an ERROR
// message carries (at least 64 per the spec).
const ErrorDataLen = 64

// NewErrorMsg returns the ERROR message answering err about request (the
// whole offending message): its type and code are those of the *Error in
// err's chain, or (ETBadRequest, BRCEperm) when there is none, and its data is
// the first ErrorDataLen bytes of request, copied.
func NewErrorMsg(err error, request []byte) *ErrorMsg {
	m := &ErrorMsg{ErrType: ETBadRequest, Code: BRCEperm}
	var e *Error
	if errors.As(err, &e) {
		m.ErrType, m.Code = e.Type, e.Code
	}
	if len(request) > ErrorDataLen {
		request = request[:ErrorDataLen]
	}
	if len(request) > 0 {
		m.Data = append([]byte(nil), request...)
	}
	return m
}
