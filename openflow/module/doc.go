// Package ofmodule is the openflow switching logic: an OpenFlow 1.3
// pipeline with flow caches under mswitch's fabric, programmed by
// controllers over the OpenFlow channel.
//
// A [Module] is a logic.Logic (and logic.PortObserver) for the fabric and a
// channel.Datapath for package channel. The daemon creates it, hands it to
// the fabric, then calls [Module.Start] with the fabric switch, which
// attaches the module's injection port and starts the channel:
//
//	m, _ := ofmodule.New(ofmodule.Config{Targets: []string{"ptcp:6653"}})
//	sw, _ := fabric.New("br0", fabric.Options{Logic: m})
//	if err := m.Start(sw); err != nil { ... }
//
// # Ports
//
// The OpenFlow port number of a fabric port is its PortID + 1, not counting
// the injection port: ports with a higher ID than it get their PortID. The
// numbers thus follow the order the ports were attached in, and stay the
// same when the daemon restores a switch (ports first or module first). A
// port named
// "LOCAL" is also OFPP_LOCAL; without one, output to LOCAL is dropped.
// FLOOD and ALL are every port of the switch but the input port and the
// module's injection port (a logic.ToSet with an immutable list), IN_PORT
// is logic.ToInPort, several outputs are a logic.ToSet whose list lives in
// the worker's arena until its next Lookup, CONTROLLER is a PACKET_IN.
//
// # Workers
//
// The fabric calls Lookup concurrently, from one goroutine per input queue.
// Each input queue gets its own pipeline.Worker (its own caches, Result and
// set arena): the worker is keyed by (input port, address of the batch's
// packet array), which the fabric keeps per input queue for the queue's
// lifetime, in a small per-port table of slots claimed with a
// compare-and-swap on the first batch. So a worker is never used by two
// goroutines at once, and a ToSet list is not overwritten before the next
// Lookup of the same queue, as the logic contract asks. A port's slots are
// emptied (their workers kept for reuse) when the port is removed. If a
// port ever has more concurrent callers than slots, the extra callers take
// a pooled worker and a freshly allocated set list: correct, not free.
// A cache hit allocates nothing and takes no lock.
//
// # Injection
//
// Some packets cannot ride on the batch that carries them: the earlier
// versions of a packet that an output sent before a later action changed
// it (pipeline.Result.Copies), a hairpin to the input port combined with
// other outputs (ToSet skips the input port), and PACKET_OUT. The module
// attaches an Inline pipe port, "openflow-inject", hidden from OpenFlow.
// inject copies the frame into the pipe and pushes its destination (one
// port, or every port but one) on a FIFO, both under one mutex, so the
// FIFO's order is the pipe's order. A single injector goroutine forwards
// the pipe's queue with fabric.Switch.Forward; the fabric calls Lookup for
// those packets with the injection port as input, in the order they were
// sent, and Lookup pops one destination per packet. The FIFO is as long as
// the pipe's ring, so a frame the pipe accepted always has its entry; a
// frame the pipe refuses (ring full) is dropped and counted.
//
// # Fail mode
//
// With no controller for the channel's fail timeout, a FailSecure module
// keeps its flows and drops what would go to a controller; a FailStandalone
// module forwards as a learning switch (logic/learning) until a controller
// connects again; its flow tables are kept for then.
package ofmodule
