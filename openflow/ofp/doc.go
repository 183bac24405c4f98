// Package ofp encodes and decodes OpenFlow 1.3 messages (wire version 0x04),
// for both the switch side and the controller side of a channel.
//
// The layouts, constants and error codes follow the OpenFlow Switch
// Specification 1.3.5. Every message is a plain Go struct that implements
// [Message]; [Decode] turns one whole message (header included) into such a
// struct and [Append] encodes one:
//
//	frame, err := ofp.ReadMessage(conn, buf) // one message, framed by its header
//	h, _ := ofp.ParseHeader(frame)           // XID for the reply
//	m, err := ofp.Decode(frame)
//	if err != nil {
//		reply := ofp.NewErrorMsg(err, frame) // the spec's (type, code) and up to 64 bytes of frame
//		out, _ = ofp.Append(out[:0], h.XID, reply)
//	}
//
// Decoding never panics and never trusts a length or count beyond the bytes
// it was given: every allocation is bounded by the size of the message, which
// is at most 65535 bytes. A decode failure is an [*Error] that carries the
// (type, code) pair the switch answers with, for example
// (ETBadRequest, BRCBadLen) for a truncated message, (ETBadMatch, BMCDupField)
// for a duplicated OXM field or (ETBadAction, BACBadType) for an unknown
// action, so one malformed message costs one ERROR reply and not the
// connection.
//
// Decoded messages do not alias the input: Decode copies the message once and
// the byte slices of the result (packet data, OXM values, opaque experimenter
// payloads) point into that copy.
//
// The decoder checks what the wire format and the spec's per-field rules
// say (lengths, padding, OXM field sizes, masks only on maskable fields, no
// value bit outside its mask, no duplicated field). Semantic checks that
// depend on the switch (table ids, ports, groups, OXM prerequisites) belong
// to the pipeline; [Match.CheckPrereqs] reports missing prerequisites per the
// spec's table.
package ofp
