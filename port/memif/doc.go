// Package memif implements memif, the shared-memory packet interface of VPP
// and DPDK (protocol version 2.0), as switch ports and as a client.
//
// # Server: switch ports
//
// The switch is the memif server. One unix socket serves many interfaces,
// told apart by a 32-bit ID; each interface is a Port, a fabric.Backend:
//
//	srv, _ := memif.Listen("/run/mswitch/memif.sock", memif.ServerOptions{})
//	p, _ := srv.NewPort(memif.PortConfig{ID: 0, Name: "vm1", Queues: 2})
//	id, _ := sw.Attach(p, fabric.PortConfig{Name: "vm1"})
//
// Clients (DPDK's net_memif with role=client, VPP, libmemif, this package's
// Client) connect and disconnect at any time; the port's link goes up and
// down with them, and a client may reconnect to the same port. Each S2M
// (client to server) ring is one of the port's input queues, drained by its
// own fabric goroutine (or, in Poll mode, by a poll thread of the fabric's
// PollGroup); each M2S ring is one output queue. The port always
// has PortConfig.Queues input queues (those the client did not connect stay
// empty) and as many output queues as the client connected (one queue with
// no room while down): as a fabric.Requeuer the port makes the fabric swap
// its output queues on every link change, and frees a client's memory only
// after the fabric's grace period.
//
// In Interrupt mode a queue's goroutine sleeps on the ring's eventfd in the
// Go netpoller, so an idle port costs no CPU; in Poll mode it busy-polls
// and sets MASK_INT on the rings, so the client never makes a system call
// to signal the switch.
//
// # The handshake
//
// The server sends HELLO on accept, before the client names an interface:
// it offers the most queue pairs and the largest ring of all the socket's
// ports (the max_*_ring fields are highest indices, count-1). The client
// answers INIT, ADD_REGION
// (one per region, with its memfd), ADD_RING (one per ring, with its
// eventfd), CONNECT, one at a time, each acknowledged (ACK, CONNECTED). The
// server checks each message as it comes and refuses anything else with a
// DISCONNECT carrying a reason (DPDK's strings where DPDK has one), counted
// in PortStatus.Rejects:
//
//   - INIT: version 2.0, an ID the socket has and no other client holds,
//     ethernet mode, the port's secret if it has one;
//   - ADD_REGION: indices in order, a size up to 4 GiB, a memfd sealed
//     against shrinking (F_SEAL_SHRINK, as DPDK and libmemif create them)
//     and at least that long, so that the mapping can never fault;
//   - ADD_RING: an index below the port's queue count, seen once, a ring
//     size up to the one offered, an existing region, an 8-byte aligned
//     offset with the whole ring inside the region, an eventfd;
//   - CONNECT: S2M and M2S rings 0..n-1 all present, every ring carrying
//     the cookie; the regions are mapped here.
//
// The whole handshake must finish within HandshakeTimeout.
//
// # Untrusted shared memory
//
// Everything a client writes into shared memory is checked before use, on
// the data path: every descriptor's region, offset and length (S2M
// descriptors before their bytes are lent to the fabric, M2S descriptors
// before the fabric copies into them), and every head index (one that moves
// more than a ring's size from the tail "jumps"). Each descriptor is read
// once and only the checked copy is used, so a client that rewrites it
// concurrently gains nothing. A violation disconnects the client ("bad
// descriptor", "bad ring"); the switch never reads or writes outside the
// client's regions.
//
// Input slots lent to the fabric have cap(Buf) == len(Buf): the S2M buffer
// size is not announced by the protocol, so a logic cannot grow a packet
// in place. The M2S buffer size, BufSize of the output queues, is the
// smallest descriptor length the client initialised its M2S rings with
// (DPDK and libmemif: their buffer size, 2048 by default); it must be at
// least 1024, and every buffer the client posts must be at least that long.
//
// # Client
//
// Dial connects as a client, for pktgen, the tests, or peering with a VPP
// or DPDK server. It allocates one region holding its rings and buffers.
// Send and Receive copy frames (chaining those longer than a buffer);
// Prefill with Replay, and Discard, are fast paths that send a prefilled
// frame without copying and consume packets without reading them.
//
// # Interoperability
//
// Tested against DPDK 22.11's net_memif as a client (dpdk-testpmd, copy
// mode, io forwarding, 1 and 2 queues, both modes, chained 9000-byte
// frames): see TestDPDKTestpmd, which needs the Debian packages dpdk-dev
// (dpdk-testpmd) and librte-net-memif23.
//
// # Limits
//
// DPDK zero-copy clients (zero-copy=yes) hand over hugepage memory that is
// not a sealed memfd, and are refused. Shared memory is read in host byte
// order with a 64-byte cache line, as on x86_64 (DPDK builds with 128-byte
// lines, some arm64 ones, lay rings out differently).
package memif
