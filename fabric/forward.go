package fabric

// Forwarding, in the goroutine that drains an input queue (paper §3.2-3.3;
// netmap's nm_vale_preflush and nm_vale_flush):
//
//  0. gather:   Receive lends up to Batch packets (chains of up to MaxFrags
//               slots) from the input queue, in place.
//  1. decide:   the logic's Lookup sets a destination for each packet.
//  2. classify: each packet is appended to the list of its destination
//               (a port, every port of a set) or to the broadcast list, and
//               each destination seen for the first time is appended to the
//               list of active destinations. Drops are counted.
//  2b. flood:   if the broadcast list is not empty, every port but the source
//               becomes an active destination.
//  3. deliver:  for each active destination only, merge its list with the
//               broadcast list in arrival order, reserve slots in its output
//               queue (short lock), copy (no lock), complete (short lock).
//  4. release:  the input slots go back to the backend.
//
// Locking: none on the input side. The port table and the logic are read
// from atomic pointers once per batch; the batch runs inside an odd epoch of
// its input queue so that the control path can wait for it (synchronize).

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/frame/vnet"
	"github.com/mswitch/mswitch/logic"
)

type port struct {
	id      logic.PortID
	name    string
	backend Backend
	inline  bool
	in      []*inq

	// out is replaced by requeue while the port is attached; senders load
	// it once per destination per batch.
	out atomic.Pointer[[]*outRing]

	// tap, when set, sees copies of the packets entering and leaving.
	tap atomic.Pointer[tapBox]

	// requeueMu serialises requeue with the end of Detach.
	requeueMu sync.Mutex
	detached  bool     // guarded by requeueMu
	retired   outStats // counts of output queues replaced by requeue; guarded by requeueMu
}

// outRings returns the port's current output queues.
func (p *port) outRings() []*outRing { return *p.out.Load() }

// inq is the forwarding state of one input queue.
type inq struct {
	sw   *Switch
	port *port
	idx  int
	q    InQueue

	// epoch is odd while a batch is being forwarded.
	epoch    atomic.Uint64
	stopping atomic.Bool
	done     chan struct{}

	// Counters, written only by the forwarding goroutine.
	packets, bytes atomic.Uint64
	drops          [numDropReasons]atomic.Uint64
	batches        atomic.Uint64
	busy           atomic.Int64 // nanoseconds spent forwarding batches

	// sc is the scratch area, allocated on the first packet so that idle
	// ports cost no memory.
	sc *scratch
}

// pktMeta is what the fabric knows of a packet beyond what the logic sees.
type pktMeta struct {
	first int32 // index of its first slot
	frags int32 // number of slots
	rest  int32 // bytes after the first slot
	size  int32 // total bytes, once the logic has run
}

// node threads a packet onto one destination list.
type node struct {
	pkt  int32
	next int32
}

const nilNode = -1

// list is a FIFO of nodes, with what delivery needs to plan its reservation.
type list struct {
	head, tail int32
	n          int32 // packets
	maxSize    int32 // largest packet, bytes
}

func (l *list) reset() { *l = list{head: nilNode, tail: nilNode} }

type dest struct {
	port *port
	list
	// all is set when the list is the whole batch, in order: the list
	// itself is not threaded (the fast path for a batch to one port).
	all bool
}

// scratch is the per-input-queue working memory of one batch.
type scratch struct {
	slots   []Slot
	pkts    []logic.Packet
	meta    []pktMeta // by packet, beside pkts
	chained bool      // some packet of the batch spans several slots
	offload bool      // some packet of the batch has offload state (offs)
	offDst  bool      // the destination being planned takes offloaded packets

	nodes  []node
	dstIdx []int32 // by port ID: index+1 into dests, 0 if not active
	dests  []dest
	bcast  list

	drops [numDropReasons]uint64
	out   outStats

	offs  []vnet.Hdr  // by packet, beside pkts: offload state, valid while offload is set
	bufs  [][]byte    // a packet's buffers, for the software offload fallbacks
	seg   []byte      // a segment larger than a destination buffer, built here
	plans []vnet.Plan // by packet: how a GSO packet is segmented
}

func newScratch(batch int) *scratch {
	return &scratch{
		slots: make([]Slot, batch+MaxFrags-1),
		pkts:  make([]logic.Packet, 0, batch),
		meta:  make([]pktMeta, batch),
		nodes: make([]node, 0, batch),
		offs:  make([]vnet.Hdr, batch),
		bufs:  make([][]byte, 0, MaxFrags),
		dests: make([]dest, 0, 64),
	}
}

// run drains the queue until the port is detached.
func (q *inq) run() {
	defer close(q.done)
	for !q.stopping.Load() {
		if q.forward() == 0 {
			if err := q.q.Wait(); err != nil {
				return
			}
		}
	}
}

// forward moves one batch and returns how many packets it took from the
// input queue.
func (q *inq) forward() int {
	q.epoch.Add(1)
	defer q.epoch.Add(1)
	// Detach sets stopping before it waits for odd epochs to end: checking
	// it inside the epoch means a batch either is waited for or never starts.
	if q.stopping.Load() {
		return 0
	}
	sw := q.sw
	if q.sc == nil {
		q.sc = newScratch(sw.batch)
	}
	sc := q.sc
	n := q.q.Receive(sc.slots)
	if n == 0 {
		return 0
	}
	start := time.Now()
	t := sw.table.Load()
	used, npkts, nbytes := sc.gather(n, sw.batch)
	if tb := q.port.tap.Load(); tb != nil {
		for i := range sc.pkts {
			tb.t.Packet(In, q.port.id, sc.pkts[i].Data, sc.rest(int32(i)))
		}
	}
	if len(sc.pkts) > 0 {
		sw.mod.Load().l.Lookup(sc.pkts, q.port.id)
		if sw.algorithm == AlgorithmVALE {
			q.deliverVALE(t)
		} else {
			q.classify(t)
			q.deliver()
		}
	}
	q.q.Release(used)
	q.packets.Add(npkts)
	q.bytes.Add(nbytes)
	q.batches.Add(1)
	q.busy.Add(int64(time.Since(start)))
	for i, d := range sc.drops {
		if d != 0 {
			q.drops[i].Add(d)
			sc.drops[i] = 0
		}
	}
	return int(npkts)
}

// gather turns the first n lent slots into packets. It returns how many
// slots to release and the packets and bytes received (malformed chains
// included). A chain cut by the end of the slots is left for the next batch.
func (sc *scratch) gather(n, batch int) (used int, npkts, nbytes uint64) {
	pkts := sc.pkts[:cap(sc.pkts)]
	meta := sc.meta[:len(pkts)]
	slots := sc.slots[:n]
	sc.chained = false
	sc.offload = false
	k := 0
	i := 0
	for i < n && k < len(pkts) && k < batch {
		if !slots[i].More { // the common case: a packet in one buffer
			b := slots[i].Buf
			pkts[k].Data = b
			pkts[k].Dst = logic.Drop
			meta[k] = pktMeta{first: int32(i), frags: 1}
			if sc.offload || slots[i].Offload.Active() {
				sc.setOffload(k, slots[i].Offload)
			}
			nbytes += uint64(len(b))
			i++
			k++
			continue
		}
		first := i
		size := len(slots[i].Buf)
		for slots[i].More && i+1 < n && i+1-first < MaxFrags {
			i++
			size += len(slots[i].Buf)
		}
		if slots[i].More {
			if i+1 == n && n == len(sc.slots) && first > 0 {
				i = first
				break // cut short by our own slot array: next batch
			}
			// Longer than MaxFrags, or never terminated: skip to its end.
			for slots[i].More && i+1 < n {
				i++
				size += len(slots[i].Buf)
			}
			i++
			npkts++
			nbytes += uint64(size)
			sc.drops[DropMalformed]++
			continue
		}
		i++
		b := slots[first].Buf
		pkts[k].Data = b
		pkts[k].Dst = logic.Drop
		meta[k] = pktMeta{first: int32(first), frags: int32(i - first), rest: int32(size - len(b))}
		if sc.offload || slots[first].Offload.Active() {
			sc.setOffload(k, slots[first].Offload)
		}
		sc.chained = true
		nbytes += uint64(size)
		k++
	}
	sc.pkts = pkts[:k]
	return i, npkts + uint64(k), nbytes
}

// dropCounted marks a packet the fabric dropped and counted before
// classification (bad offload state). It is no value a logic may return.
const dropCounted logic.Dst = logic.ToInPort - 1

// classify builds the destination lists (phases 2 and 2b).
func (q *inq) classify(t *portTable) {
	sc := q.sc
	src := q.port.id
	if len(sc.dstIdx) < len(t.byID) {
		sc.dstIdx = make([]int32, len(t.byID)+len(t.byID)/4)
	}
	sc.nodes = sc.nodes[:0]
	sc.dests = sc.dests[:0]
	sc.bcast.reset()
	// The logic may have resized first buffers; note the largest packet,
	// and whether the whole batch goes to one port.
	pkts := sc.pkts
	meta := sc.meta[:len(pkts)]
	d0 := pkts[0].Dst
	uniform := true
	var maxSize int32
	for i := range pkts {
		s := meta[i].rest + int32(len(pkts[i].Data))
		meta[i].size = s
		maxSize = max(maxSize, s)
		uniform = uniform && pkts[i].Dst == d0
	}
	if sc.offload {
		for i := range pkts {
			if sc.offs[i].Active() && !sc.checkOffload(i) {
				sc.drops[DropOffload]++
				pkts[i].Dst = dropCounted
				uniform = false
			}
		}
	}
	if uniform && d0 < logic.MaxPorts && logic.PortID(d0) != src {
		if dp := t.lookup(logic.PortID(d0)); dp != nil {
			sc.dests = append(sc.dests, dest{port: dp, all: true,
				list: list{head: nilNode, tail: nilNode, n: int32(len(sc.pkts)), maxSize: maxSize}})
			sc.dstIdx[dp.id] = 1
			return
		}
	}
	for i := range sc.pkts {
		p := &sc.pkts[i]
		switch d := p.Dst; {
		case d < logic.MaxPorts:
			// A destination already seen in this batch costs one load; the
			// port table is read on first sight only.
			id := logic.PortID(d)
			if int(id) < len(sc.dstIdx) {
				if x := sc.dstIdx[id]; x != 0 && id != src { // src is listed after a ToInPort
					sc.append(x-1, int32(i))
					continue
				}
			}
			if id == src {
				sc.drops[DropLoop]++
			} else if dp := t.lookup(id); dp == nil {
				sc.drops[DropNoPort]++
			} else {
				sc.append(sc.destFor(dp), int32(i))
			}
		case d == logic.Flood:
			sc.appendList(&sc.bcast, int32(i))
		case d == logic.ToInPort:
			if dp := t.lookup(src); dp != nil {
				sc.append(sc.destFor(dp), int32(i))
			}
		case d == logic.ToSet:
			set := p.Set
			p.Set = nil
			for _, id := range set {
				if id == src {
					continue
				}
				if dp := t.lookup(id); dp == nil {
					sc.drops[DropNoPort]++
				} else if d := sc.destFor(dp); sc.dests[d].tail == nilNode || sc.nodes[sc.dests[d].tail].pkt != int32(i) {
					sc.append(d, int32(i)) // listed twice: the packet is already the list's tail
				}
			}
		case d == logic.DropMalformed:
			sc.drops[DropMalformed]++
		case d == dropCounted:
		default:
			sc.drops[DropLookup]++
		}
	}
	if sc.bcast.n > 0 {
		for _, dp := range t.active {
			if dp.id != src {
				sc.destFor(dp)
			}
		}
	}
}

// destFor returns the index of port p's entry in dests, adding it on first use.
func (sc *scratch) destFor(p *port) int32 {
	if x := sc.dstIdx[p.id]; x != 0 {
		return x - 1
	}
	sc.dests = append(sc.dests, dest{port: p, list: list{head: nilNode, tail: nilNode}})
	x := int32(len(sc.dests))
	sc.dstIdx[p.id] = x
	return x - 1
}

func (sc *scratch) append(d int32, pkt int32) { sc.appendList(&sc.dests[d].list, pkt) }

func (sc *scratch) appendList(l *list, pkt int32) {
	nd := int32(len(sc.nodes))
	sc.nodes = append(sc.nodes, node{pkt: pkt, next: nilNode})
	if l.tail == nilNode {
		l.head = nd
	} else {
		sc.nodes[l.tail].next = nd
	}
	l.tail = nd
	l.n++
	if s := sc.meta[pkt].size; s > l.maxSize {
		l.maxSize = s
	}
}

// merged iterates a destination list and the broadcast list together, in
// packet order (netmap's merge of the unicast and broadcast queues); or,
// for a list that is the whole batch, the packets in order.
type merged struct {
	nodes  []node
	a, b   int32
	seq, n int32 // seq >= 0: the whole batch, packets seq..n-1
	left   int32 // packets still to return (a run of the list: deliverDirect)
}

// iter returns an iterator over the packets for d.
func (sc *scratch) iter(d *dest) merged {
	if d.all {
		return merged{seq: 0, n: d.n, left: d.n}
	}
	return merged{nodes: sc.nodes, a: d.head, b: sc.bcast.head, seq: -1, left: d.n + sc.bcast.n}
}

// next returns the next packet index, or -1 at the end.
func (m *merged) next() int32 {
	if m.left == 0 {
		return -1
	}
	m.left--
	if m.seq >= 0 {
		if m.seq == m.n {
			return -1
		}
		m.seq++
		return m.seq - 1
	}
	switch {
	case m.a == nilNode && m.b == nilNode:
		return -1
	case m.b == nilNode || (m.a != nilNode && m.nodes[m.a].pkt < m.nodes[m.b].pkt):
		p := m.nodes[m.a].pkt
		m.a = m.nodes[m.a].next
		return p
	default:
		p := m.nodes[m.b].pkt
		m.b = m.nodes[m.b].next
		return p
	}
}

// slotsFor returns how many buffers of bufSize a packet of size bytes needs.
func slotsFor(size int32, bufSize int) int32 {
	if int(size) <= bufSize {
		return 1
	}
	return (size + int32(bufSize) - 1) / int32(bufSize)
}

// deliver runs phase 3 for every active destination, then clears the
// destination index.
func (q *inq) deliver() {
	sc := q.sc
	for i := range sc.dests {
		d := &sc.dests[i]
		q.deliverTo(d)
		sc.dstIdx[d.port.id] = 0
	}
}

// deliverTo copies the packets listed for d (and the broadcast ones) into its
// output queue, or hands the long ones to it whole (deliverDirect).
func (q *inq) deliverTo(d *dest) {
	sc := q.sc
	outs := d.port.outRings()
	r := outs[q.idx%len(outs)]
	if d.n+sc.bcast.n == 0 {
		return
	}
	if r.direct != nil && max(d.maxSize, sc.bcast.maxSize) > int32(r.bufSize) {
		q.deliverDirect(d, r)
		return
	}
	q.deliverRun(d, r, sc.iter(d))
}

// deliverDirect delivers the packets for d to a DirectQueue: a packet longer
// than a slot goes to SendDirect from its input buffers, the others are
// copied as usual, in runs between the long ones (deliverRun), so that the
// packets leave in their order. A long packet that SendDirect does not take,
// or that the queue cannot take whole (offload state it cannot send, more
// than MaxFrags slots), is copied with the run after it.
func (q *inq) deliverDirect(d *dest, r *outRing) {
	sc := q.sc
	bs := r.bufSize
	sc.offDst = r.off != nil
	var tap Tap
	if tb := d.port.tap.Load(); tb != nil {
		tap = tb.t
	}
	var st outStats
	m := sc.iter(d)
	run := m // the packets before p not yet delivered: run.left of them
	run.left = 0
	for {
		at := m
		p := m.next()
		if p < 0 {
			break
		}
		size := sc.meta[p].size
		var h vnet.Hdr
		if sc.offload {
			h = sc.offs[p]
		}
		if size <= int32(bs) || !sc.offDst && h.Active() || sc.slotsOf(p, bs) < 0 {
			run.left++
			continue
		}
		if run.left > 0 {
			q.deliverRun(d, r, run)
		}
		if !r.sendDirect(sc.chain(p), h) {
			run = at // copied with the next run
			run.left = 1
			continue
		}
		st.packets++
		st.bytes += uint64(size)
		if tap != nil {
			tap.Packet(Out, d.port.id, sc.pkts[p].Data, sc.rest(p))
		}
		run = m
		run.left = 0
	}
	if run.left > 0 {
		q.deliverRun(d, r, run)
	}
	if st.packets > 0 {
		r.addStats(&st)
	}
}

// deliverRun copies the packets of the iterator m (those listed for d, or a
// run of them) into r.
func (q *inq) deliverRun(d *dest, r *outRing, m merged) {
	sc := q.sc
	bs := r.bufSize
	total := m.left
	// Plan: one slot per packet unless some packet needs several, or
	// offloaded packets go to a port that cannot take them (segmentation).
	want := uint32(total)
	sc.offDst = r.off != nil
	multi := max(d.maxSize, sc.bcast.maxSize) > int32(bs) || sc.offload && !sc.offDst
	if multi {
		want = 0
		m := m
		for p := m.next(); p >= 0; p = m.next() {
			if k := sc.slotsOf(p, bs); k > 0 {
				want += uint32(k)
			}
		}
	}
	st := &sc.out
	*st = outStats{}
	var fit *merged
	if multi {
		fit = &m
	}
	start, n, lease := r.reserve(want, sc, fit, bs)
	if n == 0 {
		st.drops[DropQueueFull] = uint64(total)
		r.dropAll(st)
		return
	}
	j, end := start, start+n
	var tap Tap
	if tb := d.port.tap.Load(); tb != nil {
		tap = tb.t
	}
	if d.all && total == d.n && !multi && !sc.chained && tap == nil && r.off == nil {
		// The whole batch, one buffer per packet, to one port: a tight loop.
		pkts := sc.pkts[:min(int(n), len(sc.pkts))]
		oq := r.q
		for _, p := range pkts {
			c := copy(oq.Buffer(j), p.Data)
			oq.SetSlot(j, c, false)
			st.bytes += uint64(c)
			j++
		}
		st.packets = uint64(len(pkts))
		st.drops[DropQueueFull] = uint64(len(sc.pkts) - len(pkts))
		r.complete(start, end, lease, st)
		return
	}
	offload := sc.offload || r.off != nil
	for p := m.next(); p >= 0; p = m.next() {
		size := sc.meta[p].size
		if !offload { // the common case: no offload state, no offload port
			k := slotsFor(size, bs)
			if k > MaxFrags {
				st.drops[DropOversize]++
				continue
			}
			if j+uint32(k) > end {
				st.drops[DropQueueFull]++
				continue
			}
			if k == 1 && sc.meta[p].frags == 1 {
				c := copy(r.q.Buffer(j), sc.pkts[p].Data)
				r.q.SetSlot(j, c, false)
				j++
			} else {
				j = sc.copyChain(r.q, bs, j, p)
			}
			st.packets++
			st.bytes += uint64(size)
			if tap != nil {
				tap.Packet(Out, d.port.id, sc.pkts[p].Data, sc.rest(p))
			}
			continue
		}
		k := sc.slotsOf(p, bs)
		if k < 0 {
			st.drops[DropOversize]++
			continue
		}
		if j+uint32(k) > end {
			st.drops[DropQueueFull]++
			continue
		}
		var off vnet.Hdr
		if sc.offload {
			off = sc.offs[p]
		}
		if r.off == nil && off.GSO() != vnet.GSONone {
			var segs, bytes uint64
			j, segs, bytes = sc.segment(r.q, bs, j, p)
			st.packets += segs
			st.bytes += bytes
		} else {
			first := j
			if k == 1 && sc.meta[p].frags == 1 {
				c := copy(r.q.Buffer(j), sc.pkts[p].Data)
				r.q.SetSlot(j, c, false)
				j++
			} else {
				j = sc.copyChain(r.q, bs, j, p)
			}
			if r.off != nil {
				r.off.SetOffload(first, off)
			} else if off.NeedsCsum() {
				sc.finishChecksum(r.q, bs, first, j, p)
			}
			st.packets++
			st.bytes += uint64(size)
		}
		if tap != nil {
			tap.Packet(Out, d.port.id, sc.pkts[p].Data, sc.rest(p))
		}
	}
	for ; j != end; j++ { // never happens when the plan holds; keep the ring sane
		r.q.SetSlot(j, 0, false)
	}
	r.complete(start, end, lease, st)
}

// fit returns how many of room slots the packets of the iterator m can fill,
// in order, without splitting a packet.
func (sc *scratch) fit(m merged, room uint32, bs int) uint32 {
	var used uint32
	for p := m.next(); p >= 0; p = m.next() {
		k := uint32(sc.slotsOf(p, bs))
		if int32(k) < 0 {
			continue
		}
		if used+k > room {
			break
		}
		used += k
	}
	return used
}

// rest returns the buffers of packet p after its first.
func (sc *scratch) rest(p int32) []Slot {
	m := &sc.meta[p]
	return sc.slots[m.first+1 : m.first+m.frags]
}

// copyChain copies packet p, whatever its fragments, into consecutive
// destination buffers of size bs starting at slot j, and returns the slot
// after the last one used.
func (sc *scratch) copyChain(q OutQueue, bs int, j uint32, p int32) uint32 {
	dst := q.Buffer(j)[:bs]
	off := 0
	f0 := int(sc.meta[p].first)
	for f := 0; f < int(sc.meta[p].frags); f++ {
		src := sc.slots[f0+f].Buf
		if f == 0 {
			src = sc.pkts[p].Data
		}
		for len(src) > 0 {
			if off == bs {
				q.SetSlot(j, off, true)
				j++
				dst, off = q.Buffer(j)[:bs], 0
			}
			c := copy(dst[off:], src)
			off += c
			src = src[c:]
		}
	}
	q.SetSlot(j, off, false)
	return j + 1
}
