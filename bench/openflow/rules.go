package ofbench

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Traffic is what pktgen sends: flow f carries the source MAC, IPv4
// address and UDP port of flow 0 plus f (cmd/pktgen), the destination
// fields of flow 0.
type Traffic struct {
	SrcMAC, DstMAC   uint64 // 48 bits
	SrcIP, DstIP     uint32
	SrcPort, DstPort uint16
}

// DefaultTraffic is the traffic of every throughput run.
var DefaultTraffic = Traffic{
	SrcMAC: 0x027067000001, DstMAC: 0x020000000002,
	SrcIP: 0x0a000001, DstIP: 0x0a000002, // 10.0.0.1, 10.0.0.2
	SrcPort: 1234, DstPort: 4321,
}

// Flow returns the varying fields of flow f.
func (t Traffic) Flow(f int) (mac uint64, ip uint32, port uint16) {
	return (t.SrcMAC + uint64(f)) & (1<<48 - 1), t.SrcIP + uint32(f), t.SrcPort + uint16(f)
}

// PktgenArgs are the pktgen flags that make this traffic.
func (t Traffic) PktgenArgs() []string {
	return []string{"-src-mac", macString(t.SrcMAC), "-dst-mac", macString(t.DstMAC),
		"-src-ip", ipString(t.SrcIP), "-dst-ip", ipString(t.DstIP),
		"-sport", fmt.Sprint(t.SrcPort), "-dport", fmt.Sprint(t.DstPort)}
}

func macString(v uint64) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func ipString(v uint32) string {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// A RuleSet is flows in ovs-ofctl's text syntax (OpenFlow 1.3), one a
// line, as `ovs-ofctl -O OpenFlow13 add-flows` reads them; both switches
// get the same lines.
type RuleSet struct {
	Name   string
	Tables int
	Lines  []string
}

// Rules is the number of flows.
func (rs RuleSet) Rules() int { return len(rs.Lines) }

// Text is the add-flows file.
func (rs RuleSet) Text() string { return strings.Join(rs.Lines, "\n") + "\n" }

// The names of the rule sets of the throughput runs.
const (
	SetOne      = "1flow"
	SetThousand = "1000flows"
	SetNSX      = "nsx"
)

// OneFlow is a single flow from port in to port out.
func OneFlow(in, out int) RuleSet {
	return RuleSet{Name: SetOne, Tables: 1, Lines: []string{fmt.Sprintf("table=0,priority=10,in_port=%d,actions=output:%d", in, out)}}
}

// PerFlow is one exact IPv4 source rule for each of the first n flows of t,
// all in table 0: the OVS paper's worst case for its caches when every
// packet belongs to another flow.
func PerFlow(t Traffic, n, out int) RuleSet {
	rs := RuleSet{Name: SetThousand, Tables: 1}
	for f := 0; f < n; f++ {
		_, ip, _ := t.Flow(f)
		rs.Lines = append(rs.Lines, fmt.Sprintf("table=0,priority=10,ip,nw_src=%s,actions=output:%d", ipString(ip), out))
	}
	return rs
}

// NSXLike is a large multi-table rule set after the OVS paper's NSX one
// (103,302 rules in 40 tables), the same idea as the pipeline's benchmark
// (openflow/pipeline/bench_test.go): tables rules per table, each table
// matching its own combination of fields (in_port, dl_src, dl_dst,
// dl_type, nw_src, nw_dst with /16 to /32 prefixes, nw_proto, nw_tos,
// tp_src, tp_dst) and sending on to the next; a third of the rules are
// made from one of the first flows flows of t (so that traffic hits many
// different rules), the rest random. Every table ends in a priority-0
// catch-all to the next table, so every packet goes through all of them;
// the last table outputs to port out. Every path gives the same output:
// the result does not depend on how ties between overlapping rules are
// broken.
func NSXLike(t Traffic, flows, tables, perTable, in, out int) RuleSet {
	r := rand.New(rand.NewPCG(1, 2))
	rs := RuleSet{Name: SetNSX, Tables: tables}
	for tb := 0; tb < tables; tb++ {
		next := fmt.Sprintf("goto_table:%d", tb+1)
		if tb == tables-1 {
			next = fmt.Sprintf("output:%d", out)
		}
		rs.Lines = append(rs.Lines, fmt.Sprintf("table=%d,priority=0,actions=%s", tb, next))
		// A second rule with the match and priority of an earlier one
		// would replace it: every match is new.
		seen := make(map[string]bool)
		for i := 0; len(seen) < perTable; i++ {
			mac, ip, port := r.Uint64()&(1<<48-1)&^(1<<40), r.Uint32(), uint16(r.Uint32())
			if i%3 == 0 {
				mac, ip, port = t.Flow(r.IntN(flows))
			}
			plen := []int{32, 24, 28, 16}[(tb+i)%4]
			var m string
			switch tb % 6 {
			case 0:
				m = "ip,nw_src=" + prefix(ip, plen)
			case 1:
				dst := t.DstIP
				if i%3 != 0 {
					dst = r.Uint32()
				}
				m = "ip,nw_dst=" + prefix(dst, plen) + ",nw_src=" + prefix(ip, 16)
			case 2:
				m = fmt.Sprintf("udp,tp_src=%d", port)
			case 3:
				m = fmt.Sprintf("in_port=%d,dl_src=%s", in, macString(mac))
			case 4:
				m = fmt.Sprintf("udp,nw_src=%s,tp_dst=%d", prefix(ip, max(plen, 24)), t.DstPort+uint16(i%3))
			case 5:
				m = fmt.Sprintf("ip,dl_dst=%s,nw_proto=17,nw_tos=0,nw_src=%s", macString(t.DstMAC), prefix(ip, 32))
			}
			if seen[m] {
				continue
			}
			seen[m] = true
			rs.Lines = append(rs.Lines, fmt.Sprintf("table=%d,priority=%d,%s,actions=%s", tb, 1+r.IntN(100), m, next))
		}
	}
	return rs
}

// prefix writes ip/plen with the host bits cleared (/32: the address).
func prefix(ip uint32, plen int) string {
	mask := ^uint32(0) << (32 - plen)
	if plen == 32 {
		return ipString(ip)
	}
	return fmt.Sprintf("%s/%d", ipString(ip&mask), plen)
}

// Distinct is n rules that differ in their IPv4 destination, in table 0,
// for the flow setup rate.
func Distinct(n, out int) RuleSet {
	rs := RuleSet{Name: fmt.Sprintf("setup%d", n), Tables: 1}
	for i := 0; i < n; i++ {
		rs.Lines = append(rs.Lines, fmt.Sprintf("table=0,priority=10,ip,nw_dst=%s,actions=output:%d", ipString(0x0a800000+uint32(i)), out))
	}
	return rs
}
