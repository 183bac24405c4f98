package memif

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var wireSamples = []message{
	ackMsg{},
	helloMsg{Name: "DPDK 22.11.11", MinVersion: version, MaxVersion: version, MaxRegion: 255, MaxM2SRing: 15, MaxS2MRing: 3, MaxLog2RingSize: 14},
	initMsg{Version: version, ID: 0xdeadbeef, Mode: modeEthernet, Secret: "abcdefghijklmnopqrstuvwx", Name: "pktgen"},
	addRegionMsg{Index: 3, Size: 1<<32 + 5},
	addRingMsg{Flags: addRingS2M, Index: 1, Region: 2, Offset: 0x10000, Log2RingSize: 10, PrivateHdrSize: 0},
	connectMsg{IfName: "net_memif0"},
	connectedMsg{IfName: "memif1"},
	disconnectMsg{Code: 7, Reason: "Incorrect secret"},
}

func TestWireRoundTrip(t *testing.T) {
	for _, m := range wireSamples {
		b := encode(m)
		got, err := decode(b[:])
		if err != nil {
			t.Fatalf("%v: %v", m.kind(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%v: got %+v, want %+v", m.kind(), got, m)
		}
	}
}

// TestWireLayout pins the byte offsets of DPDK's memif.h.
func TestWireLayout(t *testing.T) {
	for _, tc := range []struct {
		m    message
		want map[int]byte // offset -> byte
	}{
		{helloMsg{Name: "x", MinVersion: 0x0200, MaxVersion: 0x0201, MaxRegion: 0x0102, MaxM2SRing: 0x0304, MaxS2MRing: 0x0506, MaxLog2RingSize: 0x0e},
			map[int]byte{0: 2, 2: 'x', 3: 0, 34: 0x00, 35: 0x02, 36: 0x01, 37: 0x02, 38: 0x02, 39: 0x01, 40: 0x04, 41: 0x03, 42: 0x06, 43: 0x05, 44: 0x0e}},
		{initMsg{Version: 0x0200, ID: 0x04030201, Mode: 1, Secret: "s", Name: "n"},
			map[int]byte{0: 3, 2: 0x00, 3: 0x02, 4: 1, 5: 2, 6: 3, 7: 4, 8: 1, 9: 's', 10: 0, 33: 'n', 34: 0}},
		{addRegionMsg{Index: 0x0102, Size: 0x0807060504030201},
			map[int]byte{0: 4, 2: 2, 3: 1, 4: 1, 11: 8}},
		{addRingMsg{Flags: 1, Index: 0x0203, Region: 0x0405, Offset: 0x09080706, Log2RingSize: 10, PrivateHdrSize: 0x0b0a},
			map[int]byte{0: 5, 2: 1, 4: 3, 5: 2, 6: 5, 7: 4, 8: 6, 11: 9, 12: 10, 13: 0x0a, 14: 0x0b}},
		{connectMsg{IfName: "if"}, map[int]byte{0: 6, 2: 'i', 3: 'f', 4: 0}},
		{connectedMsg{IfName: "if"}, map[int]byte{0: 7, 2: 'i'}},
		{disconnectMsg{Code: 0x01020304, Reason: "why"}, map[int]byte{0: 8, 2: 4, 5: 1, 6: 'w', 8: 'y', 9: 0}},
	} {
		b := encode(tc.m)
		for off, v := range tc.want {
			if b[off] != v {
				t.Errorf("%v: byte %d = %#x, want %#x", tc.m.kind(), off, b[off], v)
			}
		}
	}
}

func TestWireStrings(t *testing.T) {
	long := string(bytes.Repeat([]byte("n"), 100))
	b := encode(connectMsg{IfName: long})
	m, _ := decode(b[:])
	if got := m.(connectMsg).IfName; len(got) != nameSize-1 {
		t.Errorf("name truncated to %d bytes, want %d (strlcpy)", len(got), nameSize-1)
	}
	b = encode(disconnectMsg{Reason: long + long})
	m, _ = decode(b[:])
	if got := m.(disconnectMsg).Reason; len(got) != reasonSize-1 {
		t.Errorf("reason truncated to %d bytes, want %d", len(got), reasonSize-1)
	}
	// A secret may fill its field: DPDK compares 24 bytes with strncmp.
	b = encode(initMsg{Secret: "abcdefghijklmnopqrstuvwxyz"})
	m, _ = decode(b[:])
	if got := m.(initMsg).Secret; got != "abcdefghijklmnopqrstuvwx" {
		t.Errorf("secret %q", got)
	}
	// A C string without NUL runs to the end of its field.
	b = encode(connectMsg{})
	for i := 2; i < 2+nameSize; i++ {
		b[i] = 'z'
	}
	m, _ = decode(b[:])
	if got := m.(connectMsg).IfName; len(got) != nameSize {
		t.Errorf("unterminated name of %d bytes", len(got))
	}
	if got := printable("a\x00b\x1b[31m\xff"); got != "a?b?[31m\uFFFD" {
		t.Errorf("printable: %q", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	var b [msgSize + 1]byte
	for _, n := range []int{0, 1, 2, msgSize - 1, msgSize + 1} {
		if _, err := decode(b[:n]); !errors.Is(err, errMsgSize) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	for _, typ := range []uint16{0, 9, 0xffff} {
		ne.PutUint16(b[:], typ)
		if _, err := decode(b[:msgSize]); !errors.Is(err, errMsgType) {
			t.Errorf("type %d: %v", typ, err)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic, must
// refuse anything but 128 bytes, and what it accepts must survive
// re-encoding.
func FuzzDecode(f *testing.F) {
	for _, m := range wireSamples {
		b := encode(m)
		f.Add(b[:])
	}
	f.Add([]byte{})
	f.Add(make([]byte, 127))
	f.Add(make([]byte, 129))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			return
		}
		if len(b) != msgSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		e := encode(m)
		m2, err := decode(e[:])
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			// Strings that fill their field lose their last byte to the NUL.
			e2 := encode(m2)
			if m3, _ := decode(e2[:]); !reflect.DeepEqual(m2, m3) {
				t.Fatalf("round trip: %+v -> %+v -> %+v", m, m2, m3)
			}
		}
		_ = printable(getString(b[2:]))
	})
}
