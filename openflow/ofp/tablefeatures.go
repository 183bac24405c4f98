package ofp

// TableFeaturePropType is ofp_table_feature_prop_type.
type TableFeaturePropType uint16

// Table feature property types.
const (
	TFPInstructions      TableFeaturePropType = 0
	TFPInstructionsMiss  TableFeaturePropType = 1
	TFPNextTables        TableFeaturePropType = 2
	TFPNextTablesMiss    TableFeaturePropType = 3
	TFPWriteActions      TableFeaturePropType = 4
	TFPWriteActionsMiss  TableFeaturePropType = 5
	TFPApplyActions      TableFeaturePropType = 6
	TFPApplyActionsMiss  TableFeaturePropType = 7
	TFPMatch             TableFeaturePropType = 8
	TFPWildcards         TableFeaturePropType = 10
	TFPWriteSetField     TableFeaturePropType = 12
	TFPWriteSetFieldMiss TableFeaturePropType = 13
	TFPApplySetField     TableFeaturePropType = 14
	TFPApplySetFieldMiss TableFeaturePropType = 15
	TFPExperimenter      TableFeaturePropType = 0xfffe
	TFPExperimenterMiss  TableFeaturePropType = 0xffff
)

// TableFeatures is ofp_table_features.
type TableFeatures struct {
	TableID       uint8
	Name          string // at most 32 bytes on the wire
	MetadataMatch uint64
	MetadataWrite uint64
	Config        uint32
	MaxEntries    uint32
	Properties    []TableFeatureProp
}

// FeatureID names an instruction or action type in a table feature
// property: its type, and any bytes after the 4-byte type/length header
// (the experimenter id of experimenter types).
type FeatureID struct {
	Type uint16
	Data []byte
}

// OXMID names a match field in a table feature property: an OXM header, and
// for OXMClassExperimenter the experimenter id that follows it.
type OXMID struct {
	Header       uint32
	Experimenter uint32
}

// TableFeatureProp is one table feature property. Which fields are used
// depends on Type: IDs for instructions and actions, NextTables for next
// tables, OXMs for match, wildcards and set-field, Experimenter, ExpType and
// Data for the experimenter types; Data holds the body of unknown types.
type TableFeatureProp struct {
	Type         TableFeaturePropType
	IDs          []FeatureID
	NextTables   []uint8
	OXMs         []OXMID
	Experimenter uint32
	ExpType      uint32
	Data         []byte
}

func (t TableFeaturePropType) kind() int {
	switch t {
	case TFPInstructions, TFPInstructionsMiss, TFPWriteActions, TFPWriteActionsMiss, TFPApplyActions, TFPApplyActionsMiss:
		return 1
	case TFPNextTables, TFPNextTablesMiss:
		return 2
	case TFPMatch, TFPWildcards, TFPWriteSetField, TFPWriteSetFieldMiss, TFPApplySetField, TFPApplySetFieldMiss:
		return 3
	case TFPExperimenter, TFPExperimenterMiss:
		return 4
	}
	return 0
}

func appendTableFeatures(dst []byte, tables []TableFeatures) ([]byte, error) {
	for i := range tables {
		t := &tables[i]
		start := len(dst)
		dst = appendZeros(append(be.AppendUint16(dst, 0), t.TableID), 5)
		dst = appendCString(dst, t.Name, 32)
		dst = be.AppendUint64(be.AppendUint64(dst, t.MetadataMatch), t.MetadataWrite)
		dst = be.AppendUint32(be.AppendUint32(dst, t.Config), t.MaxEntries)
		for _, p := range t.Properties {
			pstart := len(dst)
			dst = be.AppendUint16(be.AppendUint16(dst, uint16(p.Type)), 0)
			switch p.Type.kind() {
			case 1:
				for _, id := range p.IDs {
					idstart := len(dst)
					dst = append(be.AppendUint16(be.AppendUint16(dst, id.Type), 0), id.Data...)
					if err := putLen16(dst, idstart+2, idstart); err != nil {
						return dst, err
					}
				}
			case 2:
				dst = append(dst, p.NextTables...)
			case 3:
				for _, o := range p.OXMs {
					dst = be.AppendUint32(dst, o.Header)
					if OXMClass(o.Header>>16) == OXMClassExperimenter {
						dst = be.AppendUint32(dst, o.Experimenter)
					}
				}
			case 4:
				dst = be.AppendUint32(be.AppendUint32(dst, p.Experimenter), p.ExpType)
				dst = append(dst, p.Data...)
			default:
				dst = append(dst, p.Data...)
			}
			if err := putLen16(dst, pstart+2, pstart); err != nil {
				return dst, err
			}
			dst = padTo8(dst, pstart)
		}
		if err := putLen16(dst, start, start); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func tfLen(reason string) *Error { return newError(ETTableFeaturesFail, TFFCBadLen, reason) }

// decodeTableFeatures decodes a list of table features that fills b.
func decodeTableFeatures(b []byte) ([]TableFeatures, error) {
	var tables []TableFeatures
	err := lenEntries(b, 0, 64, "table features", func(e []byte) error {
		t := TableFeatures{
			TableID: e[2], Name: cstring(e[8:40]), MetadataMatch: be.Uint64(e[40:]),
			MetadataWrite: be.Uint64(e[48:]), Config: be.Uint32(e[56:]), MaxEntries: be.Uint32(e[60:]),
		}
		for props := e[64:]; len(props) > 0; {
			if len(props) < 4 {
				return tfLen("truncated table feature property")
			}
			pt, n := TableFeaturePropType(be.Uint16(props)), int(be.Uint16(props[2:]))
			if n < 4 || n > len(props) {
				return tfLen("table feature property length " + itoa(uint64(n)))
			}
			p := TableFeatureProp{Type: pt}
			body := props[4:n]
			switch pt.kind() {
			case 1:
				for len(body) > 0 {
					if len(body) < 4 {
						return tfLen("truncated id in table feature property")
					}
					in := int(be.Uint16(body[2:]))
					if in < 4 || in > len(body) {
						return tfLen("id length " + itoa(uint64(in)))
					}
					p.IDs = append(p.IDs, FeatureID{Type: be.Uint16(body), Data: clip(body[4:in])})
					body = body[in:]
				}
			case 2:
				p.NextTables = clip(body)
			case 3:
				for len(body) > 0 {
					if len(body) < 4 {
						return tfLen("truncated OXM id")
					}
					o := OXMID{Header: be.Uint32(body)}
					body = body[4:]
					if OXMClass(o.Header>>16) == OXMClassExperimenter {
						if len(body) < 4 {
							return tfLen("truncated experimenter OXM id")
						}
						o.Experimenter = be.Uint32(body)
						body = body[4:]
					}
					p.OXMs = append(p.OXMs, o)
				}
			case 4:
				if len(body) < 8 {
					return tfLen("experimenter table feature property shorter than 12 bytes")
				}
				p.Experimenter, p.ExpType, p.Data = be.Uint32(body), be.Uint32(body[4:]), clip(body[8:])
			default:
				p.Data = clip(body)
			}
			t.Properties = append(t.Properties, p)
			props = props[min(pad8(n), len(props)):]
		}
		tables = append(tables, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tables, nil
}
