package vnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func TestFinishChecksum(t *testing.T) {
	for _, spec := range []pktSpec{
		{gso: GSOTCPv4, payload: 1400, vlans: 1},
		{gso: GSOTCPv6, payload: 1401},
		{gso: GSOUDPL4, payload: 1, vlans: 2},
		{gso: GSOUDPL4, v6: true, payload: 60000},
	} {
		// The packets come complete from gopacket; build leaves the
		// partial sum in the field, FinishChecksum must restore it.
		pkt, h, _, l4 := build(t, spec)
		want := append([]byte(nil), pkt...)
		at := l4 + int(h.CsumOffset)
		sum := refSum(want[l4:at]) + refSum(want[at+2:]) + uint32(binary.BigEndian.Uint16(pkt[at:]))
		binary.BigEndian.PutUint16(want[at:], ^fold(sum))
		if binary.BigEndian.Uint16(want[at:]) == 0 {
			want[at], want[at+1] = 0xff, 0xff
		}
		for _, size := range []int{0, 2048, 1, 7, 999, at, at + 1} {
			t.Run(fmt.Sprintf("gso%d/%dB/buf%d", spec.gso, len(pkt), size), func(t *testing.T) {
				var got []byte
				if size == 0 {
					got = append([]byte(nil), pkt...)
					if err := FinishChecksumFlat(got, h); err != nil {
						t.Fatal(err)
					}
				} else {
					bufs := chain(pkt, size)
					if err := FinishChecksum(bufs, h); err != nil {
						t.Fatal(err)
					}
					got = bytes.Join(bufs, nil)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("checksum %x, want %x", got[at:at+2], want[at:at+2])
				}
			})
		}
	}
}

// TestFinishChecksumZero: a sum that folds to 0 is stored as 0xffff.
func TestFinishChecksumZero(t *testing.T) {
	pkt := make([]byte, 8)
	pkt[0], pkt[1] = 0xff, 0xff // the whole sum is 0xffff: complement 0
	h := Hdr{Flags: FlagNeedsCsum, CsumStart: 0, CsumOffset: 6}
	if err := FinishChecksumFlat(pkt, h); err != nil {
		t.Fatal(err)
	}
	if pkt[6] != 0xff || pkt[7] != 0xff {
		t.Errorf("stored %x, want ffff", pkt[6:])
	}
}

func TestFinishChecksumErrors(t *testing.T) {
	pkt := make([]byte, 100)
	for _, h := range []Hdr{
		{Flags: FlagNeedsCsum, CsumStart: 90, CsumOffset: 9},
		{Flags: FlagNeedsCsum, CsumStart: 200},
		{Flags: FlagNeedsCsum, CsumStart: 0xffff, CsumOffset: 0xffff},
	} {
		if err := FinishChecksumFlat(pkt, h); !errors.Is(err, ErrBadCsum) {
			t.Errorf("%+v flat: %v", h, err)
		}
		if err := FinishChecksum(chain(pkt, 33), h); !errors.Is(err, ErrBadCsum) {
			t.Errorf("%+v chain: %v", h, err)
		}
	}
	// Nothing to do, nothing touched.
	if err := FinishChecksum(nil, Hdr{CsumStart: 500}); err != nil {
		t.Errorf("no NeedsCsum: %v", err)
	}
}

func TestFinishChecksumAllocs(t *testing.T) {
	pkt, h, _, _ := build(t, pktSpec{gso: GSOTCPv4, payload: 65000})
	bufs := chain(pkt, 2048)
	if a := testing.AllocsPerRun(100, func() { _ = FinishChecksum(bufs, h) }); a != 0 {
		t.Errorf("FinishChecksum: %v allocations", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = FinishChecksumFlat(pkt, h) }); a != 0 {
		t.Errorf("FinishChecksumFlat: %v allocations", a)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Hdr
		len  int
		want error
	}{
		{"zero", Hdr{}, 0, nil},
		{"csum ok", Hdr{Flags: FlagNeedsCsum, CsumStart: 34, CsumOffset: 16}, 54, nil},
		{"csum field past end", Hdr{Flags: FlagNeedsCsum, CsumStart: 34, CsumOffset: 16}, 51, ErrBadCsum},
		{"csum any offset without gso", Hdr{Flags: FlagNeedsCsum, CsumStart: 34, CsumOffset: 40}, 76, nil},
		{"tcp", Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16, HdrLen: 66}, 3000, nil},
		{"tcp ecn", Hdr{GSOType: GSOTCPv6 | GSOECN, GSOSize: 1448}, 3000, nil},
		{"tcp header past end", Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1448, CsumStart: 40, CsumOffset: 16}, 59, ErrBadCsum},
		{"tcp csum offset", Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 6}, 3000, ErrBadCsum},
		{"ecn alone", Hdr{GSOType: GSOECN}, 3000, ErrBadGSO},
		{"unknown", Hdr{GSOType: 2, GSOSize: 1}, 3000, ErrBadGSO},
		{"tunnel bits", Hdr{GSOType: GSOTCPv4 | 0x20, GSOSize: 1}, 3000, ErrBadGSO},
		{"size 0", Hdr{GSOType: GSOTCPv4}, 3000, ErrBadGSO},
		{"uso", Hdr{Flags: FlagNeedsCsum, GSOType: GSOUDPL4, GSOSize: 1000, CsumStart: 34, CsumOffset: 6}, 3000, nil},
		{"uso no csum", Hdr{GSOType: GSOUDPL4, GSOSize: 1000}, 3000, ErrBadGSO},
		{"uso ecn", Hdr{Flags: FlagNeedsCsum, GSOType: GSOUDPL4 | GSOECN, GSOSize: 1000, CsumStart: 34, CsumOffset: 6}, 3000, ErrBadGSO},
		{"uso csum offset", Hdr{Flags: FlagNeedsCsum, GSOType: GSOUDPL4, GSOSize: 1000, CsumStart: 34, CsumOffset: 16}, 3000, ErrBadCsum},
		{"ufo", Hdr{GSOType: GSOUDP, GSOSize: 1480}, 3000, nil},
		{"hdrlen", Hdr{HdrLen: 101}, 100, ErrBadHdrLen},
		{"hdrlen hint", Hdr{GSOType: GSOTCPv4, GSOSize: 1, HdrLen: 14}, 100, nil},
	}
	for _, tt := range tests {
		if err := tt.h.Validate(tt.len); !errors.Is(err, tt.want) {
			t.Errorf("%s: Validate(%d) = %v, want %v", tt.name, tt.len, err, tt.want)
		}
	}
}

func TestDecodeEncode(t *testing.T) {
	h := Hdr{Flags: 1, GSOType: GSOTCPv4 | GSOECN, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	var b [Len]byte
	h.Encode(b[:])
	if want := []byte{1, 0x81, 66, 0, 0xa8, 5, 34, 0, 16, 0}; !bytes.Equal(b[:], want) {
		t.Errorf("Encode = %x, want %x", b, want)
	}
	if got, err := Decode(b[:]); err != nil || got != h {
		t.Errorf("Decode = %+v, %v", got, err)
	}
	if _, err := Decode(b[:Len-1]); !errors.Is(err, ErrShort) {
		t.Errorf("Decode short: %v", err)
	}
}
