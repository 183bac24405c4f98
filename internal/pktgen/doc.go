// Package pktgen is the engine of cmd/pktgen, mswitch's traffic generator,
// sink and latency tool after netmap's pkt-gen, kept apart from main so
// that it can be tested without a switch.
//
// # Synopsis
//
//	r, err := pktgen.New(pktgen.Config{Function: pktgen.TX, Addrs: addrs, Size: 60, Rate: 1e6, Count: 1e7})
//	sum, err := r.Run(ctx, func() (pktgen.Conn, error) {
//		c, err := memif.Dial(path, memif.ClientConfig{ID: 1, Queues: 2})
//		if err != nil {
//			return nil, err // not a nil *memif.Client in a non-nil Conn
//		}
//		return c, nil
//	})
//	sum.WriteText(os.Stdout)
//
// # Description
//
// A Runner drives every queue of a Conn (a memif client) with one goroutine
// per queue and direction, for one of five functions: tx, rx, txrx, ping
// and pong. It builds Ethernet/IPv4/UDP frames from a Template; flow f adds
// f to the source MAC, IP and UDP port of flow 0. The UDP payload carries a
// magic, a kind, a stream number, a per-stream sequence number and, for
// ping, a send time (see Parse). Stream s goes out on queue s mod Q with
// the headers of flow s mod F; there are max(F, Q) streams, so per-stream
// sequence numbers stay in order whatever the queues do.
//
// tx replays one prefilled frame from the ring when there is one flow and
// no sequence check (memif's zero-copy fast path), and otherwise sends a
// prebuilt set of frames, stamping each with its sequence number; if the
// set would take more than 16 MB it rewrites one batch of frames for each
// flow instead. A Pacer (token bucket) holds each queue to its share of the
// rate. rx discards without copying, or receives the headers and feeds a
// Checker (lost, out of order, duplicates, per stream). ping keeps a window
// of timestamped requests in flight and records round trips in a
// Histogram (log-linear buckets, 0.8 % resolution); pong swaps the MACs,
// IPs and ports of what it receives and sends it back.
//
// Counters are atomics that a progress goroutine reads once a second. With
// Config.Reconnect a broken connection is redialed every second, and
// counts, sequence numbers and histograms carry on across connections.
package pktgen
