package ofp

// InstructionType is ofp_instruction_type.
type InstructionType uint16

// Instruction types.
const (
	InstGotoTable     InstructionType = 1
	InstWriteMetadata InstructionType = 2
	InstWriteActions  InstructionType = 3
	InstApplyActions  InstructionType = 4
	InstClearActions  InstructionType = 5
	InstMeter         InstructionType = 6
	InstExperimenter  InstructionType = 0xffff
)

// Instruction is one instruction of a flow entry. The implementations are
// the value types Instruction* of this package.
type Instruction interface {
	InstructionType() InstructionType
	appendTo(dst []byte) ([]byte, error)
}

// InstructionGotoTable continues the pipeline at TableID.
type InstructionGotoTable struct{ TableID uint8 }

// InstructionWriteMetadata writes Metadata under Mask into the metadata field.
type InstructionWriteMetadata struct{ Metadata, Mask uint64 }

// InstructionWriteActions merges Actions into the action set.
type InstructionWriteActions struct{ Actions []Action }

// InstructionApplyActions applies Actions immediately.
type InstructionApplyActions struct{ Actions []Action }

// InstructionClearActions clears the action set.
type InstructionClearActions struct{}

// InstructionMeter directs the packet to a meter.
type InstructionMeter struct{ MeterID uint32 }

// InstructionExperimenter is an experimenter instruction, kept opaque. Data
// follows the experimenter id and is padded to a multiple of 8 on the wire.
type InstructionExperimenter struct {
	Experimenter uint32
	Data         []byte
}

func (InstructionGotoTable) InstructionType() InstructionType     { return InstGotoTable }
func (InstructionWriteMetadata) InstructionType() InstructionType { return InstWriteMetadata }
func (InstructionWriteActions) InstructionType() InstructionType  { return InstWriteActions }
func (InstructionApplyActions) InstructionType() InstructionType  { return InstApplyActions }
func (InstructionClearActions) InstructionType() InstructionType  { return InstClearActions }
func (InstructionMeter) InstructionType() InstructionType         { return InstMeter }
func (InstructionExperimenter) InstructionType() InstructionType  { return InstExperimenter }

func instHeader(dst []byte, t InstructionType, n uint16) []byte {
	return be.AppendUint16(be.AppendUint16(dst, uint16(t)), n)
}

func (i InstructionGotoTable) appendTo(dst []byte) ([]byte, error) {
	return appendZeros(append(instHeader(dst, InstGotoTable, 8), i.TableID), 3), nil
}

func (i InstructionWriteMetadata) appendTo(dst []byte) ([]byte, error) {
	dst = appendZeros(instHeader(dst, InstWriteMetadata, 24), 4)
	return be.AppendUint64(be.AppendUint64(dst, i.Metadata), i.Mask), nil
}

func appendInstActions(dst []byte, t InstructionType, actions []Action) ([]byte, error) {
	start := len(dst)
	dst = appendZeros(instHeader(dst, t, 0), 4)
	dst, err := appendActions(dst, actions)
	if err != nil {
		return dst, err
	}
	return dst, putLen16(dst, start+2, start)
}

func (i InstructionWriteActions) appendTo(dst []byte) ([]byte, error) {
	return appendInstActions(dst, InstWriteActions, i.Actions)
}

func (i InstructionApplyActions) appendTo(dst []byte) ([]byte, error) {
	return appendInstActions(dst, InstApplyActions, i.Actions)
}

func (InstructionClearActions) appendTo(dst []byte) ([]byte, error) {
	return appendZeros(instHeader(dst, InstClearActions, 8), 4), nil
}

func (i InstructionMeter) appendTo(dst []byte) ([]byte, error) {
	return be.AppendUint32(instHeader(dst, InstMeter, 8), i.MeterID), nil
}

func (i InstructionExperimenter) appendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = be.AppendUint32(instHeader(dst, InstExperimenter, 0), i.Experimenter)
	dst = padTo8(append(dst, i.Data...), start)
	return dst, putLen16(dst, start+2, start)
}

func appendInstructions(dst []byte, insts []Instruction) ([]byte, error) {
	var err error
	for _, in := range insts {
		if in == nil {
			continue
		}
		if dst, err = in.appendTo(dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func instError(code uint16, reason string) *Error {
	return newError(ETBadInstruction, code, reason)
}

// DecodeInstructions decodes a list of instructions that fills b exactly.
// Failures are (ETBadInstruction, ...) *Errors, or (ETBadAction, ...) for
// the actions inside. The result aliases b.
func DecodeInstructions(b []byte) ([]Instruction, error) {
	if len(b) == 0 {
		return nil, nil
	}
	insts := make([]Instruction, 0, countTLVs(b))
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, instError(BICBadLen, "truncated instruction")
		}
		t := InstructionType(be.Uint16(b))
		n := int(be.Uint16(b[2:]))
		if n < 8 || n%8 != 0 || n > len(b) {
			return nil, instError(BICBadLen, "instruction length "+itoa(uint64(n)))
		}
		p := b[:n]
		fixed := func(want int) error {
			if n != want {
				return instError(BICBadLen, "instruction "+itoa(uint64(t))+" length "+itoa(uint64(n)))
			}
			return nil
		}
		var in Instruction
		var err error
		switch t {
		case InstGotoTable:
			in, err = InstructionGotoTable{TableID: p[4]}, fixed(8)
		case InstWriteMetadata:
			if err = fixed(24); err == nil {
				in = InstructionWriteMetadata{Metadata: be.Uint64(p[8:]), Mask: be.Uint64(p[16:])}
			}
		case InstWriteActions, InstApplyActions:
			var acts []Action
			if acts, err = DecodeActions(p[8:]); err == nil {
				if t == InstWriteActions {
					in = InstructionWriteActions{Actions: acts}
				} else {
					in = InstructionApplyActions{Actions: acts}
				}
			}
		case InstClearActions:
			in, err = InstructionClearActions{}, fixed(8)
		case InstMeter:
			in, err = InstructionMeter{MeterID: be.Uint32(p[4:])}, fixed(8)
		case InstExperimenter:
			in = InstructionExperimenter{Experimenter: be.Uint32(p[4:]), Data: clip(p[8:])}
		default:
			err = instError(BICUnknownInst, "instruction type "+itoa(uint64(t)))
		}
		if err != nil {
			return nil, err
		}
		insts = append(insts, in)
		b = b[n:]
	}
	return insts, nil
}

// AppendInstructions appends a list of instructions (nil entries are skipped).
func AppendInstructions(dst []byte, insts []Instruction) ([]byte, error) {
	return appendInstructions(dst, insts)
}
