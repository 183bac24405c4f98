// Package pipeline is an OpenFlow 1.3 multi-table pipeline with OVS-style
// flow caching: the switching logic of mswitch's openflow module (the
// mSwitch paper's §5.4, where Open vSwitch's datapath becomes a module).
//
// # Tables, flows and groups
//
// A [Pipeline] holds up to 254 flow tables (64 by default) and a group
// table. The control side feeds it the decoded messages of package ofp:
// [Pipeline.FlowMod], [Pipeline.GroupMod], [Pipeline.TableMod], and answers
// the statistics requests from its state ([Pipeline.Multipart]). Refusals
// are *ofp.Error values carrying the spec's type and code, ready for
// ofp.NewErrorMsg. [Pipeline.Expire] removes the flows whose idle or hard
// timeout passed and returns them for FLOW_REMOVED messages.
//
// Matching follows OpenFlow 1.3.5: the highest-priority matching flow of a
// table wins; a packet that matches nothing in a table is dropped (a
// table-miss flow entry, priority 0 with every field wildcarded, is an
// ordinary flow). Instructions apply in the spec's order (apply-actions,
// clear-actions, write-actions, write-metadata, goto-table), the action set
// runs at the end of the pipeline in the spec's order (§5.10), and groups
// of all four types work, chained or not. Meters ([Pipeline.MeterMod])
// have drop and DSCP-remark bands, in kb/s or packets/s, with or without a
// burst size; a flow's meter instruction runs before its apply-actions (see
// meter.go for the token buckets, which take no lock).
//
// # The packet path
//
// A forwarding goroutine owns a [Worker] and calls [Worker.Process] for
// each packet. Process rewrites the packet in place (it may grow into the
// buffer's capacity for a push), and fills a caller-owned [Result] with the
// outputs in action order: ports, the reserved ports the caller expands
// (FLOOD, ALL, IN_PORT, LOCAL) and CONTROLLER with what its PACKET_IN
// needs. When an action changes the packet after an output, the bytes that
// output must send are copied into Result.Copies, so each output sees the
// packet as it was when it was made.
//
// Each Worker has two caches in front of the tables, as each of OVS's
// userspace datapath threads does:
//
//  1. an exact-match cache (EMC): the packet's whole flow key → the
//     translation, two probes, no locks; the most common packets
//     (untagged IPv4 TCP, UDP or SCTP) have a flat one instead, keyed on
//     the header bytes the flow key is made of, which skips the parser
//     (see emc.go);
//  2. a megaflow cache: tuple space search over wildcarded keys whose mask
//     is exactly the set of key bits the table lookups consulted (every
//     subtable visited in every table, including those visited to learn
//     that nothing of higher priority matched).
//
// On a miss in both, the packet is translated through the tables (the slow
// path) into a program, a flat list of operations that the executor runs
// on the packet; the program and its mask are cached. A cached program
// charges its packets to the flows, tables, groups and buckets it came
// from, so statistics are the same with and without caches.
//
// Every change of the tables or groups, and every port liveness change
// ([Pipeline.PortChanged]), bumps a generation number; a worker that sees a
// new generation empties its caches (the exact-match ones by starting a new
// epoch, without touching them). So the caches never forward by a stale
// rule: once FlowMod returns, every packet that enters Process afterwards
// sees its effect.
//
// # Concurrency
//
// Process (on distinct Workers) runs concurrently from any number of
// goroutines. FlowMod, GroupMod, MeterMod, TableMod, Expire and the
// statistics come from one control goroutine (they may also run
// concurrently with each other: a sync.RWMutex serialises them). The slow
// path holds that lock for reading; a cache hit takes no lock at all: it
// loads the generation, probes its own caches, adds to the counters
// atomically, and charges meters' token buckets with compare-and-swap.
//
// # What is not supported
//
// Experimenter matches, actions and instructions, OFPP_NORMAL, packet
// buffering (BufferID is the caller's), and setting table features. MPLS is
// supported for one label on the key, push, pop, TTLs and set-field; PBB
// (802.1ah) for the outer I-TAG: PBB_ISID (match and set-field), push and
// pop. A pop that leaves a frame shorter than 60 bytes pads it with zeros.
package pipeline
