// Package xconnect is the cross-connect switching logic: a static map from
// input port to output port, with no look at the packets at all. It is the
// paper's "dummy" module, the baseline that measures the fabric alone, and
// VPP's l2-patch.
//
// # Synopsis
//
//	x := xconnect.New()
//	x.Pair(1, 2)    // 1 -> 2 and 2 -> 1
//	x.Connect(3, 1) // 3 -> 1 only
//	sw.SetLogic(x)
//
// or, by name, logic.New("xconnect").
//
// # Description
//
// Every packet that arrives on a connected input port goes to that port's
// output port; every packet from an input port with no mapping is dropped
// (logic.Drop, counted by the fabric as a lookup drop). The packet bytes are
// never read, so any packet is forwarded as it is, even an empty one or a
// runt frame that a parsing module would call malformed.
//
// Lookup reads the table once per batch (one atomic pointer load and one
// index) and writes the same destination into every packet: it costs a
// store per packet and never allocates. The table is copy-on-write: a change
// builds a new table and publishes it atomically, so changes may be made
// while traffic flows; a batch is decided entirely by the old table or by
// the new one.
//
// A mapping names port IDs, not ports. When a port is detached, the module
// (as a logic.PortObserver) forgets every mapping from and to it, so a port
// that later reuses the ID starts unconnected. Mapping a port to a port that
// is not attached is allowed: the fabric drops those packets (as "no port")
// until the port exists.
//
// # Arguments
//
// None: a new instance has an empty map and drops everything.
//
// # Commands
//
//	Connect(in, out)  send everything from in to out (replacing in's mapping)
//	Pair(a, b)        Connect(a, b) and Connect(b, a), in one change
//	Disconnect(in)    drop everything from in again
//	Map()             the current mappings, input -> output
//
// Commands may be called at any time, from any goroutine; they are
// serialised among themselves.
//
// # See also
//
// Package logic for the module contract; the learning module
// (logic/learning) for an L2 bridge; l4filter for a mapping by TCP/UDP port.
package xconnect
