// Package fabric is mswitch's switching fabric: the part of the mSwitch
// design that moves packets, apart from the switching logic (package logic)
// that decides where they go.
//
// A Switch has ports, each a Backend: a memif peer, a kernel interface, an
// in-process pipe. A backend shows the fabric queues: InQueues of packets
// coming in, OutQueues of slots going out. The fabric drains every input
// queue in batches (forward.go): it borrows the queue's buffers in place,
// asks the logic for a destination per packet, sorts the batch into one list
// per destination, and copies each packet once, straight into its
// destination's buffers, reserving slots under a short per-queue lock so
// that many input queues fill one output queue at the same time (outring.go).
// A packet longer than a slot goes to a DirectQueue without that copy, from
// its input buffers, to a consumer that copies it anyway (an AF_PACKET
// socket). Offloaded packets go whole to queues that take them
// (OffloadQueue) and are checksummed or segmented in software for the
// others (offload.go).
//
// Who drains an input queue:
//   - by default a goroutine of its own, which sleeps in the queue's Wait
//     when it is empty;
//   - for a busy-polled queue (PolledQueue) of a switch with a PollGroup,
//     a poll thread of the group, which drains many queues in turn, from any
//     number of switches, as Open vSwitch's PMD threads do;
//   - for an Inline port, the application, by calling Switch.Forward.
//
// Ports, the logic and the output queues of a port can change while packets
// flow: the control path publishes a new snapshot through an atomic pointer
// and waits for every batch that may have seen the old one (an epoch per
// input queue, as RCU's grace periods) before it frees anything. Counters are
// per input queue and per output ring, written by one goroutine each, and
// every drop is counted with its reason (DropReason).
package fabric
