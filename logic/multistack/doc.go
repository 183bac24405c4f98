// Package multistack is the MultiStack module of the mSwitch paper (§5.3):
// it lets user-level protocol stacks share the host's IP addresses with the
// kernel's stack. Each stack, on its own switch port, reserves the
// <protocol, local IP, local port> 3-tuples it serves; the module steers
// each packet from the NIC to the stack that owns its destination tuple,
// everything else to the host's stack, and checks that no stack sends from
// a tuple it does not own.
//
// # Synopsis
//
//	m := multistack.New()
//	m.SetNIC(0)  // the uplink
//	m.SetHost(1) // the host's stack, through a TAP port
//	m.Reserve(multistack.Tuple{Proto: frame.ProtoTCP, IP: netip.MustParseAddr("10.0.0.1"), Port: 80}, 2)
//	sw.SetLogic(m)
//
// or, by name, logic.New("multistack").
//
// # Description
//
// Ports have one of three roles: the NIC port (the uplink), the host port
// (the kernel's stack, normally a TAP port) and stack ports (every other
// port; a stack port is a port holding reservations, or one about to).
// The reservations are an exact-match hash table from <TCP or UDP, IPv4 or
// IPv6 address, L4 port> to the stack port that owns the tuple.
//
// Headers are read in place: Ethernet with up to two VLAN tags (package
// frame), ARP, IPv4 with options, IPv6 with hop-by-hop, routing,
// destination options and fragment headers. Each packet is decided by the
// role of its input port, and counted under one outcome (see Stats):
//
//	                                                   goes to        counted as
//	from the NIC port
//	  to a group MAC (broadcast, multicast); ARP;      host + stacks  shared
//	    ICMPv6 neighbour discovery (types 133-137)
//	  TCP or UDP to a reserved <proto, dst IP, port>   its owner      to_stack
//	  anything else: TCP or UDP unreserved, ICMP,      host port      to_host
//	    other IP protocols, other EtherTypes
//	from a stack port
//	  TCP or UDP from a <proto, src IP, port> the      NIC port       to_nic
//	    port holds
//	  ARP whose sender IP, or neighbour discovery      NIC port       to_nic
//	    whose IPv6 source, is an address the port
//	    holds a reservation on
//	  other TCP, UDP, ARP or neighbour discovery       drop           spoofed
//	  anything else                                    drop           not_owned
//	from the host port
//	  TCP or UDP from a tuple another port holds       drop           spoofed
//	  anything else                                    NIC port       to_nic
//
// Drops that apply before the table above, from the NIC and stack ports
// (a frame from the NIC to a group address is shared unparsed):
//
//	fragment      an IPv4 fragment (MF set or offset not zero) or an IPv6
//	              packet with a fragment header: its later fragments carry
//	              no ports, so it cannot be steered whole
//	bad_checksum  an IPv4 header whose checksum does not verify (from the
//	              host port too)
//	malformed     a frame under 14 bytes, more than two VLAN tags, an IP
//	              header cut or inconsistent (version, IHL, total length),
//	              more than 8 IPv6 extension headers, a TCP header under 20
//	              bytes, a UDP header under 8, a cut IPv4 ARP packet or
//	              ICMPv6 header (logic.DropMalformed; from the host too)
//
// and where a role is missing:
//
//	no_host  for the host (or the shared set) with no host port and no stack
//	no_nic   for the NIC with no NIC port
//
// Stacks and the host reach the NIC only, never each other: a stack's
// packet to the host's address leaves through the NIC like any other. The
// host's fragments go to the NIC: a first fragment is checked by its
// ports, later ones carry none. An IP packet shorter than its frame is cut
// at its own length first, so that Ethernet padding is never read as a
// header.
//
// The user-level stacks share the host's MAC and IP addresses, so they
// receive the neighbour protocols' packets along with the host, and may
// answer and ask for the addresses they hold reservations on. The paper's
// stacks reserved tuples through an ioctl, and the kernel then refused
// bind() on them; here the reservations are made through the daemon, which
// refuses a tuple the host's stack has a socket bound to, and the module
// drops what the host sends from a reserved tuple.
//
// Lookup loads the current table with one atomic load and looks each
// packet up in an open-addressing hash table (at most a quarter full, with
// a random seed per table) without locking or allocating. Every change
// builds a new immutable table and swaps it in, so changes cost
// O(reservations), may be made at any time from any goroutine, and are
// seen by the next batch. The counters are updated once per batch.
// Untagged IPv4 TCP and UDP without options, most of the traffic, is read
// by a shorter path than the rest (a fuzz target checks that both read the
// same).
//
// Reservations and roles name switch port IDs. When a port is detached,
// the module (as a logic.PortObserver) releases its reservations and clears
// its role, so a port that later reuses the ID inherits nothing.
//
// # Arguments
//
// None: a new instance has no roles and no reservations; it drops what it
// receives (no_host, no_nic) until its roles are set.
//
// # Commands
//
//	Reserve(tuple, out)  give a TCP or UDP <IP, port> tuple to stack port
//	                     out; refused if reserved already (ErrReserved), if
//	                     out is the NIC or host port (ErrRole), or for a
//	                     wildcard, multicast or broadcast address (ErrBadIP)
//	Release(tuple)       delete a reservation
//	Owner(tuple)         the port holding a tuple
//	Reservations()       the reservations, sorted
//	SetNIC(id)           make port id the NIC port; NoPort clears the role
//	SetHost(id)          make port id the host port; NoPort clears the role
//	SetRoles(nic, host)  both at once (to swap them)
//	NIC(), Host()        the roles' ports, or NoPort
//	Stats()              the per-outcome packet counters
//
// A port holding reservations can take no role, and one port cannot be both
// NIC and host (ErrRole). Commands may be called at any time, from any
// goroutine.
//
// # See also
//
// Package logic for the module contract, package frame for the parsers,
// l4filter for the paper's §5.2 filter on L4 ports alone, and the daemon's
// /v1/switches/{sw}/multistack routes (mswitchctl multistack) for
// reservations that check the host's sockets and persist.
package multistack
