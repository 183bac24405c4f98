// Package ofp encodes and decodes OpenFlow 1.3 messages (wire version 0x04),
// for both the switch side and the controller side of a channel.
//
// The layouts, constants and error codes follow the OpenFlow Switch
// Specification 1.3.5. Every message is a plain Go struct that implements
// [Message]; [Decode] turns one whole message (header included) into such a
// struct and [Append] encodes one. A switch's read loop:
//
//	var buf, out []byte
//	for {
//		frame, err := ofp.ReadMessage(conn, buf) // one message, framed by its header
//		if err != nil {
//			return err // io.EOF, or ofp.ErrFraming: the stream is lost
//		}
//		buf = frame
//		h, _ := ofp.ParseHeader(frame) // the XID to answer with
//		m, err := ofp.Decode(frame)
//		if err != nil {
//			// The spec's (type, code) and the first 64 bytes of the request.
//			out, _ = ofp.Append(out[:0], h.XID, ofp.NewErrorMsg(err, frame))
//			conn.Write(out)
//			continue
//		}
//		switch m := m.(type) {
//		case *ofp.FlowMod:
//			// ...
//		}
//	}
//
// Messages are pointers (*FlowMod, *PacketIn, ...); actions and instructions
// are small values (ActionOutput{Port: 2}, InstructionGotoTable{TableID: 1});
// a multipart message carries a typed body (*FlowStatsRequest,
// *PortDescReply, ...). OXM TLVs keep their value and mask as bytes in
// network order, with [NewOXMUint] and [OXM.Uint] for integer fields.
// [AppendMultipartReply] splits a large list reply over several messages
// flagged MultipartReplyMore.
//
// Decoding never panics and never trusts a length or count beyond the bytes
// it was given: every allocation is bounded by the size of the message, which
// is at most 65535 bytes. A decode failure is an [*Error] that carries the
// (type, code) pair the switch answers with, for example
// (ETBadRequest, BRCBadLen) for a truncated message, (ETBadMatch, BMCDupField)
// for a duplicated OXM field or (ETBadAction, BACBadType) for an unknown
// action, so one malformed message costs one ERROR reply and not the
// connection. A message of another version is (ETBadRequest, BRCBadVersion),
// except HELLO, which decodes at any version for [NegotiateVersion].
//
// Decoded messages do not alias the input: Decode copies the message once and
// the byte slices of the result (packet data, OXM values, opaque experimenter
// payloads) point into that copy. A decoded message encodes back to the same
// bytes, padding aside.
//
// The decoder checks what the wire format and the spec's per-field rules
// say: lengths and padding, OXM field sizes, masks only on maskable fields,
// no value bit outside its mask (BMCBadWildcards), values within their field
// (BMCBadValue, e.g. a VLAN id above 0x1fff), no duplicated field, no mask in
// a set-field action. Semantic checks that depend on the switch (table ids,
// ports, groups, meters, supported fields and actions, OXM prerequisites)
// belong to the pipeline; [Match.CheckPrereqs] reports missing prerequisites
// per the spec's table.
package ofp
