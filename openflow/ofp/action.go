package ofp

// ActionType is ofp_action_type.
type ActionType uint16

// Action types.
const (
	ActOutput       ActionType = 0
	ActCopyTTLOut   ActionType = 11
	ActCopyTTLIn    ActionType = 12
	ActSetMPLSTTL   ActionType = 15
	ActDecMPLSTTL   ActionType = 16
	ActPushVLAN     ActionType = 17
	ActPopVLAN      ActionType = 18
	ActPushMPLS     ActionType = 19
	ActPopMPLS      ActionType = 20
	ActSetQueue     ActionType = 21
	ActGroup        ActionType = 22
	ActSetNWTTL     ActionType = 23
	ActDecNWTTL     ActionType = 24
	ActSetField     ActionType = 25
	ActPushPBB      ActionType = 26
	ActPopPBB       ActionType = 27
	ActExperimenter ActionType = 0xffff
)

// Action is one action of an action list or set. The implementations are
// the value types Action* of this package.
type Action interface {
	ActionType() ActionType
	appendTo(dst []byte) ([]byte, error)
}

// ActionOutput outputs to Port; MaxLen bounds the bytes sent to the
// controller when Port is PortController.
type ActionOutput struct {
	Port   uint32
	MaxLen uint16
}

// ActionCopyTTLOut copies the TTL from next-to-outermost to outermost header.
type ActionCopyTTLOut struct{}

// ActionCopyTTLIn copies the TTL from outermost to next-to-outermost header.
type ActionCopyTTLIn struct{}

// ActionSetMPLSTTL sets the MPLS TTL.
type ActionSetMPLSTTL struct{ TTL uint8 }

// ActionDecMPLSTTL decrements the MPLS TTL.
type ActionDecMPLSTTL struct{}

// ActionPushVLAN pushes a VLAN tag with the given TPID (0x8100 or 0x88a8).
type ActionPushVLAN struct{ EtherType uint16 }

// ActionPopVLAN pops the outer VLAN tag.
type ActionPopVLAN struct{}

// ActionPushMPLS pushes an MPLS shim with the given ethertype.
type ActionPushMPLS struct{ EtherType uint16 }

// ActionPopMPLS pops the outer MPLS shim; EtherType is the payload's.
type ActionPopMPLS struct{ EtherType uint16 }

// ActionSetQueue sets the output queue.
type ActionSetQueue struct{ QueueID uint32 }

// ActionGroup processes the packet through a group.
type ActionGroup struct{ GroupID uint32 }

// ActionSetNWTTL sets the IP TTL or hop limit.
type ActionSetNWTTL struct{ TTL uint8 }

// ActionDecNWTTL decrements the IP TTL or hop limit.
type ActionDecNWTTL struct{}

// ActionSetField sets the header field of an OXM TLV (without a mask).
type ActionSetField struct{ Field OXM }

// ActionPushPBB pushes a PBB service tag with the given ethertype.
type ActionPushPBB struct{ EtherType uint16 }

// ActionPopPBB pops the outer PBB service tag.
type ActionPopPBB struct{}

// ActionExperimenter is an experimenter action, kept opaque. Data follows
// the experimenter id; it is padded with zeros to a multiple of 8 on the wire.
type ActionExperimenter struct {
	Experimenter uint32
	Data         []byte
}

func (ActionOutput) ActionType() ActionType       { return ActOutput }
func (ActionCopyTTLOut) ActionType() ActionType   { return ActCopyTTLOut }
func (ActionCopyTTLIn) ActionType() ActionType    { return ActCopyTTLIn }
func (ActionSetMPLSTTL) ActionType() ActionType   { return ActSetMPLSTTL }
func (ActionDecMPLSTTL) ActionType() ActionType   { return ActDecMPLSTTL }
func (ActionPushVLAN) ActionType() ActionType     { return ActPushVLAN }
func (ActionPopVLAN) ActionType() ActionType      { return ActPopVLAN }
func (ActionPushMPLS) ActionType() ActionType     { return ActPushMPLS }
func (ActionPopMPLS) ActionType() ActionType      { return ActPopMPLS }
func (ActionSetQueue) ActionType() ActionType     { return ActSetQueue }
func (ActionGroup) ActionType() ActionType        { return ActGroup }
func (ActionSetNWTTL) ActionType() ActionType     { return ActSetNWTTL }
func (ActionDecNWTTL) ActionType() ActionType     { return ActDecNWTTL }
func (ActionSetField) ActionType() ActionType     { return ActSetField }
func (ActionPushPBB) ActionType() ActionType      { return ActPushPBB }
func (ActionPopPBB) ActionType() ActionType       { return ActPopPBB }
func (ActionExperimenter) ActionType() ActionType { return ActExperimenter }

// actHeader appends type and length of an action of fixed length n.
func actHeader(dst []byte, t ActionType, n uint16) []byte {
	dst = be.AppendUint16(dst, uint16(t))
	return be.AppendUint16(dst, n)
}

func (a ActionOutput) appendTo(dst []byte) ([]byte, error) {
	dst = actHeader(dst, ActOutput, 16)
	dst = be.AppendUint32(dst, a.Port)
	dst = be.AppendUint16(dst, a.MaxLen)
	return appendZeros(dst, 6), nil
}

// appendBare appends an action with no arguments.
func appendBare(dst []byte, t ActionType) ([]byte, error) {
	return appendZeros(actHeader(dst, t, 8), 4), nil
}

func (ActionCopyTTLOut) appendTo(dst []byte) ([]byte, error) { return appendBare(dst, ActCopyTTLOut) }
func (ActionCopyTTLIn) appendTo(dst []byte) ([]byte, error)  { return appendBare(dst, ActCopyTTLIn) }
func (ActionDecMPLSTTL) appendTo(dst []byte) ([]byte, error) { return appendBare(dst, ActDecMPLSTTL) }
func (ActionPopVLAN) appendTo(dst []byte) ([]byte, error)    { return appendBare(dst, ActPopVLAN) }
func (ActionDecNWTTL) appendTo(dst []byte) ([]byte, error)   { return appendBare(dst, ActDecNWTTL) }
func (ActionPopPBB) appendTo(dst []byte) ([]byte, error)     { return appendBare(dst, ActPopPBB) }

// appendTTL appends an action with an 8-bit argument.
func appendTTL(dst []byte, t ActionType, ttl uint8) ([]byte, error) {
	return appendZeros(append(actHeader(dst, t, 8), ttl), 3), nil
}

func (a ActionSetMPLSTTL) appendTo(dst []byte) ([]byte, error) {
	return appendTTL(dst, ActSetMPLSTTL, a.TTL)
}
func (a ActionSetNWTTL) appendTo(dst []byte) ([]byte, error) {
	return appendTTL(dst, ActSetNWTTL, a.TTL)
}

// appendEtherType appends an action with a 16-bit ethertype argument.
func appendEtherType(dst []byte, t ActionType, et uint16) ([]byte, error) {
	return appendZeros(be.AppendUint16(actHeader(dst, t, 8), et), 2), nil
}

func (a ActionPushVLAN) appendTo(dst []byte) ([]byte, error) {
	return appendEtherType(dst, ActPushVLAN, a.EtherType)
}
func (a ActionPushMPLS) appendTo(dst []byte) ([]byte, error) {
	return appendEtherType(dst, ActPushMPLS, a.EtherType)
}
func (a ActionPopMPLS) appendTo(dst []byte) ([]byte, error) {
	return appendEtherType(dst, ActPopMPLS, a.EtherType)
}
func (a ActionPushPBB) appendTo(dst []byte) ([]byte, error) {
	return appendEtherType(dst, ActPushPBB, a.EtherType)
}

func (a ActionSetQueue) appendTo(dst []byte) ([]byte, error) {
	return be.AppendUint32(actHeader(dst, ActSetQueue, 8), a.QueueID), nil
}

func (a ActionGroup) appendTo(dst []byte) ([]byte, error) {
	return be.AppendUint32(actHeader(dst, ActGroup, 8), a.GroupID), nil
}

func (a ActionSetField) appendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = actHeader(dst, ActSetField, 0)
	dst, err := a.Field.appendTo(dst)
	if err != nil {
		return dst, err
	}
	dst = padTo8(dst, start)
	return dst, putLen16(dst, start+2, start)
}

func (a ActionExperimenter) appendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = be.AppendUint32(actHeader(dst, ActExperimenter, 0), a.Experimenter)
	dst = padTo8(append(dst, a.Data...), start)
	return dst, putLen16(dst, start+2, start)
}

// appendActions appends a list of actions.
func appendActions(dst []byte, actions []Action) ([]byte, error) {
	var err error
	for _, a := range actions {
		if a == nil {
			continue
		}
		if dst, err = a.appendTo(dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func actionError(code uint16, reason string) *Error {
	return newError(ETBadAction, code, reason)
}

// DecodeActions decodes a list of actions that fills b exactly. Failures
// are (ETBadAction, ...) *Errors. The result aliases b.
func DecodeActions(b []byte) ([]Action, error) {
	if len(b) == 0 {
		return nil, nil
	}
	actions := make([]Action, 0, countTLVs(b))
	for len(b) > 0 {
		a, n, err := decodeAction(b)
		if err != nil {
			return nil, err
		}
		actions = append(actions, a)
		b = b[n:]
	}
	return actions, nil
}

// decodeAction decodes the action at the start of b and returns its length.
func decodeAction(b []byte) (Action, int, error) {
	if len(b) < 8 {
		return nil, 0, actionError(BACBadLen, "truncated action")
	}
	t := ActionType(be.Uint16(b))
	n := int(be.Uint16(b[2:]))
	if n < 8 || n%8 != 0 || n > len(b) {
		return nil, 0, actionError(BACBadLen, "action length "+itoa(uint64(n)))
	}
	a := b[:n]
	fixed := func(want int) error {
		if n != want {
			return actionError(BACBadLen, "action "+itoa(uint64(t))+" length "+itoa(uint64(n)))
		}
		return nil
	}
	var act Action
	var err error
	switch t {
	case ActOutput:
		if err = fixed(16); err == nil {
			act = ActionOutput{Port: be.Uint32(a[4:]), MaxLen: be.Uint16(a[8:])}
		}
	case ActCopyTTLOut:
		act, err = ActionCopyTTLOut{}, fixed(8)
	case ActCopyTTLIn:
		act, err = ActionCopyTTLIn{}, fixed(8)
	case ActSetMPLSTTL:
		act, err = ActionSetMPLSTTL{TTL: a[4]}, fixed(8)
	case ActDecMPLSTTL:
		act, err = ActionDecMPLSTTL{}, fixed(8)
	case ActPushVLAN:
		act, err = ActionPushVLAN{EtherType: be.Uint16(a[4:])}, fixed(8)
	case ActPopVLAN:
		act, err = ActionPopVLAN{}, fixed(8)
	case ActPushMPLS:
		act, err = ActionPushMPLS{EtherType: be.Uint16(a[4:])}, fixed(8)
	case ActPopMPLS:
		act, err = ActionPopMPLS{EtherType: be.Uint16(a[4:])}, fixed(8)
	case ActSetQueue:
		act, err = ActionSetQueue{QueueID: be.Uint32(a[4:])}, fixed(8)
	case ActGroup:
		act, err = ActionGroup{GroupID: be.Uint32(a[4:])}, fixed(8)
	case ActSetNWTTL:
		act, err = ActionSetNWTTL{TTL: a[4]}, fixed(8)
	case ActDecNWTTL:
		act, err = ActionDecNWTTL{}, fixed(8)
	case ActSetField:
		act, err = decodeSetField(a)
	case ActPushPBB:
		act, err = ActionPushPBB{EtherType: be.Uint16(a[4:])}, fixed(8)
	case ActPopPBB:
		act, err = ActionPopPBB{}, fixed(8)
	case ActExperimenter:
		act = ActionExperimenter{Experimenter: be.Uint32(a[4:]), Data: clip(a[8:])}
	default:
		err = actionError(BACBadType, "action type "+itoa(uint64(t)))
	}
	if err != nil {
		return nil, 0, err
	}
	return act, n, nil
}

// decodeSetField decodes a whole set-field action a.
func decodeSetField(a []byte) (Action, error) {
	o, n, p, reason := parseOXM(a[4:])
	switch p {
	case oxmOK:
	case oxmBadField:
		return nil, actionError(BACBadSetType, reason)
	case oxmBadLen:
		return nil, actionError(BACBadSetLen, reason)
	default:
		return nil, actionError(BACBadSetArgument, reason)
	}
	if pad8(4+n) != len(a) {
		return nil, actionError(BACBadSetLen, "set-field length does not fit its OXM")
	}
	if o.Mask != nil {
		return nil, actionError(BACBadSetArgument, "set-field OXM "+o.Field.String()+" has a mask")
	}
	return ActionSetField{Field: o}, nil
}

// AppendActions appends a list of actions (nil entries are skipped).
func AppendActions(dst []byte, actions []Action) ([]byte, error) { return appendActions(dst, actions) }
