package fabric

import (
	"github.com/mswitch/mswitch/frame/vnet"
)

// Offloaded packets (Slot.Offload) go to an OffloadQueue as they are, with
// their header; to any other queue the fabric finishes the work in software:
// it completes a partial checksum in the destination's buffers after the
// copy, and it cuts a GSO packet into segments, writing each one straight
// into the destination's buffers (one copy, as for any packet).

// slotsOf returns how many slots of size bs packet p takes in the
// destination being planned (sc.offDst), or -1 if it cannot go there.
func (sc *scratch) slotsOf(p int32, bs int) int32 {
	m := &sc.meta[p]
	if sc.offDst || m.off.GSO() == vnet.GSONone {
		if k := slotsFor(m.size, bs); k <= MaxFrags {
			return k
		}
		return -1
	}
	n := segCount(m.off, int(m.size))
	if n <= 0 {
		return -1
	}
	var k int32
	for i := 0; i < n; i++ {
		s := slotsFor(int32(segLen(m.off, int(m.size), i)), bs)
		if s > MaxFrags {
			return -1
		}
		k += s
	}
	return k
}

// chain returns packet p's buffers in order, the first as the logic left it.
// The slice is scratch memory, valid until the next call.
func (sc *scratch) chain(p int32) [][]byte {
	m := &sc.meta[p]
	bufs := sc.bufs[:0]
	bufs = append(bufs, sc.pkts[p].Data)
	for _, s := range sc.slots[m.first+1 : m.first+m.frags] {
		bufs = append(bufs, s.Buf)
	}
	sc.bufs = bufs
	return bufs
}

// segment writes the segments of GSO packet p into q from slot j on, and
// returns the slot after the last one used, the number of segments and
// their bytes. The slots were reserved by the plan (slotsOf). A segment
// larger than one buffer is built in scratch memory and copied as a chain.
func (sc *scratch) segment(q OutQueue, bs int, j uint32, p int32) (next uint32, segs, bytes uint64) {
	m := &sc.meta[p]
	src := sc.chain(p)
	n := segCount(m.off, int(m.size))
	for i := 0; i < n; i++ {
		want := segLen(m.off, int(m.size), i)
		if want <= bs {
			c, err := writeSegment(q.Buffer(j)[:bs], src, m.off, i)
			if err != nil {
				c = 0 // cannot happen after validation; keep the ring sane
			}
			q.SetSlot(j, c, false)
			j++
		} else {
			if cap(sc.seg) < want {
				sc.seg = make([]byte, 64<<10+vnet.Len)
			}
			c, err := writeSegment(sc.seg[:cap(sc.seg)], src, m.off, i)
			if err != nil {
				c = 0
			}
			j = copyOut(q, bs, j, sc.seg[:c])
		}
		segs++
		bytes += uint64(want)
	}
	return j, segs, bytes
}

// copyOut copies b into consecutive buffers of q from slot j on and returns
// the slot after the last one used.
func copyOut(q OutQueue, bs int, j uint32, b []byte) uint32 {
	for {
		c := copy(q.Buffer(j)[:bs], b)
		b = b[c:]
		q.SetSlot(j, c, len(b) > 0)
		j++
		if len(b) == 0 {
			return j
		}
	}
}

// finishChecksum completes the partial checksum of packet p, copied into
// slots [first, end) of q.
func (sc *scratch) finishChecksum(q OutQueue, bs int, first, end uint32, p int32) {
	m := &sc.meta[p]
	bufs := sc.bufs[:0]
	left := int(m.size)
	for j := first; j != end; j++ {
		n := min(left, bs)
		bufs = append(bufs, q.Buffer(j)[:n])
		left -= n
	}
	sc.bufs = bufs
	finishChecksum(bufs, m.off)
}
