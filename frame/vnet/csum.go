package vnet

import "gvisor.dev/gvisor/pkg/tcpip/checksum"

// FinishChecksum completes the partial checksum of a packet held in a chain
// of buffers, bufs[0] starting at the Ethernet header and each buffer sliced
// to the packet bytes it holds. It does what the kernel's skb_checksum_help
// does: sums the bytes from CsumStart to the end of the packet (the checksum
// field holds the pseudo-header sum the sender left there), and stores the
// complement at CsumStart+CsumOffset, 0 becoming 0xffff (which also keeps a
// UDP checksum from reading as "none"). Buffers may have any length, odd
// ones included, and the 16-bit field may straddle two of them.
//
// It does nothing for a header without FlagNeedsCsum, and returns ErrBadCsum
// if the field lies outside the packet.
func FinishChecksum(bufs [][]byte, h Hdr) error {
	if !h.NeedsCsum() {
		return nil
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	start := int(h.CsumStart)
	at := start + int(h.CsumOffset)
	if at+2 > total {
		return ErrBadCsum
	}
	var c checksum.Checksumer
	sumFrom(&c, bufs, start)
	sum := finish(c.Checksum())
	put8(bufs, at, byte(sum>>8))
	put8(bufs, at+1, byte(sum))
	return nil
}

// FinishChecksumFlat is FinishChecksum for a packet in one buffer.
func FinishChecksumFlat(pkt []byte, h Hdr) error {
	if !h.NeedsCsum() {
		return nil
	}
	start := int(h.CsumStart)
	at := start + int(h.CsumOffset)
	if at+2 > len(pkt) {
		return ErrBadCsum
	}
	sum := finish(checksum.Checksum(pkt[start:], 0))
	pkt[at] = byte(sum >> 8)
	pkt[at+1] = byte(sum)
	return nil
}

// finish turns a ones'-complement sum into the value stored in a checksum
// field: its complement, with 0 sent as 0xffff (CSUM_MANGLED_0).
func finish(sum uint16) uint16 {
	if sum = ^sum; sum == 0 {
		return 0xffff
	}
	return sum
}

// sumFrom adds the packet bytes from offset off to the end to c.
func sumFrom(c *checksum.Checksumer, bufs [][]byte, off int) {
	for _, b := range bufs {
		if off >= len(b) {
			off -= len(b)
			continue
		}
		c.Add(b[off:])
		off = 0
	}
}

// gather copies packet bytes from offset off into dst and returns how many
// it copied: len(dst) unless the packet ends first.
func gather(dst []byte, bufs [][]byte, off int) int {
	n := 0
	for _, b := range bufs {
		if n == len(dst) {
			break
		}
		if off >= len(b) {
			off -= len(b)
			continue
		}
		n += copy(dst[n:], b[off:])
		off = 0
	}
	return n
}

// put8 stores v at packet offset off, which must lie within bufs.
func put8(bufs [][]byte, off int, v byte) {
	for _, b := range bufs {
		if off < len(b) {
			b[off] = v
			return
		}
		off -= len(b)
	}
}
