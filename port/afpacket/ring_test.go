package afpacket

import (
	"encoding/binary"
	"testing"

	"github.com/mswitch/mswitch/frame/vnet"
)

// record describes one ring frame for buildFrame.
type record struct {
	frame   []byte
	wire    int // tp_len; 0 means len(frame)
	status  uint32
	vlanTCI uint16
	hdr     vnet.Hdr
}

// buildFrame lays a record out as tpacket_rcv does with PACKET_VNET_HDR in
// a frame of size bytes: tp_mac at frameMacOff, the header in front of it.
func buildFrame(size int, r record) []byte {
	f := make([]byte, size)
	wire := r.wire
	if wire == 0 {
		wire = len(r.frame)
	}
	binary.LittleEndian.PutUint32(f[frStatusOff:], r.status|tpStatusUser)
	binary.LittleEndian.PutUint32(f[frLenOff:], uint32(wire))
	binary.LittleEndian.PutUint32(f[frSnaplenOff:], uint32(len(r.frame)))
	binary.LittleEndian.PutUint16(f[frMacOff:], frameMacOff)
	binary.LittleEndian.PutUint16(f[frVlanTCIOff:], r.vlanTCI)
	r.hdr.Encode(f[frameMacOff-vnet.Len:])
	copy(f[frameMacOff:], r.frame)
	return f
}

func testFrame(n int, et uint16) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(i)
	}
	binary.BigEndian.PutUint16(f[12:], et)
	return f
}

func TestParseFrame(t *testing.T) {
	gso := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	f1, f2 := testFrame(60, 0x0800), testFrame(1514, 0x0800)

	b := buildFrame(2048, record{frame: f1})
	r, v := parseFrame(b, vnet.Len)
	if v != frameOK || string(b[r.off:r.end]) != string(f1) || r.copied || r.vlan {
		t.Errorf("plain frame: %v %+v", v, r)
	}

	b = buildFrame(2048, record{frame: f2, hdr: gso})
	if r, v = parseFrame(b, vnet.Len); v != frameOK || string(b[r.off:r.end]) != string(f2) || r.hdr != gso {
		t.Errorf("offloaded frame: %v %+v", v, r)
	}

	b = buildFrame(2048, record{frame: f2[:1000], wire: 3000})
	if _, v = parseFrame(b, vnet.Len); v != frameTruncated {
		t.Errorf("truncated frame: %v", v)
	}
	b = buildFrame(2048, record{frame: f2[:1000], wire: 60000, status: tpStatusCopy, hdr: gso})
	if r, v = parseFrame(b, vnet.Len); v != frameOK || !r.copied || r.wire != 60000 || r.hdr != gso {
		t.Errorf("copied frame: %v %+v", v, r)
	}

	b = buildFrame(2048, record{frame: f1, status: tpStatusVlanValid, vlanTCI: 42, hdr: gso})
	r, v = parseFrame(b, vnet.Len)
	if v != frameOK || !r.vlan || r.tpid != 0x8100 || r.tci != 42 {
		t.Fatalf("VLAN frame: %v %+v", v, r)
	}
	off, ok := insertVLAN(b, r.off, r.end, frHdrLen, r.tpid, r.tci, &r.hdr)
	got := b[off:r.end]
	if !ok || len(got) != len(f1)+4 || binary.BigEndian.Uint16(got[12:]) != 0x8100 || binary.BigEndian.Uint16(got[14:]) != 42 ||
		string(got[:12]) != string(f1[:12]) || string(got[16:]) != string(f1[12:]) {
		t.Errorf("VLAN tag not restored: % x", got[:20])
	}
	if r.hdr.CsumStart != 38 || r.hdr.HdrLen != 70 {
		t.Errorf("offsets not moved by the tag: %+v", r.hdr)
	}

	b = buildFrame(2048, record{frame: f1, status: tpStatusCsumNotReady})
	if r, v = parseFrame(b, 0); v != frameOK || !r.partial {
		t.Errorf("partial checksum without vnet header: %v %+v", v, r)
	}
}

func TestParseFrameHostile(t *testing.T) {
	good := buildFrame(2048, record{frame: testFrame(60, 0x0800)})
	for _, tc := range []struct {
		name string
		mod  func(b []byte)
	}{
		{"snaplen past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[frSnaplenOff:], 1<<20) }},
		{"snaplen over tp_len", func(b []byte) { binary.LittleEndian.PutUint32(b[frLenOff:], 20) }},
		{"mac before the header", func(b []byte) { binary.LittleEndian.PutUint16(b[frMacOff:], 20) }},
		{"mac past the end", func(b []byte) { binary.LittleEndian.PutUint16(b[frMacOff:], 4000) }},
	} {
		b := append([]byte(nil), good...)
		tc.mod(b)
		if _, v := parseFrame(b, vnet.Len); v != frameBad {
			t.Errorf("%s: not bad: %v", tc.name, v)
		}
	}
	if _, v := parseFrame(good[:20], vnet.Len); v != frameBad {
		t.Errorf("short frame: not bad: %v", v)
	}
}

// FuzzParseFrame feeds arbitrary ring contents to the parser and puts the
// VLAN tag back as Receive does: it must never panic, and every frame it
// returns must lie inside the ring frame.
func FuzzParseFrame(f *testing.F) {
	gso := vnet.Hdr{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	f.Add(buildFrame(2048, record{frame: testFrame(200, 0x86dd), hdr: gso}), true)
	f.Add(buildFrame(2048, record{frame: testFrame(64, 0x0800), status: tpStatusVlanValid | tpStatusVlanTPID, vlanTCI: 7}), true)
	f.Add(buildFrame(2048, record{frame: testFrame(64, 0x0800), status: tpStatusCsumNotReady}), false)
	f.Add(buildFrame(256, record{frame: testFrame(30, 0x0800), wire: 90}), true)
	f.Add(buildFrame(256, record{frame: testFrame(100, 0x0800), wire: 9000, status: tpStatusCopy}), true)
	f.Add(make([]byte, 32), true)
	f.Fuzz(func(t *testing.T, b []byte, withVnet bool) {
		vl := 0
		if withVnet {
			vl = vnet.Len
		}
		r, v := parseFrame(b, vl)
		if v != frameOK {
			return
		}
		if r.off < frHdrLen+vl || r.off > r.end || r.end > len(b) || r.end-r.off > r.wire {
			t.Fatalf("frame [%d:%d] (tp_len %d) outside a %d-byte ring frame", r.off, r.end, r.wire, len(b))
		}
		if r.partial {
			partialCsum(b[r.off:r.end])
		}
		if r.vlan {
			off, ok := insertVLAN(b, r.off, r.end, frHdrLen, r.tpid, r.tci, &r.hdr)
			if ok && (off < frHdrLen || off != r.off-4) {
				t.Fatalf("tag put back at %d, frame at %d", off, r.off)
			}
		}
	})
}
