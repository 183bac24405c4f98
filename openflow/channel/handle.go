package channel

import (
	"github.com/mswitch/mswitch/openflow/ofp"
)

func errIsSlave(t ofp.MsgType) error {
	return &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCIsSlave, Reason: t.String() + " from a slave controller"}
}

// handle processes one decoded message from the controller and returns its
// replies; an error is answered with an OFPT_ERROR. The package doc has
// the table of what is answered here and what goes to the datapath.
func (c *conn) handle(xid uint32, m ofp.Message) ([]ofp.Message, error) {
	s := c.sw
	switch m := m.(type) {
	case *ofp.Hello:
		return nil, nil // a repeated HELLO changes nothing
	case *ofp.EchoRequest:
		return []ofp.Message{&ofp.EchoReply{Data: m.Data}}, nil
	case *ofp.EchoReply:
		return nil, nil // any message counts as a keepalive answer
	case *ofp.ErrorMsg:
		c.log.Info("openflow: error from controller", "xid", xid, "err", m.Err())
		return nil, nil
	case *ofp.Experimenter:
		return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadExperimenter, Reason: "no experimenter messages"}
	case *ofp.FeaturesRequest:
		f := s.dp.Features()
		return []ofp.Message{&ofp.FeaturesReply{DatapathID: f.DatapathID, NTables: f.NTables, Capabilities: f.Capabilities}}, nil
	case *ofp.GetConfigRequest:
		flags, msl := s.Config()
		return []ofp.Message{&ofp.GetConfigReply{Flags: flags, MissSendLen: msl}}, nil
	case *ofp.SetConfig:
		if m.Flags&^ofp.FragMask != 0 {
			return nil, &ofp.Error{Type: ofp.ETSwitchConfigFailed, Code: ofp.SCFCBadFlags}
		}
		s.setConfig(m.Flags, m.MissSendLen)
		return nil, nil
	case *ofp.BarrierRequest:
		// Earlier messages are done: they were handled in order and
		// their replies are ahead in the queue.
		return []ofp.Message{&ofp.BarrierReply{}}, nil
	case *ofp.RoleRequest:
		r, err := s.requestRole(c, m)
		if err != nil {
			return nil, err
		}
		return []ofp.Message{r}, nil
	case *ofp.GetAsyncRequest:
		return []ofp.Message{&ofp.GetAsyncReply{AsyncConfig: *c.async.Load()}}, nil
	case *ofp.SetAsync:
		a := m.AsyncConfig
		c.async.Store(&a)
		return nil, nil
	case *ofp.MultipartRequest:
		switch b := m.Body.(type) {
		case *ofp.DescRequest:
			return []ofp.Message{&ofp.MultipartReply{Body: s.descReply()}}, nil
		case *ofp.ExperimenterMultipart:
			return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadExperimenter, Reason: "no experimenter multipart"}
		case *ofp.TableFeaturesRequest:
			if len(b.Tables) > 0 && c.role.Load() == ofp.RoleSlave {
				return nil, errIsSlave(m.Type())
			}
		}
		return c.toDatapath(xid, m)
	case *ofp.FlowMod, *ofp.GroupMod, *ofp.PortMod, *ofp.TableMod, *ofp.MeterMod, *ofp.PacketOut:
		if c.role.Load() == ofp.RoleSlave {
			return nil, errIsSlave(m.Type())
		}
		return c.toDatapath(xid, m)
	case *ofp.QueueGetConfigRequest:
		return c.toDatapath(xid, m)
	}
	// Messages only a switch sends: FEATURES_REPLY, PACKET_IN, replies...
	return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadType, Reason: m.Type().String() + " is not a controller-to-switch message"}
}

// toDatapath passes m to the datapath. A request that needs an answer and
// got none is refused: a controller would wait for it forever.
func (c *conn) toDatapath(xid uint32, m ofp.Message) ([]ofp.Message, error) {
	replies, err := c.sw.dp.Handle(c.ctx, &Request{Conn: c.id, XID: xid, Msg: m})
	if err != nil || len(replies) > 0 {
		return replies, err
	}
	switch m := m.(type) {
	case *ofp.MultipartRequest:
		if m.Flags&ofp.MultipartRequestMore == 0 {
			c.log.Warn("openflow: datapath answered no multipart request", "multipart", m.Body.MultipartType(), "xid", xid)
			return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadMultipart, Reason: "not supported by the datapath"}
		}
	case *ofp.QueueGetConfigRequest:
		c.log.Warn("openflow: datapath answered no queue config request", "xid", xid)
		return nil, &ofp.Error{Type: ofp.ETBadRequest, Code: ofp.BRCBadType, Reason: "not supported by the datapath"}
	}
	return nil, nil
}

// descReply fills the DESC reply from the datapath's features.
func (s *Switch) descReply() *ofp.DescReply {
	f := s.dp.Features()
	d := s.desc
	for _, p := range []struct {
		dst *string
		src string
	}{
		{&d.HWDesc, f.HWDesc}, {&d.SWDesc, f.SWDesc}, {&d.SerialNum, f.SerialNum}, {&d.DPDesc, f.DPDesc},
	} {
		if p.src != "" {
			*p.dst = p.src
		}
	}
	return &d
}
