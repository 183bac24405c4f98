package ofp

import (
	"bytes"
	"reflect"
	"testing"
)

func TestAppendMultipartReplySplits(t *testing.T) {
	stats := make([]FlowStats, 1000)
	for i := range stats {
		stats[i] = FlowStats{Priority: uint16(i), Cookie: uint64(i), Match: tcpMatch(),
			Instructions: []Instruction{InstructionApplyActions{Actions: []Action{ActionOutput{Port: uint32(i)}}}}}
	}
	b, err := AppendMultipartReply(nil, 9, &FlowStatsReply{Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	var got []FlowStats
	r := bytes.NewReader(b)
	n := 0
	for r.Len() > 0 {
		f, err := ReadMessage(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		rep := m.(*MultipartReply)
		if h, _ := ParseHeader(f); h.XID != 9 {
			t.Fatalf("xid %d", h.XID)
		}
		more := rep.Flags&MultipartReplyMore != 0
		if more != (r.Len() > 0) {
			t.Fatalf("message %d: more=%v with %d bytes left", n, more, r.Len())
		}
		got = append(got, rep.Body.(*FlowStatsReply).Stats...)
		n++
	}
	if n < 2 {
		t.Fatalf("%d messages", n)
	}
	if !reflect.DeepEqual(got, stats) {
		t.Fatal("entries differ after splitting")
	}

	// A small reply is one message without the flag.
	b, err = AppendMultipartReply(nil, 1, &PortDescReply{Ports: []Port{samplePort(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := Decode(b); err != nil || m.(*MultipartReply).Flags != 0 {
		t.Fatalf("%v %+v", err, m)
	}
	if _, err := AppendMultipartReply(nil, 1, &DescReply{}); err != nil {
		t.Fatal(err)
	}
}
