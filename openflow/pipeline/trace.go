package pipeline

import (
	"fmt"
	"net"
	"strings"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// Trace runs a copy of pkt, received on inPort, through the pipeline and
// describes what happens, table by table, as ovs-appctl ofproto/trace does:
// the flow each table matched, its instructions, the groups and buckets,
// the action set and the final outputs. It changes no counter and no cache.
// Safe from any goroutine.
func (p *Pipeline) Trace(pkt []byte, inPort uint32) string {
	var b strings.Builder
	w := p.newWorker()
	buf := make([]byte, len(pkt), len(pkt)+64)
	copy(buf, pkt)
	var k Key
	var lay layout
	fmt.Fprintf(&b, "packet: in_port=%d, %d bytes\n", inPort, len(pkt))
	if !extract(buf, inPort, &k, &lay) {
		b.WriteString("malformed (shorter than an Ethernet header): drop\n")
		return b.String()
	}
	fmt.Fprintf(&b, "key: %s\n", formatKey(&k, nil))
	p.mu.RLock()
	x := &w.x
	x.reset(p, w, &k, buf, inPort)
	x.tr = &b
	x.run(0)
	x.tr = nil
	seen, uncacheable := x.seen, x.uncacheable
	p.mu.RUnlock()
	var res Result
	out := w.exec(x.prog.ops, buf, &lay, inPort, &res, false)
	caching, _, wildcards := p.CacheMode()
	switch {
	case uncacheable:
		b.WriteString("megaflow: none (translated for every packet)\n")
	case !caching:
		b.WriteString("megaflow: none (the caches are off)\n")
	case !wildcards:
		fmt.Fprintf(&b, "megaflow: %s, every other field 0 (exact: wildcards are off)\n", formatKey(&k, nil))
	default:
		fmt.Fprintf(&b, "megaflow: %s\n", formatKey(&k, &seen))
	}
	switch {
	case res.InvalidTTL:
		b.WriteString("stopped: invalid TTL\n")
	case res.NoRoom:
		b.WriteString("stopped: no room in the buffer for a push\n")
	}
	if len(res.Outputs) == 0 {
		b.WriteString("final: drop\n")
		return b.String()
	}
	b.WriteString("final:")
	for _, o := range res.Outputs {
		n := len(out)
		if o.Version >= 0 {
			n = len(res.Copies[o.Version])
		}
		fmt.Fprintf(&b, " output:%s(%d bytes", portName(o.Port), n)
		if o.Port == ofp.PortController {
			fmt.Fprintf(&b, ", reason %d, table %d, cookie %#x", o.Reason, o.TableID, o.Cookie)
		}
		b.WriteString(")")
	}
	b.WriteString("\n")
	return b.String()
}

func portName(p uint32) string {
	switch p {
	case ofp.PortInPort:
		return "IN_PORT"
	case ofp.PortTable:
		return "TABLE"
	case ofp.PortNormal:
		return "NORMAL"
	case ofp.PortFlood:
		return "FLOOD"
	case ofp.PortAll:
		return "ALL"
	case ofp.PortController:
		return "CONTROLLER"
	case ofp.PortLocal:
		return "LOCAL"
	case ofp.PortAny:
		return "ANY"
	}
	return utoa(uint64(p))
}

// formatKey prints the fields of k under mask (nil: the fields a packet
// has), as field=value pairs.
func formatKey(k, mask *Key) string {
	var parts []string
	for f := ofp.OXMField(0); int(f) < len(fields); f++ {
		d := fields[f]
		if d.bits == 0 || f == ofp.OXMInPhyPort {
			continue
		}
		switch f {
		case ofp.OXMUDPSrc, ofp.OXMUDPDst, ofp.OXMSCTPSrc, ofp.OXMSCTPDst, ofp.OXMICMPv4Type, ofp.OXMICMPv4Code,
			ofp.OXMICMPv6Type, ofp.OXMICMPv6Code, ofp.OXMARPSpa, ofp.OXMARPTpa, ofp.OXMIPv6NDSLL, ofp.OXMIPv6NDTLL:
			continue // shown under the field sharing their bits
		}
		if d.bits == 128 {
			m0, m1 := ^uint64(0), ^uint64(0)
			if mask != nil {
				m0, m1 = mask[d.word], mask[d.word+1]
			}
			if m0|m1 == 0 || (mask == nil && k[d.word]|k[d.word+1] == 0) {
				continue
			}
			var ip [16]byte
			be.PutUint64(ip[:], k[d.word]&m0)
			be.PutUint64(ip[8:], k[d.word+1]&m1)
			parts = append(parts, f.String()+"="+net.IP(ip[:]).String())
			continue
		}
		w := ones(d.bits) << d.shift
		mk := w
		if mask != nil {
			mk = mask[d.word] & w
		}
		v := k[d.word] & mk
		if mk == 0 || (mask == nil && v == 0 && f != ofp.OXMInPort && f != ofp.OXMEthType) {
			continue
		}
		s := fmt.Sprintf("%s=%#x", f, v>>d.shift)
		if mk != w {
			s += fmt.Sprintf("/%#x", mk>>d.shift)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// formatMatch prints an OXM match as field=value[/mask] pairs.
func formatMatch(m *ofp.Match) string {
	if len(m.Fields) == 0 {
		return "(all)"
	}
	parts := make([]string, 0, len(m.Fields))
	for _, o := range m.Fields {
		parts = append(parts, formatOXM(o))
	}
	return strings.Join(parts, ",")
}

func formatOXM(o ofp.OXM) string {
	s := o.Field.String() + "=" + fmt.Sprintf("%#x", o.Value)
	if o.Mask != nil {
		s += fmt.Sprintf("/%#x", o.Mask)
	}
	return s
}

// formatActions prints an action list in ovs-ofctl's style.
func formatActions(acts []ofp.Action) string {
	parts := make([]string, 0, len(acts))
	for _, a := range acts {
		var s string
		switch a := a.(type) {
		case ofp.ActionOutput:
			s = "output:" + portName(a.Port)
			if a.Port == ofp.PortController {
				s += fmt.Sprintf("(max_len=%d)", a.MaxLen)
			}
		case ofp.ActionGroup:
			s = fmt.Sprintf("group:%d", a.GroupID)
		case ofp.ActionSetField:
			s = "set_field:" + fmt.Sprintf("%#x", a.Field.Value) + "->" + a.Field.Field.String()
		case ofp.ActionPushVLAN:
			s = fmt.Sprintf("push_vlan:%#x", a.EtherType)
		case ofp.ActionPopVLAN:
			s = "pop_vlan"
		case ofp.ActionPushMPLS:
			s = fmt.Sprintf("push_mpls:%#x", a.EtherType)
		case ofp.ActionPopMPLS:
			s = fmt.Sprintf("pop_mpls:%#x", a.EtherType)
		case ofp.ActionPushPBB:
			s = fmt.Sprintf("push_pbb:%#x", a.EtherType)
		case ofp.ActionPopPBB:
			s = "pop_pbb"
		case ofp.ActionSetNWTTL:
			s = fmt.Sprintf("set_nw_ttl:%d", a.TTL)
		case ofp.ActionDecNWTTL:
			s = "dec_ttl"
		case ofp.ActionSetMPLSTTL:
			s = fmt.Sprintf("set_mpls_ttl:%d", a.TTL)
		case ofp.ActionDecMPLSTTL:
			s = "dec_mpls_ttl"
		case ofp.ActionCopyTTLIn:
			s = "copy_ttl_in"
		case ofp.ActionCopyTTLOut:
			s = "copy_ttl_out"
		case ofp.ActionSetQueue:
			s = fmt.Sprintf("set_queue:%d", a.QueueID)
		default:
			s = fmt.Sprintf("action_%d", a.ActionType())
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "drop"
	}
	return strings.Join(parts, ",")
}
