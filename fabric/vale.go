package fabric

import "github.com/mswitch/mswitch/logic"

// deliverVALE is VALE's forwarding algorithm before mSwitch (paper §3.3, first
// paragraphs), kept as the baseline of the port-scaling benchmarks: for every
// port of the switch, idle or not, scan the whole batch for packets to it;
// lock the port's queue at the first one found and hold the lock, copies
// included, until the end of the scan. Its cost grows with the number of
// ports even when they receive nothing.
func (q *inq) deliverVALE(t *portTable) {
	sc := q.sc
	src := q.port.id
	for i := range sc.pkts {
		p := &sc.pkts[i]
		sc.meta[i].size = sc.meta[i].rest + int32(len(p.Data))
		switch d := p.Dst; {
		case d == logic.Flood:
		case d < logic.MaxPorts:
			if logic.PortID(d) == src {
				sc.drops[DropLoop]++
			} else if t.lookup(logic.PortID(d)) == nil {
				sc.drops[DropNoPort]++
			}
		case d == logic.DropMalformed:
			sc.drops[DropMalformed]++
		default: // Drop, and ToSet and ToInPort, which VALE does not know
			sc.drops[DropLookup]++
		}
	}
	for _, dp := range t.active {
		if dp.id == src {
			continue
		}
		outs := dp.outRings()
		r := outs[q.idx%len(outs)]
		bs := r.bufSize
		st := &sc.out
		*st = outStats{}
		locked := false
		var j, end uint32
		for i := range sc.pkts {
			if d := sc.pkts[i].Dst; d != logic.Flood && d != logic.To(dp.id) {
				continue
			}
			if !locked {
				r.mu.Lock()
				locked = true
				j = r.lease
				end = j + r.q.Room(j)
			}
			k := slotsFor(sc.meta[i].size, bs)
			switch {
			case k > MaxFrags:
				st.drops[DropOversize]++
			case j+uint32(k) > end:
				st.drops[DropQueueFull]++
			case k == 1 && sc.meta[i].frags == 1:
				c := copy(r.q.Buffer(j), sc.pkts[i].Data)
				r.q.SetSlot(j, c, false)
				j++
				st.packets++
				st.bytes += uint64(sc.meta[i].size)
			default:
				j = sc.copyChain(r.q, bs, j, int32(i))
				st.packets++
				st.bytes += uint64(sc.meta[i].size)
			}
		}
		if locked {
			r.lease, r.tail = j, j
			r.q.Publish(j)
			r.addStatsLocked(st)
			r.mu.Unlock()
			r.q.Notify()
		}
	}
}
