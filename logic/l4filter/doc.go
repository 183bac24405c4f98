// Package l4filter is the middlebox filter of the mSwitch paper (§5.2): it
// sends each TCP or UDP packet to the switch port mapped to its destination
// or source L4 port, and drops everything else.
//
// # Synopsis
//
//	f := l4filter.New()
//	f.Add(frame.ProtoTCP, 80, 3)  // HTTP, both ways, to the proxy on port 3
//	f.Add(frame.ProtoUDP, 53, 4)  // DNS to the resolver on port 4
//	sw.SetLogic(f)
//
// or, by name, logic.New("l4filter").
//
// # Description
//
// The module keeps two arrays of 65,536 entries, one for TCP and one for
// UDP, from L4 port to switch port. A packet goes to the switch port mapped
// by its destination L4 port; failing that, to the one mapped by its source
// L4 port, so that a rule for port 80 captures both the requests to a server
// and its replies. A packet with neither mapped is dropped.
//
// Headers are read in place with package frame: Ethernet, up to two VLAN
// tags (802.1Q, 802.1ad or 0x9100, in any order), IPv4 with options, IPv6
// with hop-by-hop, routing, destination options and fragment headers. An
// IP packet shorter than the frame (Ethernet padding) is cut at its own
// length first, so padding is never read as a port. Each packet falls in
// one of four cases, each with a counter (see Stats):
//
//	matched    a rule for its destination or source port  -> that port
//	unmatched  TCP or UDP, no rule for either port          -> logic.Drop
//	notL4      well-formed, but no TCP or UDP header:       -> logic.Drop
//	           non-IP EtherTypes (ARP, LLDP...), other IP
//	           protocols (ICMP, ICMPv6, ESP, AH, SCTP...),
//	           IPv4 and IPv6 fragments other than the first
//	malformed  a frame shorter than 14 bytes, more than two  -> logic.DropMalformed
//	           VLAN tags or a cut tag, an IP header that is
//	           cut, has the wrong version, a bad IHL or a
//	           total length below its header, IPv6 extension
//	           headers cut or more than 7 deep, a TCP header
//	           under 20 bytes or a UDP header under 8
//
// The fabric counts logic.Drop as a lookup drop and logic.DropMalformed as
// a malformed drop on the input port; the module's own counters say which
// case it was. A matched packet whose output port is its input port is
// dropped by the fabric as a loop.
//
// Lookup reads each table entry with one atomic load and never allocates;
// rules may be added and deleted while traffic flows, each change being
// seen by the next packets looked up. The counters are updated once per
// batch.
//
// Rules name switch port IDs. When a port is detached, the module (as a
// logic.PortObserver) deletes the rules that point to it, so a port that
// later reuses the ID does not receive its predecessor's traffic.
//
// # Arguments
//
// None: a new instance has no rules and drops everything. An instance
// reserves 512 KiB for its tables, whatever the number of rules (zeroed
// memory, so the pages no rule or lookup touched cost nothing).
//
// # Commands
//
//	Add(proto, l4port, out)  map TCP or UDP port l4port to switch port out,
//	                         replacing the rule for that port if any
//	Delete(proto, l4port)    remove a rule
//	Rules()                  the rules, TCP first, by L4 port
//	Stats()                  the per-case packet counters
//
// Commands may be called at any time, from any goroutine.
//
// # See also
//
// Package logic for the module contract, package frame for the parsers,
// xconnect for a mapping by input port; the paper's §5.3 3-tuple filter
// (multistack) for an exact <protocol, IP, port> match.
package l4filter
