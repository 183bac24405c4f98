package ofmodule

import (
	"sync/atomic"
	"unsafe"

	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/openflow/ofp"
	"github.com/mswitch/mswitch/openflow/pipeline"
)

// worker is the state of one input queue's Lookup calls.
type worker struct {
	w   *pipeline.Worker
	res pipeline.Result
	set []logic.PortID // ToSet lists of the current batch
	pi  ofp.PacketIn
	oxm [3]ofp.OXM
}

func (m *Module) newWorker() *worker { return &worker{w: m.p.NewWorker()} }

// portWorkers are the workers of one input port, one per input queue.
type portWorkers struct {
	slots [8]workerSlot
}

type workerSlot struct {
	key  atomic.Uintptr // address of the queue's packet array; 0: free
	busy atomic.Bool
	w    atomic.Pointer[worker]
}

// acquire returns the worker of the input queue whose batch is pkts, and
// the slot to release (nil for a pooled worker).
func (m *Module) acquire(pkts []logic.Packet, in logic.PortID) (*worker, *workerSlot) {
	key := uintptr(unsafe.Pointer(unsafe.SliceData(pkts)))
	ws := *m.workers.Load()
	if int(in) < len(ws) && ws[in] != nil {
		pw := ws[in]
		for i := range pw.slots {
			s := &pw.slots[i]
			if s.key.Load() == key {
				if s.busy.CompareAndSwap(false, true) {
					return s.w.Load(), s
				}
				break
			}
		}
		for i := range pw.slots {
			s := &pw.slots[i]
			if s.key.CompareAndSwap(0, key) {
				s.busy.Store(true)
				w := m.reuse()
				s.w.Store(w)
				return w, s
			}
		}
	}
	w := m.pool.Get().(*worker)
	w.set = nil // the fabric may still read the lists of its last user
	return w, nil
}

func (m *Module) release(w *worker, s *workerSlot) {
	if s != nil {
		s.busy.Store(false)
		return
	}
	m.pool.Put(w)
}

// reuse returns a worker of a removed port, or a new one.
func (m *Module) reuse() *worker {
	m.freeMu.Lock()
	defer m.freeMu.Unlock()
	if n := len(m.free); n > 0 {
		w := m.free[n-1]
		m.free = m.free[:n-1]
		return w
	}
	return m.newWorker()
}

// Lookup implements logic.Logic.
func (m *Module) Lookup(pkts []logic.Packet, in logic.PortID) {
	if int32(in) == m.injectID.Load() {
		m.lookupInjected(pkts)
		return
	}
	if m.failOpen.Load() {
		m.learn.Lookup(pkts, in)
		return
	}
	w, s := m.acquire(pkts, in)
	w.set = w.set[:0]
	ps := m.ports.Load()
	inNo := ps.ofNo(in)
	for i := range pkts {
		m.process(w, &pkts[i], in, inNo, ps)
	}
	m.release(w, s)
}

// process runs one packet, received on fabric port in (OpenFlow port
// inNo), through the pipeline and sets its destination.
func (m *Module) process(w *worker, p *logic.Packet, in logic.PortID, inNo uint32, ps *portSet) {
	res := &w.res
	p.Data = w.w.Process(p.Data, inNo, res)
	if len(res.Outputs) == 1 {
		// The common case, what the loop below does for it: one output,
		// to a port, of the packet as Process returned it.
		if o := &res.Outputs[0]; o.Version < 0 && o.Port <= ofp.PortMax {
			p.Dst = logic.Drop
			if id, ok := ps.port(o.Port); ok {
				p.Dst = logic.To(id)
			}
			return
		}
	}
	p.Dst = logic.Drop
	if res.Malformed {
		p.Dst = logic.DropMalformed
		return
	}
	d := logic.Drop
	start := len(w.set)
	flood := false // d == ToSet with Set = ps.ids
	for k := range res.Outputs {
		o := &res.Outputs[k]
		if o.Port == ofp.PortController {
			data := p.Data
			if o.Version >= 0 {
				data = res.Copies[o.Version]
			}
			m.packetIn(w, o, data, in)
			continue
		}
		if o.Version >= 0 {
			m.injectTo(res.Copies[o.Version], o.Port, in, ps)
			continue
		}
		var od logic.Dst
		switch o.Port {
		case ofp.PortInPort:
			od = logic.ToInPort
		case ofp.PortFlood, ofp.PortAll:
			od = logic.ToSet
		case ofp.PortLocal:
			if ps.local < 0 {
				continue
			}
			od = logic.To(logic.PortID(ps.local))
		default:
			id, ok := ps.port(o.Port)
			if !ok {
				continue
			}
			od = logic.To(id)
		}
		if d == logic.Drop {
			d, flood = od, od == logic.ToSet
			continue
		}
		// A second destination: the packet goes to a set.
		if d != logic.ToSet || flood {
			w.set = m.appendDst(w.set, d, flood, p.Data, in, ps)
			d, flood = logic.ToSet, false
		}
		w.set = m.appendDst(w.set, od, od == logic.ToSet, p.Data, in, ps)
	}
	p.Dst = d
	if d == logic.ToSet {
		if flood {
			p.Set = ps.ids
		} else {
			p.Set = w.set[start:len(w.set):len(w.set)]
		}
	}
}

// appendDst adds destination d to a ToSet list. A hairpin cannot be in a
// list (ToSet skips the input port): it is injected.
func (m *Module) appendDst(set []logic.PortID, d logic.Dst, flood bool, data []byte, in logic.PortID, ps *portSet) []logic.PortID {
	switch {
	case flood:
		return append(set, ps.ids...)
	case d == logic.ToInPort:
		m.inject(data, injDst{port: in})
		return set
	}
	id, _ := d.Port()
	return append(set, id)
}

// injectTo injects data for output port o of a packet received on in.
func (m *Module) injectTo(data []byte, o uint32, in logic.PortID, ps *portSet) {
	switch o {
	case ofp.PortInPort:
		m.inject(data, injDst{port: in})
	case ofp.PortFlood, ofp.PortAll:
		m.inject(data, injDst{port: in, allBut: true})
	case ofp.PortLocal:
		if ps.local >= 0 {
			m.inject(data, injDst{port: logic.PortID(ps.local)})
		}
	default:
		if id, ok := ps.port(o); ok && id != in {
			m.inject(data, injDst{port: id})
		}
	}
}

// packetIn sends data to the controllers.
func (m *Module) packetIn(w *worker, o *pipeline.Output, data []byte, in logic.PortID) {
	ch := m.ch.Load()
	if ch == nil {
		return
	}
	ps := m.ports.Load()
	inPort := ps.ofNo(in)
	if int(in) == ps.local {
		inPort = ofp.PortLocal
	}
	m.packetInFrom(w, o, data, inPort, ch)
}

func (m *Module) packetInFrom(w *worker, o *pipeline.Output, data []byte, inPort uint32, ch interface {
	PacketIn(*ofp.PacketIn, uint16)
}) {
	var b [3][8]byte
	putU32(b[0][:4], inPort)
	w.oxm[0] = ofp.OXM{Class: ofp.OXMClassBasic, Field: ofp.OXMInPort, Value: b[0][:4]}
	n := 1
	if o.Metadata != 0 {
		putU64(b[1][:], o.Metadata)
		w.oxm[n] = ofp.OXM{Class: ofp.OXMClassBasic, Field: ofp.OXMMetadata, Value: b[1][:]}
		n++
	}
	if o.TunnelID != 0 {
		putU64(b[2][:], o.TunnelID)
		w.oxm[n] = ofp.OXM{Class: ofp.OXMClassBasic, Field: ofp.OXMTunnelID, Value: b[2][:]}
		n++
	}
	w.pi = ofp.PacketIn{Reason: o.Reason, TableID: o.TableID, Cookie: o.Cookie,
		Match: ofp.Match{Fields: w.oxm[:n]}, Data: data, TotalLen: uint16(min(len(data), 0xffff))}
	ch.PacketIn(&w.pi, o.MaxLen)
	m.packetIns.Add(1)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
func putU64(b []byte, v uint64) { putU32(b, uint32(v>>32)); putU32(b[4:], uint32(v)) }

// injDst is where an injected packet goes: port, or with allBut every
// OpenFlow port but port.
type injDst struct {
	port   logic.PortID
	allBut bool
	none   bool // allBut with no exception (PACKET_OUT from the controller)
}

// inject sends a copy of data into the fabric through the injection port,
// bound for dst. Never blocks; a frame that does not fit is dropped.
func (m *Module) inject(data []byte, dst injDst) {
	m.injMu.Lock()
	end := m.injPipe
	if end == nil || m.injTail-m.injHead == uint64(len(m.injFIFO)) {
		m.injMu.Unlock()
		m.injDrops.Add(1)
		return
	}
	m.injOne[0] = data
	n, _ := end.End().Send(0, m.injOne[:])
	m.injOne[0] = nil
	if n == 1 {
		m.injFIFO[m.injTail&uint64(len(m.injFIFO)-1)] = dst
		m.injTail++
	}
	m.injMu.Unlock()
	if n != 1 {
		m.injDrops.Add(1)
		return
	}
	m.injected.Add(1)
	select {
	case m.injKick <- struct{}{}:
	default:
	}
}

// lookupInjected sets the destinations of injected packets, in the order
// they were injected. Only the injector goroutine gets here.
func (m *Module) lookupInjected(pkts []logic.Packet) {
	ps := m.ports.Load()
	m.injSet = m.injSet[:0]
	m.injMu.Lock()
	defer m.injMu.Unlock()
	for i := range pkts {
		p := &pkts[i]
		p.Dst = logic.Drop
		if m.injHead == m.injTail {
			continue // cannot happen: one entry per accepted frame
		}
		d := m.injFIFO[m.injHead&uint64(len(m.injFIFO)-1)]
		m.injHead++
		if !d.allBut {
			if ps.has(d.port) {
				p.Dst = logic.To(d.port)
			}
			continue
		}
		if d.none {
			p.Dst, p.Set = logic.ToSet, ps.ids
			continue
		}
		start := len(m.injSet)
		for _, id := range ps.ids {
			if id != d.port {
				m.injSet = append(m.injSet, id)
			}
		}
		p.Dst, p.Set = logic.ToSet, m.injSet[start:len(m.injSet):len(m.injSet)]
	}
}
