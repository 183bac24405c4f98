package ofp

import (
	"encoding/binary"
	"errors"
	"io"
)

var be = binary.BigEndian

// Header is the common OpenFlow header (ofp_header).
type Header struct {
	Version uint8
	Type    MsgType
	Length  uint16
	XID     uint32
}

// ParseHeader reads the header at the start of b. It checks only that b holds
// a header; Decode checks the rest.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, badLen("message shorter than its header")
	}
	return Header{Version: b[0], Type: MsgType(b[1]), Length: be.Uint16(b[2:]), XID: be.Uint32(b[4:])}, nil
}

// Message is one OpenFlow 1.3 message. The implementations are the pointer
// types of this package (*Hello, *FlowMod, ...).
type Message interface {
	// Type is the message's ofp_header.type.
	Type() MsgType
	// appendBody appends the message after its header.
	appendBody(dst []byte) ([]byte, error)
}

// ErrTooLarge reports a message, or a part with a 16-bit length, that does
// not fit its length field.
var ErrTooLarge = errors.New("ofp: message longer than 65535 bytes")

// ErrFraming reports a header length below 8: the byte stream cannot be
// resynchronised and the connection should be closed.
var ErrFraming = errors.New("ofp: header length below 8")

// ReadMessage reads one whole message from r, framed by the length in its
// header, into buf (grown if it is too small) and returns it. It trusts
// nothing else in the message. At a clean end of stream it returns io.EOF, in
// the middle of a message io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < HeaderLen {
		buf = make([]byte, 0, 1024)
	}
	buf = buf[:HeaderLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := int(be.Uint16(buf[2:]))
	if n < HeaderLen {
		return nil, ErrFraming
	}
	if cap(buf) < n {
		nb := make([]byte, n)
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// Append encodes m with the given xid and appends it to dst. The header's
// version is Version, except for a *Hello whose Version is set.
func Append(dst []byte, xid uint32, m Message) ([]byte, error) {
	start := len(dst)
	v := uint8(Version)
	if h, ok := m.(*Hello); ok && h.Version != 0 {
		v = h.Version
	}
	dst = append(dst, v, uint8(m.Type()), 0, 0)
	dst = be.AppendUint32(dst, xid)
	dst, err := m.appendBody(dst)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start
	if n > MaxMessageLen {
		return dst[:start], ErrTooLarge
	}
	be.PutUint16(dst[start+2:], uint16(n))
	return dst, nil
}

// Decode decodes one whole message, header included; the header's length
// must equal len(b). Messages other than HELLO must carry Version. The result
// does not alias b. Failures are *Error values carrying the spec's error
// (type, code).
func Decode(b []byte) (Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if int(h.Length) != len(b) {
		return nil, badLen("header length differs from message length")
	}
	if h.Version != Version && h.Type != TypeHello {
		return nil, newError(ETBadRequest, BRCBadVersion, "version "+itoa(uint64(h.Version)))
	}
	if len(b) > HeaderLen {
		// One copy; every slice of the result points into it.
		b = append([]byte(nil), b...)
	}
	body := b[HeaderLen:]
	var m Message
	switch h.Type {
	case TypeHello:
		m, err = decodeHello(h.Version, body)
	case TypeError:
		m, err = decodeErrorMsg(body)
	case TypeEchoRequest:
		m = &EchoRequest{Data: clip(body)}
	case TypeEchoReply:
		m = &EchoReply{Data: clip(body)}
	case TypeExperimenter:
		m, err = decodeExperimenter(body)
	case TypeFeaturesRequest:
		m, err = emptyBody(&FeaturesRequest{}, body)
	case TypeFeaturesReply:
		m, err = decodeFeaturesReply(body)
	case TypeGetConfigRequest:
		m, err = emptyBody(&GetConfigRequest{}, body)
	case TypeGetConfigReply, TypeSetConfig:
		m, err = decodeSwitchConfig(h.Type, body)
	case TypePacketIn:
		m, err = decodePacketIn(body)
	case TypeFlowRemoved:
		m, err = decodeFlowRemoved(body)
	case TypePortStatus:
		m, err = decodePortStatus(body)
	case TypePacketOut:
		m, err = decodePacketOut(body)
	case TypeFlowMod:
		m, err = decodeFlowMod(body)
	case TypeGroupMod:
		m, err = decodeGroupMod(body)
	case TypePortMod:
		m, err = decodePortMod(body)
	case TypeTableMod:
		m, err = decodeTableMod(body)
	case TypeMultipartRequest:
		m, err = decodeMultipartRequest(body)
	case TypeMultipartReply:
		m, err = decodeMultipartReply(body)
	case TypeBarrierRequest:
		m, err = emptyBody(&BarrierRequest{}, body)
	case TypeBarrierReply:
		m, err = emptyBody(&BarrierReply{}, body)
	case TypeQueueGetConfigRequest:
		m, err = decodeQueueGetConfigRequest(body)
	case TypeQueueGetConfigReply:
		m, err = decodeQueueGetConfigReply(body)
	case TypeRoleRequest, TypeRoleReply:
		m, err = decodeRole(h.Type, body)
	case TypeGetAsyncRequest:
		m, err = emptyBody(&GetAsyncRequest{}, body)
	case TypeGetAsyncReply, TypeSetAsync:
		m, err = decodeAsync(h.Type, body)
	case TypeMeterMod:
		m, err = decodeMeterMod(body)
	default:
		return nil, newError(ETBadRequest, BRCBadType, "message type "+itoa(uint64(h.Type)))
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func emptyBody(m Message, body []byte) (Message, error) {
	if len(body) != 0 {
		return nil, badLen(m.Type().String() + " has a body")
	}
	return m, nil
}

// zeros is the source of padding.
var zeros [64]byte

// pad8 rounds n up to a multiple of 8.
func pad8(n int) int { return (n + 7) &^ 7 }

// appendZeros appends n zero bytes, n <= len(zeros).
func appendZeros(dst []byte, n int) []byte { return append(dst, zeros[:n]...) }

// padTo8 appends zeros until len(dst)-start is a multiple of 8.
func padTo8(dst []byte, start int) []byte {
	return appendZeros(dst, pad8(len(dst)-start)-(len(dst)-start))
}

// clip returns b with its capacity cut to its length, or nil when empty.
func clip(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}

// putLen16 stores len(dst)-start at dst[at:] as a 16-bit length.
func putLen16(dst []byte, at, start int) error {
	n := len(dst) - start
	if n > 0xffff {
		return ErrTooLarge
	}
	be.PutUint16(dst[at:], uint16(n))
	return nil
}

// cstring decodes a NUL-padded fixed-size string field.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// appendCString appends s as a NUL-padded field of n bytes, cut to n bytes.
func appendCString(dst []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	dst = append(dst, s...)
	for i := len(s); i < n; i++ {
		dst = append(dst, 0)
	}
	return dst
}

// countTLVs counts the elements of a list of 8-byte-aligned TLVs with a
// 16-bit length at offset 2, so decoders can allocate once; malformed
// lengths end the count (the decoder reports them).
func countTLVs(b []byte) int {
	n := 0
	for len(b) >= 8 {
		l := int(be.Uint16(b[2:]))
		if l < 8 || l > len(b) {
			break
		}
		b = b[l:]
		n++
	}
	return n
}
