// Package afxdp connects a kernel network interface to the switch over
// AF_XDP sockets.
//
//	p, err := afxdp.Open(afxdp.Config{Interface: "veth1", Queues: 2})
//	id, err := sw.Attach(p, fabric.PortConfig{Name: "veth1"})
//
// # Why AF_XDP
//
// AF_XDP hands frames between a NIC queue and user space through rings in
// shared memory, before the kernel builds an skb for them: no system call
// per packet, no trip through the stack, and on drivers with zero-copy
// support (mlx5, i40e, ice, ixgbe...) no copy either. It is how Open
// vSwitch's userspace datapath and DPDK's net_af_xdp reach kernel
// interfaces; AF_PACKET is the fallback where XDP is not available.
//
// # How a port is built
//
// Open makes, for each of Config.Queues queues, one AF_XDP socket with a
// UMEM (packet memory) of its own and its four rings, bound to RX/TX queue
// i of the interface; an XSKMAP holding the sockets; and a five-instruction
// XDP program, assembled with cilium/ebpf's asm package (no clang), that
// does
//
//	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//
// so a packet goes to the socket of the queue it arrived on, and to the
// kernel's stack when that queue has no socket. The program is attached
// through a BPF link, which the kernel removes when the last file
// descriptor to it closes: a daemon that dies leaves nothing on the
// interface. A program attached the old way, through netlink (an older
// run, `ip link set dev X xdp ...`), would block the link: Open removes it,
// says so in the log, and goes on. Close removes the program.
//
// XDPAuto attaches in native (driver) mode when the driver has it, as
// veth and the common NIC drivers do, and in generic (skb) mode otherwise;
// the log says which, and why. CopyAuto gets zero-copy where the driver
// supports it with AF_XDP and copy mode elsewhere (veth is always copy
// mode). The interface is put in promiscuous mode while the port is open,
// so that the switch sees frames for every MAC address.
//
// # Ownership of UMEM frames
//
// A socket's UMEM is split once: RX frames, which circulate between the
// kernel (fill ring, RX ring) and the fabric, and TX frames (Config.TxRingSize
// of them), which circulate between the output queue and the kernel (TX
// ring, completion ring). The two never mix, so the input goroutine and the
// senders never share a frame or a ring.
//
//   - Receive lends the fabric the RX ring's frames in place: Slot.Buf is the
//     frame's bytes from where the packet starts (256 bytes in, after the
//     kernel's headroom) with its capacity ending at the end of the frame,
//     so a logic that grows a packet never writes into the next one. The
//     frames stay the fabric's until Release, which hands them back to the
//     kernel through the fill ring; the fill ring always holds every RX
//     frame that is neither in the RX ring nor lent.
//   - Room gives the output queue's slots a free TX frame each (taking back
//     the frames the kernel completed), Buffer returns that frame, SetSlot
//     records the length, and Publish writes the TX descriptors and moves
//     the producer index; the frames are the kernel's until they come back
//     on the completion ring.
//
// A descriptor the kernel should never write (outside the RX frames, or
// across a frame's end) is lent as an empty slot, counted in
// QueueStats.RxBadDescs, and its frame is not given back.
//
// # Goroutines
//
// Each input queue is drained by one goroutine at a time, its own fabric
// goroutine or, in Poll mode, a poll thread of the fabric's PollGroup
// (which calls Idle instead of Wait): it alone calls Receive, Release and
// Wait; Interrupt may come from any goroutine. The
// output queue's Room and Publish run under the fabric's per-queue lock and
// make no system call (a Room that finds the TX ring full of packets the
// kernel has not taken kicks it once); Buffer and SetSlot run from many
// goroutines at once, each on its own slots. Notify kicks the kernel with
// sendto(MSG_DONTWAIT) only when it must: when the TX ring has
// XDP_RING_NEED_WAKEUP set (always, in copy mode) or when need_wakeup is off;
// Release kicks with recvfrom when the fill ring asks for it. Stats may be
// called from any goroutine.
//
// In Interrupt mode Wait sleeps in the Go netpoller until the socket is
// readable, so an idle port costs no CPU and no thread; Interrupt sets a
// read deadline in the past. The netpoller watches an epoll instance of the
// queue's own, which holds the socket, for reading only, while Wait sleeps
// and never otherwise: the kernel wakes every waiter of a socket for each
// packet it transmits (the skb's destructor) and at each flush of received
// packets, which a socket left in the netpoller paid for even while its
// queue was busy. A sleeping queue's socket is still a waiter while the
// same socket transmits for another port's queue (one-way traffic), so a
// kick of 32 packets or more takes it out of the epoll instance for the
// time of the sendto and puts it back after, which wakes the sleeper if a
// packet came meanwhile: 150 ns a transmitted packet otherwise.
//
// An Interrupt-mode queue also moderates itself, as NICs moderate their
// interrupts: in a stream of packets, a poll that finds fewer than 32 holds
// them back once while Wait pauses (Config.Coalesce, 20 µs plus the
// kernel's timer slack), so that the next poll takes a batch. Every batch
// costs about as much as a few packets (a sendto to each destination, the
// rings' cache lines, the fabric's bookkeeping), and a switch that keeps up
// with its input otherwise polls one or two packets at a time: at trafgen's
// maximum rate it paid twice per packet what batches of 32 cost, with its
// core busy all the same. A packet that wakes a sleeping queue is taken at
// once, so sparse traffic (ping) is not delayed.
//
// In Poll mode Wait returns at once and, after a few empty polls, yields
// the CPU with sched_yield: the queue's goroutine keeps a core busy but
// lets others run on it.
//
// # Limits
//
// Frames larger than one UMEM frame (Config.FrameSize less the kernel's
// 256 bytes of headroom: 3840 bytes with the default 4 KB frames) need
// multi-buffer AF_XDP: an XDP program loaded with BPF_F_XDP_HAS_FRAGS and
// sockets bound with XDP_USE_SG (Linux 6.6+; in zero-copy mode only with
// drivers that support it). Open uses it when the kernel has it: a packet
// then spans several frames, chained with XDP_PKT_CONTD (Slot.More on
// input, SetSlot's more on output), and MTU 9000 works on veth in native
// mode. A transmitted packet may span at most 18 frames (the kernel's
// MAX_SKB_FRAGS+1); longer ones are dropped and counted. Where multi-buffer
// is refused and the MTU does not fit in one frame, Open fails with an
// error wrapping ErrMTU that names the limit: use a smaller MTU, or an
// AF_PACKET port.
//
// AF_XDP carries no offload metadata, yet a veth peer sends TCP and UDP with
// the checksum left to the NIC (CHECKSUM_PARTIAL, its default), and packets
// longer than the MTU may arrive whole where the driver aggregates them
// (GRO, multi-buffer). On veth they do not: attaching any XDP program, even
// one that takes multi-buffer packets, takes TSO away from the peer
// (veth_xdp_set clears NETIF_F_GSO_SOFTWARE in its hw_features, Linux 6.18:
// "tx-tcp-segmentation: off [fixed]"), so the peer's stack segments TCP to
// the MTU before it sends, and one TCP stream through a switch of AF_XDP
// ports moves MTU-sized frames, a few Gb/s, where the kernel's bridge moves
// 64 KB packets. That is the kernel's limit; an AF_PACKET port keeps GSO.
// So the port reads each packet it receives (vnet.InferOffload): a
// checksum field holding just the pseudo-header sum, in a packet whose full
// checksum does not verify, is unfinished, and a TCP packet longer than the
// interface's MTU is a GSO packet. It describes them in Slot.Offload, and
// the fabric finishes the checksum, segments, or hands them on to a port
// that takes offload (TAP, AF_PACKET). Config.NoOffloadInference turns this
// off, for peers with transmit checksum offload off (ethtool -K <peer> tx
// off, as Open vSwitch's AF_XDP documentation asks). VLAN tags that a driver
// strips into
// metadata (rx-vlan-offload) are not seen either.
//
// In copy mode every transmitted packet is an skb charged to the socket's
// send buffer until the device is done with it; the port sizes the buffer
// for a full TX ring. The kernel counters of XDP_STATISTICS are in
// Port.Stats, beside the port's own, per queue.
package afxdp
