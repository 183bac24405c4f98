package fabric

import (
	"github.com/mswitch/mswitch/frame/vnet"
)

// Offloaded packets (Slot.Offload) go to an OffloadQueue as they are, with
// their header; to any other queue the fabric finishes the work in software:
// it completes a partial checksum in the destination's buffers after the
// copy, and it cuts a GSO packet into segments, writing each one straight
// into the destination's buffers (one copy, as for any packet).

// setOffload records the offload state of packet k, the first packet of the
// batch with some state clearing the entries of the packets before it.
func (sc *scratch) setOffload(k int, o vnet.Hdr) {
	if !sc.offload {
		clear(sc.offs[:k])
		sc.offload = true
	}
	sc.offs[k] = o
}

// checkOffload validates the offload state of packet i after the logic ran
// (it may have changed the packet) and plans the segmentation of a GSO
// packet. It reports false for a packet to drop (DropOffload).
func (sc *scratch) checkOffload(i int) bool {
	m, off := &sc.meta[i], sc.offs[i]
	if err := off.Validate(int(m.size)); err != nil {
		return false
	}
	if off.GSO() == vnet.GSONone {
		return true
	}
	if sc.plans == nil {
		sc.plans = make([]vnet.Plan, len(sc.meta))
	}
	pl, err := vnet.NewPlan(off, sc.chain(int32(i)))
	if err != nil {
		return false
	}
	sc.plans[i] = pl
	return true
}

// slotsOf returns how many slots of size bs packet p takes in the
// destination being planned (sc.offDst), or -1 if it cannot go there.
func (sc *scratch) slotsOf(p int32, bs int) int32 {
	m := &sc.meta[p]
	if sc.offDst || !sc.offload || sc.offs[p].GSO() == vnet.GSONone {
		if k := slotsFor(m.size, bs); k <= MaxFrags {
			return k
		}
		return -1
	}
	pl := &sc.plans[p]
	n := int32(pl.Segments())
	first := slotsFor(int32(pl.SegmentLen(0)), bs)
	last := slotsFor(int32(pl.SegmentLen(int(n-1))), bs)
	if first > MaxFrags {
		return -1
	}
	return (n-1)*first + last
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
	pl := &sc.plans[p]
	src := sc.chain(p)
	for k := 0; k < pl.Segments(); k++ {
		want := pl.SegmentLen(k)
		if want <= bs {
			c, _ := pl.WriteSegment(q.Buffer(j)[:bs], src, k) // cannot fail once planned
			q.SetSlot(j, c, false)
			j++
		} else {
			if len(sc.seg) < want {
				sc.seg = make([]byte, pl.MaxSegmentLen())
			}
			c, _ := pl.WriteSegment(sc.seg, src, k)
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
// slots [first, end) of q. checkOffload made sure the field is inside.
func (sc *scratch) finishChecksum(q OutQueue, bs int, first, end uint32, p int32) {
	m := &sc.meta[p]
	if first+1 == end {
		vnet.FinishChecksumFlat(q.Buffer(first)[:m.size], sc.offs[p])
		return
	}
	bufs := sc.bufs[:0]
	left := int(m.size)
	for j := first; j != end; j++ {
		n := min(left, bs)
		bufs = append(bufs, q.Buffer(j)[:n])
		left -= n
	}
	sc.bufs = bufs
	vnet.FinishChecksum(bufs, sc.offs[p])
}
