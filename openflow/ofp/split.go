package ofp

// maxMultipartBody is the room for a multipart body in one message.
const maxMultipartBody = MaxMessageLen - HeaderLen - 8

// AppendMultipartReply encodes a multipart reply with body, split over as
// many MULTIPART_REPLY messages as its size needs: every message but the
// last carries MultipartReplyMore, and each holds whole entries. Only list
// bodies (flow, table, port, queue, group and meter stats, group desc, meter
// config, table features, port desc) can be split; others, or a single
// entry too large for a message, fail with ErrTooLarge.
func AppendMultipartReply(dst []byte, xid uint32, body MultipartBody) ([]byte, error) {
	b, err := Append(dst, xid, &MultipartReply{Body: body})
	if err != ErrTooLarge {
		return b, err
	}
	var parts []MultipartBody
	switch r := body.(type) {
	case *FlowStatsReply:
		parts, err = splitEntries(r.Stats, func(s []FlowStats) MultipartBody { return &FlowStatsReply{Stats: s} })
	case *TableStatsReply:
		parts, err = splitEntries(r.Stats, func(s []TableStats) MultipartBody { return &TableStatsReply{Stats: s} })
	case *PortStatsReply:
		parts, err = splitEntries(r.Stats, func(s []PortStats) MultipartBody { return &PortStatsReply{Stats: s} })
	case *QueueStatsReply:
		parts, err = splitEntries(r.Stats, func(s []QueueStats) MultipartBody { return &QueueStatsReply{Stats: s} })
	case *GroupStatsReply:
		parts, err = splitEntries(r.Stats, func(s []GroupStats) MultipartBody { return &GroupStatsReply{Stats: s} })
	case *GroupDescReply:
		parts, err = splitEntries(r.Groups, func(s []GroupDesc) MultipartBody { return &GroupDescReply{Groups: s} })
	case *MeterStatsReply:
		parts, err = splitEntries(r.Stats, func(s []MeterStats) MultipartBody { return &MeterStatsReply{Stats: s} })
	case *MeterConfigReply:
		parts, err = splitEntries(r.Meters, func(s []MeterConfig) MultipartBody { return &MeterConfigReply{Meters: s} })
	case *TableFeaturesReply:
		parts, err = splitEntries(r.Tables, func(s []TableFeatures) MultipartBody { return &TableFeaturesReply{Tables: s} })
	case *PortDescReply:
		parts, err = splitEntries(r.Ports, func(s []Port) MultipartBody { return &PortDescReply{Ports: s} })
	default:
		return dst, ErrTooLarge
	}
	if err != nil {
		return dst, err
	}
	start := len(dst)
	for i, p := range parts {
		var flags uint16
		if i < len(parts)-1 {
			flags = MultipartReplyMore
		}
		if dst, err = Append(dst, xid, &MultipartReply{Flags: flags, Body: p}); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// splitEntries groups items greedily into bodies that each fit one message.
func splitEntries[T any](items []T, mk func([]T) MultipartBody) ([]MultipartBody, error) {
	var parts []MultipartBody
	var scratch []byte
	first, size := 0, 0
	for i := range items {
		var err error
		scratch, err = mk(items[i : i+1]).appendTo(scratch[:0])
		if err != nil {
			return nil, err
		}
		n := len(scratch)
		if n > maxMultipartBody {
			return nil, ErrTooLarge
		}
		if size+n > maxMultipartBody {
			parts = append(parts, mk(items[first:i:i]))
			first, size = i, 0
		}
		size += n
	}
	return append(parts, mk(items[first:])), nil
}
