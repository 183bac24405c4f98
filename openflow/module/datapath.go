package ofmodule

import (
	"context"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/openflow/channel"
	"github.com/mswitch/mswitch/openflow/ofp"
)

// injector forwards the injection port's queue whenever inject kicks it.
func (m *Module) injector(sw *fabric.Switch, id logic.PortID) {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case <-m.injKick:
		}
		for {
			n, err := sw.Forward(id, 0)
			if n == 0 || err != nil {
				break
			}
		}
	}
}

// Features implements channel.Datapath.
func (m *Module) Features() channel.Features {
	m.cfgMu.Lock()
	dpid := m.cfg.DatapathID
	name := ""
	if m.sw != nil {
		name = m.sw.Name()
	}
	m.cfgMu.Unlock()
	if name == "" {
		name = "None"
	}
	return channel.Features{
		DatapathID: dpid, NTables: uint8(m.p.Tables()),
		Capabilities: ofp.CapFlowStats | ofp.CapTableStats | ofp.CapPortStats | ofp.CapGroupStats,
		DPDesc:       name,
	}
}

// Handle implements channel.Datapath.
func (m *Module) Handle(ctx context.Context, req *channel.Request) ([]ofp.Message, error) {
	switch msg := req.Msg.(type) {
	case *ofp.FlowMod:
		if msg.BufferID != ofp.NoBuffer && msg.Command != ofp.FlowDelete && msg.Command != ofp.FlowDeleteStrict {
			// Apply the flow, then say the buffer is unknown (we never buffer).
			if _, err := m.p.FlowMod(msg); err != nil {
				return nil, err
			}
			return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBufferUnknown, Reason: "no buffers"}
		}
		rs, err := m.p.FlowMod(msg)
		m.notifyRemoved(rs)
		return nil, err
	case *ofp.GroupMod:
		rs, err := m.p.GroupMod(msg)
		m.notifyRemoved(rs)
		return nil, err
	case *ofp.TableMod:
		return nil, m.p.TableMod(msg)
	case *ofp.PortMod:
		if !m.portLive(msg.PortNo) {
			return nil, &ofp.Error{Type: ofp.ETPortModFailed, Code: ofp.PMFCBadPort, Reason: "no such port"}
		}
		return nil, nil
	case *ofp.MeterMod:
		rs, err := m.p.MeterMod(msg)
		m.notifyRemoved(rs)
		return nil, err
	case *ofp.PacketOut:
		return nil, m.packetOut(msg)
	case *ofp.QueueGetConfigRequest:
		return []ofp.Message{&ofp.QueueGetConfigReply{Port: msg.Port}}, nil
	case *ofp.MultipartRequest:
		body, err := m.multipart(msg.Body)
		if err != nil || body == nil {
			return nil, err
		}
		return []ofp.Message{&ofp.MultipartReply{Body: body}}, nil
	}
	return nil, nil
}

func (m *Module) multipart(b ofp.MultipartBody) (ofp.MultipartBody, error) {
	if r, err := m.p.Multipart(b); r != nil || err != nil {
		return r, err
	}
	switch b := b.(type) {
	case *ofp.PortDescRequest:
		rep := &ofp.PortDescReply{}
		ps := m.ports.Load()
		for _, st := range m.portStats() {
			rep.Ports = append(rep.Ports, ofPort(st.ID, ps.ofNo(st.ID), st.Name))
		}
		return rep, nil
	case *ofp.PortStatsRequest:
		rep := &ofp.PortStatsReply{Stats: []ofp.PortStats{}}
		ps := m.ports.Load()
		for _, st := range m.portStats() {
			no := ofPort(st.ID, ps.ofNo(st.ID), st.Name).PortNo
			if b.PortNo != ofp.PortAny && b.PortNo != no {
				continue
			}
			rep.Stats = append(rep.Stats, ofp.PortStats{
				PortNo: no, RxPackets: st.RxPackets, TxPackets: st.TxPackets, RxBytes: st.RxBytes, TxBytes: st.TxBytes,
				RxDropped: st.Drops[fabric.DropLookup] + st.Drops[fabric.DropMalformed],
				TxDropped: st.Drops[fabric.DropQueueFull] + st.Drops[fabric.DropOversize] + st.Drops[fabric.DropNoPort],
			})
		}
		if b.PortNo != ofp.PortAny && len(rep.Stats) == 0 {
			return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadPort, Reason: "no such port"}
		}
		return rep, nil
	case *ofp.QueueStatsRequest:
		return &ofp.QueueStatsReply{Stats: []ofp.QueueStats{}}, nil
	}
	return nil, nil
}

// portStats returns the fabric's counters of the OpenFlow ports.
func (m *Module) portStats() []fabric.PortStats {
	sw := m.swp.Load()
	if sw == nil {
		return nil
	}
	ps := m.ports.Load()
	var out []fabric.PortStats
	for _, st := range sw.Stats() {
		if ps.has(st.ID) {
			out = append(out, st)
		}
	}
	return out
}

// packetOut runs a PACKET_OUT's actions and injects the results.
func (m *Module) packetOut(po *ofp.PacketOut) error {
	if po.BufferID != ofp.NoBuffer {
		return &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBufferUnknown, Reason: "no buffers"}
	}
	ps := m.ports.Load()
	inPort := po.InPort
	if inPort == ofp.PortLocal && ps.local >= 0 {
		inPort = ps.ofNo(logic.PortID(ps.local))
	}
	buf := make([]byte, len(po.Data), len(po.Data)+64)
	copy(buf, po.Data)
	m.ctlMu.Lock()
	defer m.ctlMu.Unlock()
	res := &m.ctlRes
	pkt, err := m.ctlW.PacketOut(buf, inPort, po.Actions, res)
	if err != nil {
		return err
	}
	if res.Malformed {
		return &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadLen, Reason: "packet shorter than an Ethernet header"}
	}
	in, real := ps.port(inPort)
	var w worker
	for k := range res.Outputs {
		o := &res.Outputs[k]
		data := pkt
		if o.Version >= 0 {
			data = res.Copies[o.Version]
		}
		switch o.Port {
		case ofp.PortController:
			if ch := m.ch.Load(); ch != nil {
				m.packetInFrom(&w, o, data, po.InPort, ch)
			}
		case ofp.PortInPort:
			if real {
				m.inject(data, injDst{port: in})
			}
		case ofp.PortFlood, ofp.PortAll:
			m.inject(data, injDst{port: in, allBut: true, none: !real})
		case ofp.PortLocal:
			if ps.local >= 0 {
				m.inject(data, injDst{port: logic.PortID(ps.local)})
			}
		default:
			if id, ok := ps.port(o.Port); ok {
				m.inject(data, injDst{port: id})
			}
		}
	}
	return nil
}

var _ channel.Datapath = (*Module)(nil)
var _ logic.PortObserver = (*Module)(nil)
