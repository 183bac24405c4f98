package ofp

import "bytes"

// OXMClass is the class of an OXM TLV (ofp_oxm_class).
type OXMClass uint16

// OXM classes.
const (
	OXMClassNXM0         OXMClass = 0x0000
	OXMClassNXM1         OXMClass = 0x0001
	OXMClassBasic        OXMClass = 0x8000
	OXMClassExperimenter OXMClass = 0xffff
)

// OXMField is the field number of an OXM TLV (7 bits); with OXMClassBasic
// it is one of the oxm_ofb_match_fields.
type OXMField uint8

// OpenFlow basic match fields.
const (
	OXMInPort       OXMField = 0
	OXMInPhyPort    OXMField = 1
	OXMMetadata     OXMField = 2
	OXMEthDst       OXMField = 3
	OXMEthSrc       OXMField = 4
	OXMEthType      OXMField = 5
	OXMVlanVID      OXMField = 6
	OXMVlanPCP      OXMField = 7
	OXMIPDSCP       OXMField = 8
	OXMIPECN        OXMField = 9
	OXMIPProto      OXMField = 10
	OXMIPv4Src      OXMField = 11
	OXMIPv4Dst      OXMField = 12
	OXMTCPSrc       OXMField = 13
	OXMTCPDst       OXMField = 14
	OXMUDPSrc       OXMField = 15
	OXMUDPDst       OXMField = 16
	OXMSCTPSrc      OXMField = 17
	OXMSCTPDst      OXMField = 18
	OXMICMPv4Type   OXMField = 19
	OXMICMPv4Code   OXMField = 20
	OXMARPOp        OXMField = 21
	OXMARPSpa       OXMField = 22
	OXMARPTpa       OXMField = 23
	OXMARPSha       OXMField = 24
	OXMARPTha       OXMField = 25
	OXMIPv6Src      OXMField = 26
	OXMIPv6Dst      OXMField = 27
	OXMIPv6FLabel   OXMField = 28
	OXMICMPv6Type   OXMField = 29
	OXMICMPv6Code   OXMField = 30
	OXMIPv6NDTarget OXMField = 31
	OXMIPv6NDSLL    OXMField = 32
	OXMIPv6NDTLL    OXMField = 33
	OXMMPLSLabel    OXMField = 34
	OXMMPLSTC       OXMField = 35
	OXMMPLSBOS      OXMField = 36
	OXMPBBISID      OXMField = 37
	OXMTunnelID     OXMField = 38
	OXMIPv6ExtHdr   OXMField = 39

	numBasicFields = 40
)

// IPv6 extension header pseudo-field bits (ofp_ipv6exthdr_flags).
const (
	IEHNoNext uint16 = 1 << 0
	IEHESP    uint16 = 1 << 1
	IEHAuth   uint16 = 1 << 2
	IEHDest   uint16 = 1 << 3
	IEHFrag   uint16 = 1 << 4
	IEHRouter uint16 = 1 << 5
	IEHHop    uint16 = 1 << 6
	IEHUnrep  uint16 = 1 << 7
	IEHUnseq  uint16 = 1 << 8
)

// basicField describes an OpenFlow basic field: its value length, whether it
// may carry a mask, and for integer fields narrower than their bytes the bits
// a value may use (0: any).
type basicField struct {
	name     string
	size     int
	maskable bool
	bits     uint64
}

var basicFields = [numBasicFields]basicField{
	{"in_port", 4, false, 0},
	{"in_phy_port", 4, false, 0},
	{"metadata", 8, true, 0},
	{"eth_dst", 6, true, 0},
	{"eth_src", 6, true, 0},
	{"eth_type", 2, false, 0},
	{"vlan_vid", 2, true, 0x1fff},
	{"vlan_pcp", 1, false, 0x7},
	{"ip_dscp", 1, false, 0x3f},
	{"ip_ecn", 1, false, 0x3},
	{"ip_proto", 1, false, 0},
	{"ipv4_src", 4, true, 0},
	{"ipv4_dst", 4, true, 0},
	{"tcp_src", 2, false, 0},
	{"tcp_dst", 2, false, 0},
	{"udp_src", 2, false, 0},
	{"udp_dst", 2, false, 0},
	{"sctp_src", 2, false, 0},
	{"sctp_dst", 2, false, 0},
	{"icmpv4_type", 1, false, 0},
	{"icmpv4_code", 1, false, 0},
	{"arp_op", 2, false, 0},
	{"arp_spa", 4, true, 0},
	{"arp_tpa", 4, true, 0},
	{"arp_sha", 6, true, 0},
	{"arp_tha", 6, true, 0},
	{"ipv6_src", 16, true, 0},
	{"ipv6_dst", 16, true, 0},
	{"ipv6_flabel", 4, true, 0xfffff},
	{"icmpv6_type", 1, false, 0},
	{"icmpv6_code", 1, false, 0},
	{"ipv6_nd_target", 16, false, 0},
	{"ipv6_nd_sll", 6, false, 0},
	{"ipv6_nd_tll", 6, false, 0},
	{"mpls_label", 4, false, 0xfffff},
	{"mpls_tc", 1, false, 0x7},
	{"mpls_bos", 1, false, 0x1},
	{"pbb_isid", 3, true, 0xffffff},
	{"tunnel_id", 8, true, 0},
	{"ipv6_exthdr", 2, true, 0x1ff},
}

// String returns the field's name in the spec (OFPXMT_OFB_ suffix, lower case).
func (f OXMField) String() string {
	if int(f) < numBasicFields {
		return basicFields[f].name
	}
	return "field_" + itoa(uint64(f))
}

// Size returns the value length of basic field f, or 0 if f is not one.
func (f OXMField) Size() int {
	if int(f) < numBasicFields {
		return basicFields[f].size
	}
	return 0
}

// Maskable reports whether basic field f may carry a mask.
func (f OXMField) Maskable() bool {
	return int(f) < numBasicFields && basicFields[f].maskable
}

// OXM is one OXM TLV. Value and Mask hold the payload in network byte order;
// Mask is nil when the has-mask bit is clear. For OXMClassExperimenter the
// first four payload bytes are the experimenter id, kept in Experimenter;
// Value and Mask split the rest. Classes other than OpenFlow basic are
// carried uninterpreted: the pipeline decides whether it supports them.
type OXM struct {
	Class        OXMClass
	Field        OXMField
	Experimenter uint32
	Value        []byte
	Mask         []byte
}

// NewOXM returns the OpenFlow basic TLV of field f with value v and mask m
// (nil for none). The slices are used as given.
func NewOXM(f OXMField, v, m []byte) OXM {
	return OXM{Class: OXMClassBasic, Field: f, Value: v, Mask: m}
}

// NewOXMUint returns the OpenFlow basic TLV of integer field f with value v,
// encoded in f's size (the low bytes of v).
func NewOXMUint(f OXMField, v uint64) OXM {
	return OXM{Class: OXMClassBasic, Field: f, Value: uintBytes(v, f.Size())}
}

// NewOXMUintMasked is NewOXMUint with a mask.
func NewOXMUintMasked(f OXMField, v, m uint64) OXM {
	return OXM{Class: OXMClassBasic, Field: f, Value: uintBytes(v, f.Size()), Mask: uintBytes(m, f.Size())}
}

func uintBytes(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// Uint returns Value as a big-endian integer (its last 8 bytes if longer).
func (o OXM) Uint() uint64 { return beUint(o.Value) }

// MaskUint returns Mask as a big-endian integer, or all ones of the value's
// width when there is no mask.
func (o OXM) MaskUint() uint64 {
	if o.Mask == nil {
		if len(o.Value) >= 8 {
			return ^uint64(0)
		}
		return 1<<(8*uint(len(o.Value))) - 1
	}
	return beUint(o.Mask)
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// Header returns the 32-bit OXM header of o as it is encoded.
func (o OXM) Header() uint32 {
	n := len(o.Value) + len(o.Mask)
	if o.Class == OXMClassExperimenter {
		n += 4
	}
	h := uint32(o.Class)<<16 | uint32(o.Field&0x7f)<<9 | uint32(n&0xff)
	if o.Mask != nil {
		h |= 1 << 8
	}
	return h
}

// wireLen is the encoded length of o, header included.
func (o OXM) wireLen() int {
	n := 4 + len(o.Value) + len(o.Mask)
	if o.Class == OXMClassExperimenter {
		n += 4
	}
	return n
}

func (o OXM) appendTo(dst []byte) ([]byte, error) {
	if o.wireLen()-4 > 0xff {
		return dst, ErrTooLarge
	}
	dst = be.AppendUint32(dst, o.Header())
	if o.Class == OXMClassExperimenter {
		dst = be.AppendUint32(dst, o.Experimenter)
	}
	dst = append(dst, o.Value...)
	return append(dst, o.Mask...), nil
}

// Equal reports whether o and p are the same TLV.
func (o OXM) Equal(p OXM) bool {
	return o.Class == p.Class && o.Field == p.Field && o.Experimenter == p.Experimenter &&
		bytes.Equal(o.Value, p.Value) && (o.Mask == nil) == (p.Mask == nil) && bytes.Equal(o.Mask, p.Mask)
}

// oxmProblem classifies what is wrong with one TLV, so that a match and a
// set-field action can report it with their own error codes.
type oxmProblem uint8

const (
	oxmOK oxmProblem = iota
	oxmBadLen
	oxmBadField
	oxmBadMask
	oxmBadValue
	oxmBadWildcards
)

// parseOXM decodes the TLV at the start of b. It returns the TLV, its
// length, and what is wrong with it.
func parseOXM(b []byte) (OXM, int, oxmProblem, string) {
	if len(b) < 4 {
		return OXM{}, 0, oxmBadLen, "truncated OXM header"
	}
	h := be.Uint32(b)
	o := OXM{Class: OXMClass(h >> 16), Field: OXMField(h >> 9 & 0x7f)}
	hasMask := h&(1<<8) != 0
	n := int(h & 0xff)
	if 4+n > len(b) {
		return OXM{}, 0, oxmBadLen, "OXM " + o.Field.String() + " overruns the match"
	}
	p := b[4 : 4+n]
	if o.Class == OXMClassExperimenter {
		if len(p) < 4 {
			return OXM{}, 0, oxmBadLen, "experimenter OXM without experimenter id"
		}
		o.Experimenter = be.Uint32(p)
		p = p[4:]
	}
	if o.Class != OXMClassBasic {
		if hasMask {
			if len(p)%2 != 0 {
				return OXM{}, 0, oxmBadLen, "masked OXM of odd length"
			}
			o.Value, o.Mask = p[:len(p)/2:len(p)/2], p[len(p)/2:len(p):len(p)]
		} else {
			o.Value = p[:len(p):len(p)]
		}
		return o, 4 + n, oxmOK, ""
	}
	if int(o.Field) >= numBasicFields {
		return OXM{}, 0, oxmBadField, "unknown OXM field " + itoa(uint64(o.Field))
	}
	f := &basicFields[o.Field]
	want := f.size
	if hasMask {
		want *= 2
	}
	if n != want {
		return OXM{}, 0, oxmBadLen, "OXM " + f.name + " has length " + itoa(uint64(n))
	}
	if hasMask {
		if !f.maskable {
			return OXM{}, 0, oxmBadMask, "OXM " + f.name + " cannot be masked"
		}
		o.Value, o.Mask = p[:f.size:f.size], p[f.size:n:n]
		for i := range o.Value {
			if o.Value[i]&^o.Mask[i] != 0 {
				return OXM{}, 0, oxmBadWildcards, "OXM " + f.name + " value has bits outside its mask"
			}
		}
	} else {
		o.Value = p[:n:n]
	}
	if f.bits != 0 && beUint(o.Value)&^f.bits != 0 {
		return OXM{}, 0, oxmBadValue, "OXM " + f.name + " value out of range"
	}
	return o, 4 + n, oxmOK, ""
}

// Match is an OXM match (ofp_match of type OFPMT_OXM): the TLVs in order.
// An empty match matches every packet.
type Match struct {
	Fields []OXM
}

// Matchtypes (ofp_match_type).
const (
	MatchTypeStandard uint16 = 0
	MatchTypeOXM      uint16 = 1
)

// Field returns the OpenFlow basic TLV of field f, if present.
func (m *Match) Field(f OXMField) (OXM, bool) {
	for _, o := range m.Fields {
		if o.Class == OXMClassBasic && o.Field == f {
			return o, true
		}
	}
	return OXM{}, false
}

// appendTo appends the match with its padding to 8 bytes.
func (m *Match) appendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = be.AppendUint16(dst, MatchTypeOXM)
	dst = append(dst, 0, 0)
	var err error
	for _, o := range m.Fields {
		if dst, err = o.appendTo(dst); err != nil {
			return dst, err
		}
	}
	if err := putLen16(dst, start+2, start); err != nil {
		return dst, err
	}
	return padTo8(dst, start), nil
}

// wireLen is the padded encoded length of m.
func (m *Match) wireLen() int {
	n := 4
	for _, o := range m.Fields {
		n += o.wireLen()
	}
	return pad8(n)
}

func matchError(p oxmProblem, reason string) *Error {
	code := BMCBadLen
	switch p {
	case oxmBadField:
		code = BMCBadField
	case oxmBadMask:
		code = BMCBadMask
	case oxmBadValue:
		code = BMCBadValue
	case oxmBadWildcards:
		code = BMCBadWildcards
	}
	return newError(ETBadMatch, code, reason)
}

// decodeMatch decodes the match at the start of b and returns it with its
// padded length.
func decodeMatch(b []byte) (Match, int, error) {
	if len(b) < 4 {
		return Match{}, 0, newError(ETBadMatch, BMCBadLen, "truncated match header")
	}
	if t := be.Uint16(b); t != MatchTypeOXM {
		return Match{}, 0, newError(ETBadMatch, BMCBadType, "match type "+itoa(uint64(t)))
	}
	n := int(be.Uint16(b[2:]))
	if n < 4 || pad8(n) > len(b) {
		return Match{}, 0, newError(ETBadMatch, BMCBadLen, "match length "+itoa(uint64(n)))
	}
	fields, err := decodeOXMs(b[4:n])
	if err != nil {
		return Match{}, 0, err
	}
	return Match{Fields: fields}, pad8(n), nil
}

// decodeOXMs decodes a list of TLVs that fills b exactly and rejects
// duplicated fields.
func decodeOXMs(b []byte) ([]OXM, error) {
	if len(b) == 0 {
		return nil, nil
	}
	// Count first so the slice is allocated once; the count is bounded by
	// len(b)/4.
	count := 0
	for p := b; len(p) >= 4; count++ {
		p = p[min(4+int(p[3]), len(p)):]
	}
	fields := make([]OXM, 0, count)
	var seen uint64               // basic fields
	var seenOther map[uint64]bool // other classes, made when needed
	for len(b) > 0 {
		o, n, p, reason := parseOXM(b)
		if p != oxmOK {
			return nil, matchError(p, reason)
		}
		if o.Class == OXMClassBasic {
			bit := uint64(1) << o.Field
			if seen&bit != 0 {
				return nil, newError(ETBadMatch, BMCDupField, "OXM "+o.Field.String()+" repeated")
			}
			seen |= bit
		} else {
			key := uint64(o.Class)<<48 | uint64(o.Field)<<32 | uint64(o.Experimenter)
			if seenOther == nil {
				seenOther = make(map[uint64]bool)
			}
			if seenOther[key] {
				return nil, newError(ETBadMatch, BMCDupField, "OXM class "+itoa(uint64(o.Class))+" field "+itoa(uint64(o.Field))+" repeated")
			}
			seenOther[key] = true
		}
		fields = append(fields, o)
		b = b[n:]
	}
	return fields, nil
}

// Ethernet types and IP protocols the prerequisites refer to.
const (
	EthTypeIPv4   = 0x0800
	EthTypeARP    = 0x0806
	EthTypeIPv6   = 0x86dd
	EthTypeMPLS   = 0x8847
	EthTypeMPLSMC = 0x8848
	EthTypePBB    = 0x88e7
	EthTypeVLAN   = 0x8100
	EthTypeQinQ   = 0x88a8

	IPProtoICMP   = 1
	IPProtoTCP    = 6
	IPProtoUDP    = 17
	IPProtoICMPv6 = 58
	IPProtoSCTP   = 132
)

// prereq is one row of the spec's prerequisite table: field on must be
// present, unmasked, with one of the values.
type prereq struct {
	on     OXMField
	values []uint64
}

var prereqs = [numBasicFields]prereq{
	OXMInPhyPort:    {OXMInPort, nil},
	OXMVlanPCP:      {OXMVlanVID, nil}, // VLAN_VID != NONE, checked specially
	OXMIPDSCP:       {OXMEthType, []uint64{EthTypeIPv4, EthTypeIPv6}},
	OXMIPECN:        {OXMEthType, []uint64{EthTypeIPv4, EthTypeIPv6}},
	OXMIPProto:      {OXMEthType, []uint64{EthTypeIPv4, EthTypeIPv6}},
	OXMIPv4Src:      {OXMEthType, []uint64{EthTypeIPv4}},
	OXMIPv4Dst:      {OXMEthType, []uint64{EthTypeIPv4}},
	OXMTCPSrc:       {OXMIPProto, []uint64{IPProtoTCP}},
	OXMTCPDst:       {OXMIPProto, []uint64{IPProtoTCP}},
	OXMUDPSrc:       {OXMIPProto, []uint64{IPProtoUDP}},
	OXMUDPDst:       {OXMIPProto, []uint64{IPProtoUDP}},
	OXMSCTPSrc:      {OXMIPProto, []uint64{IPProtoSCTP}},
	OXMSCTPDst:      {OXMIPProto, []uint64{IPProtoSCTP}},
	OXMICMPv4Type:   {OXMIPProto, []uint64{IPProtoICMP}},
	OXMICMPv4Code:   {OXMIPProto, []uint64{IPProtoICMP}},
	OXMARPOp:        {OXMEthType, []uint64{EthTypeARP}},
	OXMARPSpa:       {OXMEthType, []uint64{EthTypeARP}},
	OXMARPTpa:       {OXMEthType, []uint64{EthTypeARP}},
	OXMARPSha:       {OXMEthType, []uint64{EthTypeARP}},
	OXMARPTha:       {OXMEthType, []uint64{EthTypeARP}},
	OXMIPv6Src:      {OXMEthType, []uint64{EthTypeIPv6}},
	OXMIPv6Dst:      {OXMEthType, []uint64{EthTypeIPv6}},
	OXMIPv6FLabel:   {OXMEthType, []uint64{EthTypeIPv6}},
	OXMICMPv6Type:   {OXMIPProto, []uint64{IPProtoICMPv6}},
	OXMICMPv6Code:   {OXMIPProto, []uint64{IPProtoICMPv6}},
	OXMIPv6NDTarget: {OXMICMPv6Type, []uint64{135, 136}},
	OXMIPv6NDSLL:    {OXMICMPv6Type, []uint64{135}},
	OXMIPv6NDTLL:    {OXMICMPv6Type, []uint64{136}},
	OXMMPLSLabel:    {OXMEthType, []uint64{EthTypeMPLS, EthTypeMPLSMC}},
	OXMMPLSTC:       {OXMEthType, []uint64{EthTypeMPLS, EthTypeMPLSMC}},
	OXMMPLSBOS:      {OXMEthType, []uint64{EthTypeMPLS, EthTypeMPLSMC}},
	OXMPBBISID:      {OXMEthType, []uint64{EthTypePBB}},
	OXMIPv6ExtHdr:   {OXMEthType, []uint64{EthTypeIPv6}},
}

// CheckPrereqs reports the first OpenFlow basic field of m whose
// prerequisite (spec 1.3.5 §7.2.3.8, table 12) is missing, as an
// (ETBadMatch, BMCBadPrereq) *Error; nil when all are met. A prerequisite is
// met by the named field present without a mask and with one of the listed
// values; VLAN_PCP needs a VLAN_VID whose value (and mask, if any) has
// VIDPresent set. Chains (TCP needs IP_PROTO=6, which needs ETH_TYPE=IPv4 or
// IPv6) follow from checking every field. The order of the TLVs is not
// checked.
func (m *Match) CheckPrereqs() error {
	for _, o := range m.Fields {
		if o.Class != OXMClassBasic || int(o.Field) >= numBasicFields {
			continue
		}
		if ok, need := m.prereqMet(o.Field); !ok {
			return newError(ETBadMatch, BMCBadPrereq, o.Field.String()+" needs "+need)
		}
	}
	return nil
}

// PrereqMet reports whether the prerequisite of basic field f is met by m
// (true for fields without one). A set-field action in a flow can use it to
// check its field against the flow's match.
func (m *Match) PrereqMet(f OXMField) bool {
	ok, _ := m.prereqMet(f)
	return ok
}

func (m *Match) prereqMet(f OXMField) (bool, string) {
	if int(f) >= numBasicFields {
		return true, ""
	}
	p := prereqs[f]
	if p.on == 0 && p.values == nil && f != OXMInPhyPort {
		return true, ""
	}
	o, ok := m.Field(p.on)
	switch {
	case f == OXMVlanPCP:
		if !ok || o.Uint()&uint64(VIDPresent) == 0 || o.MaskUint()&uint64(VIDPresent) == 0 {
			return false, "vlan_vid present"
		}
		return true, ""
	case p.values == nil:
		return ok, p.on.String()
	}
	need := p.on.String() + "=" + itoa(p.values[0])
	if !ok || o.Mask != nil {
		return false, need
	}
	v := o.Uint()
	for _, w := range p.values {
		if v == w {
			return true, ""
		}
	}
	return false, need
}

// DecodeMatch decodes the ofp_match at the start of b and returns it with
// its length including the padding to 8 bytes. Failures are
// (ETBadMatch, ...) *Errors. The result aliases b.
func DecodeMatch(b []byte) (Match, int, error) { return decodeMatch(b) }

// AppendMatch appends m as an ofp_match padded to 8 bytes.
func AppendMatch(dst []byte, m *Match) ([]byte, error) { return m.appendTo(dst) }
