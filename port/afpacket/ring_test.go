package afpacket

import (
	"encoding/binary"
	"testing"

	"github.com/mswitch/mswitch/frame/vnet"
)

// record describes one record for buildBlock.
type record struct {
	frame   []byte
	wire    int // tp_len; 0 means len(frame)
	status  uint32
	vlanTCI uint16
	hdr     vnet.Hdr
}

// buildBlock lays records out as tpacket_rcv does with PACKET_VNET_HDR:
// tp_mac at 92 (headers, sockaddr_ll, the 10-byte header), records aligned
// to 16, the last one with tp_next_offset 0.
func buildBlock(size int, recs []record) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b[blkStatusOff:], 1)
	binary.LittleEndian.PutUint32(b[blkNumPktsOff:], uint32(len(recs)))
	binary.LittleEndian.PutUint32(b[blkFirstOff:], blkHdrLen)
	off := blkHdrLen
	for i, r := range recs {
		const mac = 92
		rec := b[off:]
		next := align16(mac + len(r.frame))
		if i == len(recs)-1 {
			next = 0
		}
		wire := r.wire
		if wire == 0 {
			wire = len(r.frame)
		}
		binary.LittleEndian.PutUint32(rec[pktNextOff:], uint32(next))
		binary.LittleEndian.PutUint32(rec[pktSnaplenOff:], uint32(len(r.frame)))
		binary.LittleEndian.PutUint32(rec[pktLenOff:], uint32(wire))
		binary.LittleEndian.PutUint32(rec[pktStatusOff:], r.status|1)
		binary.LittleEndian.PutUint16(rec[pktMacOff:], mac)
		binary.LittleEndian.PutUint32(rec[pktVlanTCIOff:], uint32(r.vlanTCI))
		r.hdr.Encode(rec[mac-vnet.Len:])
		copy(rec[mac:], r.frame)
		off += next
	}
	return b
}

func testFrame(n int, et uint16) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(i)
	}
	binary.BigEndian.PutUint16(f[12:], et)
	return f
}

func TestParseBlock(t *testing.T) {
	gso := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	f1, f2, f3 := testFrame(60, 0x0800), testFrame(1514, 0x0800), testFrame(100, 0x0800)
	blk := buildBlock(1<<16, []record{
		{frame: f1},
		{frame: f2, hdr: gso},
		{frame: f3, wire: 3000}, // truncated
		{frame: f3, status: tpStatusVlanValid, vlanTCI: 42, hdr: gso},
	})
	out := make([]rxPkt, 16)
	r := parseBlock(blk, vnet.Len, out)
	if r.n != 3 || r.truncated != 1 || r.bad != 0 {
		t.Fatalf("parseBlock = %+v, want 3 frames, 1 truncated", r)
	}
	if got := blk[out[0].off:out[0].end]; string(got) != string(f1) {
		t.Errorf("frame 0 differs")
	}
	if got := blk[out[1].off:out[1].end]; string(got) != string(f2) || out[1].hdr != gso {
		t.Errorf("frame 1: header %+v", out[1].hdr)
	}
	v := blk[out[2].off:out[2].end]
	if len(v) != len(f3)+4 || binary.BigEndian.Uint16(v[12:]) != 0x8100 || binary.BigEndian.Uint16(v[14:]) != 42 ||
		string(v[:12]) != string(f3[:12]) || string(v[16:]) != string(f3[12:]) {
		t.Errorf("VLAN tag not restored: % x", v[:20])
	}
	if out[2].hdr.CsumStart != 38 || out[2].hdr.HdrLen != 70 {
		t.Errorf("offsets not moved by the tag: %+v", out[2].hdr)
	}
	for i := 0; i < r.n; i++ {
		if out[i].capEnd < out[i].end || out[i].capEnd > len(blk) {
			t.Errorf("frame %d: cap end %d outside [%d, %d]", i, out[i].capEnd, out[i].end, len(blk))
		}
	}
}

func TestParseBlockHostile(t *testing.T) {
	good := buildBlock(4096, []record{{frame: testFrame(60, 0x0800)}, {frame: testFrame(60, 0x0800)}})
	out := make([]rxPkt, 64)
	for _, tc := range []struct {
		name string
		mod  func(b []byte)
	}{
		{"too many packets", func(b []byte) { binary.LittleEndian.PutUint32(b[blkNumPktsOff:], 1<<30) }},
		{"first offset past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[blkFirstOff:], 1<<20) }},
		{"first offset in the header", func(b []byte) { binary.LittleEndian.PutUint32(b[blkFirstOff:], 8) }},
		{"snaplen past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[blkHdrLen+pktSnaplenOff:], 1<<20) }},
		{"mac before the header", func(b []byte) { binary.LittleEndian.PutUint16(b[blkHdrLen+pktMacOff:], 20) }},
		{"next offset backwards", func(b []byte) { binary.LittleEndian.PutUint32(b[blkHdrLen+pktNextOff:], 16) }},
		{"next offset past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[blkHdrLen+pktNextOff:], 1<<31) }},
	} {
		b := append([]byte(nil), good...)
		tc.mod(b)
		r := parseBlock(b, vnet.Len, out)
		if r.bad == 0 {
			t.Errorf("%s: not counted as bad: %+v", tc.name, r)
		}
	}
}

// FuzzParseBlock feeds arbitrary ring contents to the walker: it must never
// panic, and every frame it returns must lie inside the block.
func FuzzParseBlock(f *testing.F) {
	gso := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	f.Add(buildBlock(2048, []record{{frame: testFrame(60, 0x0800)}, {frame: testFrame(200, 0x86dd), hdr: gso}}), true)
	f.Add(buildBlock(1024, []record{{frame: testFrame(64, 0x0800), status: tpStatusVlanValid | tpStatusVlanTPID, vlanTCI: 7}}), true)
	f.Add(buildBlock(1024, []record{{frame: testFrame(64, 0x0800), status: tpStatusCsumNotReady}}), false)
	f.Add(buildBlock(512, []record{{frame: testFrame(30, 0x0800), wire: 90}}), true)
	f.Add(make([]byte, 48), true)
	f.Fuzz(func(t *testing.T, b []byte, withVnet bool) {
		vl := 0
		if withVnet {
			vl = vnet.Len
		}
		out := make([]rxPkt, len(b)/minRecord+1)
		r := parseBlock(b, vl, out)
		if r.n > len(out) {
			t.Fatalf("%d frames for %d slots", r.n, len(out))
		}
		for _, p := range out[:r.n] {
			if p.off < 0 || p.off > p.end || p.end > p.capEnd || p.capEnd > len(b) {
				t.Fatalf("frame [%d:%d:%d] outside a %d-byte block", p.off, p.end, p.capEnd, len(b))
			}
		}
	})
}
