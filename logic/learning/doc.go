// Package learning is mswitch's default switching logic: an L2 learning
// bridge that improves on VALE's netmap_vale_learning with aging, a
// collision-safe table, a size limit, static entries and VLAN awareness.
//
// # Synopsis
//
//	// fabric.New uses learning.New() when Options.Logic is nil; to configure:
//	b, err := learning.NewWithOptions(learning.Options{
//		MaxEntries: 65536,
//		MaxAge:     5 * time.Minute,
//		VLANAware:  true,
//	})
//	sw, err := fabric.New("sw0", fabric.Options{Logic: b})
//	err = b.AddStatic(net.HardwareAddr{0x02, 0, 0, 0, 0, 1}, 10, 3)
//
// The module is registered as "learning" (logic.New("learning") returns a
// bridge with the default options).
//
// # Description
//
// For each packet, Lookup:
//
//   - drops frames shorter than an Ethernet header as malformed (and, when
//     VLAN aware, frames whose tag stack is truncated or deeper than
//     frame.MaxVLANTags);
//   - learns the source MAC on the input port if it is unicast. A MAC seen
//     on another port moves there at once, unless its entry is static;
//   - floods group (multicast, broadcast) destinations and unknown or
//     expired unicast ones, and sends a known unicast destination to its
//     port. The fabric drops a packet whose destination is its input port.
//
// The table is set-associative: a seeded multiplicative hash picks a bucket
// of 7 slots (128 bytes), and there are enough buckets for at most 2 entries
// each on average, so buckets rarely fill up. A new MAC never evicts a live
// entry of another MAC: if its bucket holds 7 live entries it is not learned
// (counted in Stats.Collisions), and if the table holds MaxEntries live
// entries it is not learned either (Stats.Full). Such a MAC's traffic is
// flooded, which is always correct. Expired entries are treated as absent;
// their slots are reused by new MACs of the same bucket, and the whole table
// is swept of them when it reaches MaxEntries and an entry may have expired
// (at most once per second).
//
// Entries expire MaxAge after the last packet from their MAC, measured by a
// clock read once per batch to the second. Static entries never expire and
// are never moved by learning.
//
// Lookup takes no lock and never allocates: it reads buckets under a
// per-bucket sequence counter and refreshes or moves an entry with one
// compare-and-swap, at most once per second per MAC and run of packets.
// Only the insertion of a new MAC and the control methods take the writer
// lock.
//
// # Arguments
//
// Options, all optional:
//
//	MaxEntries  entries, static ones included   default 4096, at most 1<<20
//	MaxAge      lifetime of a learned entry     default 300s (as the Linux
//	            bridge); negative: never expire
//	VLANAware   learn per VLAN: the key is (VID of the outermost 802.1Q or
//	            802.1ad tag, MAC), 0 for untagged frames; default off, when
//	            the VID is ignored
//	Seed        hash seed                       default random
//	Now         clock, for tests                default time.Now
//
// # Commands
//
//	AddStatic(mac, vlan, port)  add or re-point a static entry
//	DeleteStatic(mac, vlan)     delete a static entry
//	Flush()                     delete every learned entry
//	Dump()                      live entries, sorted by VLAN then MAC
//	Stats()                     counters: learned, moves, collisions, full,
//	                            refused static moves, entries
//	PortRemoved(port)           (called by the fabric) delete every entry on
//	                            the port, static ones included, since its
//	                            ID will be reused
//
// # See also
//
// Package logic for the module contract, package frame for the header
// readers, package fabric for the forwarding loop. netmap's
// netmap_vale_learning (sys/dev/netmap/netmap_vale.c), the direct-mapped,
// non-aging table this replaces; the Linux bridge's forwarding database
// (net/bridge/br_fdb.c) for the aging default.
package learning
