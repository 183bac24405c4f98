package memif

// The control protocol: fixed 128-byte messages on a SOCK_SEQPACKET unix
// socket, at most one file descriptor each (SCM_RIGHTS), every integer in
// host byte order, every struct packed. Layout from DPDK's
// drivers/net/memif/memif.h (memif_msg_t and its union members):
//
//	offset 0   u16 type
//	offset 2   payload, zero-padded to 128 bytes
//
//	HELLO       name[32]@2 min_version@34 max_version@36 max_region@38
//	            max_m2s_ring@40 max_s2m_ring@42 max_log2_ring_size(u8)@44
//	INIT        version@2 id(u32)@4 mode(u8)@8 secret[24]@9 name[32]@33
//	ADD_REGION  index@2 size(u64)@4                        + region fd
//	ADD_RING    flags@2 index@4 region@6 offset(u32)@8
//	            log2_ring_size(u8)@12 private_hdr_size@13  + eventfd
//	CONNECT     if_name[32]@2
//	CONNECTED   if_name[32]@2
//	DISCONNECT  code(u32)@2 string[96]@6
//
// The max_* fields of HELLO are highest indices, not counts.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// msgSize is the size of every control message.
const msgSize = 128

// version is the only protocol version spoken: 2.0.
const version = 0x0200

// Field sizes.
const (
	nameSize   = 32
	secretSize = 24
	reasonSize = 96
)

type msgType uint16

const (
	msgNone msgType = iota
	msgAck
	msgHello
	msgInit
	msgAddRegion
	msgAddRing
	msgConnect
	msgConnected
	msgDisconnect
)

var msgNames = [...]string{"NONE", "ACK", "HELLO", "INIT", "ADD_REGION", "ADD_RING", "CONNECT", "CONNECTED", "DISCONNECT"}

func (t msgType) String() string {
	if int(t) < len(msgNames) {
		return msgNames[t]
	}
	return fmt.Sprintf("type %d", uint16(t))
}

// Interface modes of INIT; only ethernet is supported.
const modeEthernet = 0

// addRingS2M is the ADD_RING flag of a client-to-server ring.
const addRingS2M = 1

// A message is one decoded control message. Its concrete type is one of the
// msg* structs below.
type message interface {
	kind() msgType
	// put writes the payload into b (already zeroed, type set).
	put(b *[msgSize]byte)
}

type ackMsg struct{}

type helloMsg struct {
	Name                   string
	MinVersion, MaxVersion uint16
	MaxRegion              uint16 // highest region index
	MaxM2SRing, MaxS2MRing uint16 // highest ring indices
	MaxLog2RingSize        uint8
}

type initMsg struct {
	Version uint16
	ID      uint32
	Mode    uint8
	Secret  string
	Name    string
}

type addRegionMsg struct {
	Index uint16
	Size  uint64
}

type addRingMsg struct {
	Flags          uint16
	Index          uint16
	Region         uint16
	Offset         uint32
	Log2RingSize   uint8
	PrivateHdrSize uint16
}

type connectMsg struct{ IfName string }

type connectedMsg struct{ IfName string }

type disconnectMsg struct {
	Code   uint32
	Reason string
}

func (ackMsg) kind() msgType              { return msgAck }
func (helloMsg) kind() msgType            { return msgHello }
func (initMsg) kind() msgType             { return msgInit }
func (addRegionMsg) kind() msgType        { return msgAddRegion }
func (addRingMsg) kind() msgType          { return msgAddRing }
func (connectMsg) kind() msgType          { return msgConnect }
func (connectedMsg) kind() msgType        { return msgConnected }
func (disconnectMsg) kind() msgType       { return msgDisconnect }
func (ackMsg) put(b *[msgSize]byte)       {}
func (m connectMsg) put(b *[msgSize]byte) { putString(b[2:2+nameSize], m.IfName, true) }
func (m connectedMsg) put(b *[msgSize]byte) {
	putString(b[2:2+nameSize], m.IfName, true)
}

// ne is the byte order of every integer in the protocol: the host's.
var ne = binary.NativeEndian

func (m helloMsg) put(b *[msgSize]byte) {
	putString(b[2:34], m.Name, true)
	ne.PutUint16(b[34:], m.MinVersion)
	ne.PutUint16(b[36:], m.MaxVersion)
	ne.PutUint16(b[38:], m.MaxRegion)
	ne.PutUint16(b[40:], m.MaxM2SRing)
	ne.PutUint16(b[42:], m.MaxS2MRing)
	b[44] = m.MaxLog2RingSize
}

func (m initMsg) put(b *[msgSize]byte) {
	ne.PutUint16(b[2:], m.Version)
	ne.PutUint32(b[4:], m.ID)
	b[8] = m.Mode
	putString(b[9:9+secretSize], m.Secret, false) // compared with strncmp(24): no NUL needed
	putString(b[33:33+nameSize], m.Name, true)
}

func (m addRegionMsg) put(b *[msgSize]byte) {
	ne.PutUint16(b[2:], m.Index)
	ne.PutUint64(b[4:], m.Size)
}

func (m addRingMsg) put(b *[msgSize]byte) {
	ne.PutUint16(b[2:], m.Flags)
	ne.PutUint16(b[4:], m.Index)
	ne.PutUint16(b[6:], m.Region)
	ne.PutUint32(b[8:], m.Offset)
	b[12] = m.Log2RingSize
	ne.PutUint16(b[13:], m.PrivateHdrSize)
}

func (m disconnectMsg) put(b *[msgSize]byte) {
	ne.PutUint32(b[2:], m.Code)
	putString(b[6:6+reasonSize], m.Reason, true)
}

// encode returns the 128 bytes of m.
func encode(m message) [msgSize]byte {
	var b [msgSize]byte
	ne.PutUint16(b[0:], uint16(m.kind()))
	m.put(&b)
	return b
}

// Decoding errors.
var (
	errMsgSize = errors.New("invalid message size")
	errMsgType = errors.New("unknown message type")
)

// decode parses one control message. It accepts exactly msgSize bytes and
// never retains b. Unused payload bytes are ignored, as C peers leave
// them as they please.
func decode(b []byte) (message, error) {
	if len(b) != msgSize {
		return nil, fmt.Errorf("decode memif message: %w (%d bytes, want %d)", errMsgSize, len(b), msgSize)
	}
	switch t := msgType(ne.Uint16(b)); t {
	case msgAck:
		return ackMsg{}, nil
	case msgHello:
		return helloMsg{
			Name:            getString(b[2:34]),
			MinVersion:      ne.Uint16(b[34:]),
			MaxVersion:      ne.Uint16(b[36:]),
			MaxRegion:       ne.Uint16(b[38:]),
			MaxM2SRing:      ne.Uint16(b[40:]),
			MaxS2MRing:      ne.Uint16(b[42:]),
			MaxLog2RingSize: b[44],
		}, nil
	case msgInit:
		return initMsg{
			Version: ne.Uint16(b[2:]),
			ID:      ne.Uint32(b[4:]),
			Mode:    b[8],
			Secret:  getString(b[9 : 9+secretSize]),
			Name:    getString(b[33 : 33+nameSize]),
		}, nil
	case msgAddRegion:
		return addRegionMsg{Index: ne.Uint16(b[2:]), Size: ne.Uint64(b[4:])}, nil
	case msgAddRing:
		return addRingMsg{
			Flags:          ne.Uint16(b[2:]),
			Index:          ne.Uint16(b[4:]),
			Region:         ne.Uint16(b[6:]),
			Offset:         ne.Uint32(b[8:]),
			Log2RingSize:   b[12],
			PrivateHdrSize: ne.Uint16(b[13:]),
		}, nil
	case msgConnect:
		return connectMsg{IfName: getString(b[2 : 2+nameSize])}, nil
	case msgConnected:
		return connectedMsg{IfName: getString(b[2 : 2+nameSize])}, nil
	case msgDisconnect:
		return disconnectMsg{Code: ne.Uint32(b[2:]), Reason: getString(b[6 : 6+reasonSize])}, nil
	default:
		return nil, fmt.Errorf("decode memif message: %w %d", errMsgType, uint16(t))
	}
}

// putString copies s into a fixed C string field, truncated; with nul the
// last byte stays 0 (strlcpy), otherwise s may fill the field.
func putString(dst []byte, s string, nul bool) {
	if nul {
		dst = dst[:len(dst)-1]
	}
	copy(dst, s)
}

// getString reads a C string field: up to its first NUL byte.
func getString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// printable makes a string received from a peer safe to log and show: valid
// UTF-8 without control characters.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
