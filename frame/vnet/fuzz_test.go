package vnet

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// cutsFrom turns fuzzer bytes into increasing cut offsets: each byte is the
// length of the next buffer, minus one.
func cutsFrom(b []byte) []int {
	var cuts []int
	at := 0
	for _, c := range b {
		at += int(c) + 1
		cuts = append(cuts, at)
	}
	return cuts
}

func fuzzSeeds(f *testing.F, add func(pkt []byte, h Hdr)) {
	for _, s := range []pktSpec{
		{gso: GSOTCPv4, payload: 3000, mss: 1448},
		{gso: GSOTCPv6, vlans: 1, payload: 200, mss: 64},
		{gso: GSOUDPL4, vlans: 2, payload: 500, mss: 100},
		{gso: GSOUDPL4, v6: true, payload: 301, mss: 100},
		{gso: GSOUDP, payload: 1000, mss: 256},
	} {
		pkt, h, _, _ := build(f, s)
		add(pkt, h)
	}
}

// FuzzValidateSegment: whatever the packet and header, NewPlan and
// WriteSegment never panic or write outside dst; when NewPlan accepts a
// packet, every segment it writes has valid checksums, and a NeedsCsum
// packet's FinishChecksum leaves a valid sum.
func FuzzValidateSegment(f *testing.F) {
	fuzzSeeds(f, func(pkt []byte, h Hdr) {
		var hb [Len]byte
		h.Encode(hb[:])
		f.Add(pkt, hb[:], []byte{200, 255, 3})
		f.Add(pkt, hb[:], []byte{})
	})
	f.Fuzz(func(t *testing.T, pkt, hb, cuts []byte) {
		h, err := Decode(hb)
		if err != nil {
			return
		}
		src := chainAt(pkt, cutsFrom(cuts))
		if h.Validate(len(pkt)) == nil && h.NeedsCsum() && h.GSOType == GSONone {
			if err := FinishChecksum(src, h); err != nil {
				t.Fatalf("FinishChecksum after Validate: %v", err)
			}
			if h.CsumOffset%2 == 0 {
				at := int(h.CsumStart) + int(h.CsumOffset)
				old := uint32(binary.BigEndian.Uint16(pkt[at:]))
				if s := fold(refSum(bytes.Join(src, nil)[h.CsumStart:]) + old); s != 0xffff {
					t.Fatalf("finished sum %#x", s)
				}
			}
			return
		}
		p, err := NewPlan(h, src)
		if err != nil {
			return
		}
		if h.Validate(len(pkt)) != nil {
			t.Fatalf("NewPlan accepted what Validate refuses")
		}
		const guard = 16
		buf := make([]byte, p.MaxSegmentLen()+guard)
		// Huge segment counts (GSOSize 1) say nothing new and would stall
		// the fuzzer: check the first and last segments of those only.
		const sample = 64
		all := p.Segments() <= 4*sample
		var ufo []byte
		for k := range p.Segments() {
			if !all && k >= sample && k < p.Segments()-sample {
				continue
			}
			n := p.SegmentLen(k)
			for i := range buf {
				buf[i] = 0xa5
			}
			got, err := p.WriteSegment(buf[:n:n], src, k)
			if err != nil || got != n {
				t.Fatalf("segment %d: %d, %v; want %d", k, got, err, n)
			}
			for _, c := range buf[n:] {
				if c != 0xa5 {
					t.Fatalf("segment %d: wrote past dst", k)
				}
			}
			if _, err := p.WriteSegment(buf[:n-1], src, k); err != ErrShortBuffer {
				t.Fatalf("segment %d: short dst gave %v", k, err)
			}
			seg := buf[:n]
			ip := seg[p.l3:]
			if !p.v6 {
				ihl := int(ip[0]&0x0f) * 4
				if fold(refSum(ip[:ihl])) != 0xffff || int(binary.BigEndian.Uint16(ip[2:])) != n-p.l3 {
					t.Fatalf("segment %d: bad IPv4 header %x", k, ip[:ihl])
				}
			} else if int(binary.BigEndian.Uint16(ip[4:])) != n-p.l3-40 {
				t.Fatalf("segment %d: bad IPv6 payload length", k)
			}
			if p.gso == GSOUDP {
				ufo = append(ufo, seg[p.l4:]...)
				continue
			}
			proto := uint32(6)
			if p.gso == GSOUDPL4 {
				proto = 17
				if binary.BigEndian.Uint16(seg[p.l4+6:]) == 0 {
					t.Fatalf("segment %d: UDP checksum 0", k)
				}
			}
			if s := fold(pseudoRef(ip, p.v6, proto, n-p.l4) + refSum(seg[p.l4:])); s != 0xffff {
				t.Fatalf("segment %d: transport sum %#x", k, s)
			}
		}
		if p.gso == GSOUDP && all {
			ip := src[0][p.l3:]
			if s := fold(pseudoRef(ip, false, 17, len(ufo)) + refSum(ufo)); s != 0xffff || binary.BigEndian.Uint16(ufo[6:]) == 0 {
				t.Fatalf("reassembled datagram: sum %#x", s)
			}
		}
	})
}

// pseudoRef is the pseudo-header sum, written independently of the code
// under test.
func pseudoRef(ip []byte, v6 bool, proto uint32, l4len int) uint32 {
	if v6 {
		return refSum(ip[8:40]) + proto + uint32(l4len)
	}
	return refSum(ip[12:20]) + proto + uint32(l4len)
}

// FuzzFinishChecksum: over any chain of buffers, FinishChecksum stores what
// FinishChecksumFlat stores for the same bytes in one buffer.
func FuzzFinishChecksum(f *testing.F) {
	fuzzSeeds(f, func(pkt []byte, h Hdr) {
		f.Add(pkt, h.CsumStart, h.CsumOffset, []byte{0, 1, 2, 200, 255})
	})
	f.Add([]byte{1, 2, 3, 4, 5}, uint16(1), uint16(1), []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, pkt []byte, start, off uint16, cuts []byte) {
		h := Hdr{Flags: FlagNeedsCsum, CsumStart: start, CsumOffset: off}
		flat := append([]byte(nil), pkt...)
		errFlat := FinishChecksumFlat(flat, h)
		bufs := chainAt(pkt, cutsFrom(cuts))
		err := FinishChecksum(bufs, h)
		if err != errFlat {
			t.Fatalf("chain: %v, flat: %v", err, errFlat)
		}
		if got := bytes.Join(bufs, nil); !bytes.Equal(got, flat) {
			t.Fatalf("chain and flat differ")
		}
		// At an even distance from CsumStart (every real checksum field),
		// the stored value and the partial sum it replaced (the
		// pseudo-header's) add up to 0xffff with the rest.
		if err == nil && off%2 == 0 {
			at := int(start) + int(off)
			old := uint32(binary.BigEndian.Uint16(pkt[at:]))
			if s := fold(refSum(flat[start:]) + old); s != 0xffff {
				t.Fatalf("finished sum %#x", s)
			}
		}
	})
}
