// Package bench holds the benchmarks that reproduce the evaluation of the
// mSwitch paper (Honda et al., "mSwitch: a highly-scalable, modular software
// switch", SOSR 2015) on the Go fabric. The package has no code of its own
// outside tests: run it with go test, or with cmd/mswbench, which runs every
// benchmark several times, keeps medians, draws the figures and rewrites
// docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench . -benchtime 0.5s -count 5 ./bench
//	go run ./cmd/mswbench
//
// Every benchmark counts packets: b.N is the number of packets forwarded, so
// ns/op is nanoseconds per packet and allocs/op is allocations per packet.
// Each reports two more metrics: Mpps (million packets per second delivered)
// and Gbps (Mpps times the frame size in bits, without preamble, inter-frame
// gap or CRC, as the paper counts).
//
// # Method
//
// As in the paper's §4.3, the benchmarks measure the fabric and nothing else.
// Senders are pipe ports attached Inline: the benchmark goroutine replays a
// prefilled frame into the port (pipe.End.Replay, which points ring slots at
// a template and copies no byte) and calls fabric.Switch.Forward, so the
// forwarding runs in the sender's context as a VALE client's txsync does.
// Receivers are pipe ports with DrainForFree: their rings are consumed the
// moment the fabric publishes into them, so no receiver thread competes for
// the CPU. Each packet is therefore copied exactly once, from the replayed
// template into the receiver's buffer. Setup (switch, ports, tables) is kept
// out of the timer.
//
// # Figures
//
// BenchmarkFig6 is the paper's Figure 6 (forwarding between two virtual
// ports, one ring): one sender, one receiver, the xconnect module, frame
// sizes from 60 to 65535 bytes. Frames larger than a 2048-byte buffer travel
// as chains of buffers (scatter-gather, paper §3.5); a forwarding batch holds
// at most Batch+MaxFrags-1 slots, so a 65535-byte frame (32 slots) moves 33
// packets per batch.
//
// BenchmarkFig10 is Figure 10(a,b): one sender and P receivers, but every
// packet goes to the same receiver, so P-1 ports are idle. It compares the
// mSwitch algorithm (per-destination lists; idle ports cost nothing) with
// VALE's (one scan of the batch per attached port).
//
// BenchmarkFig11 is Figure 11: one sender sends a batch of 1024 packets
// round-robin to P receivers (P = 1 ... 1024), so each receiver gets 1024/P
// packets per batch and the per-destination costs (lock, lease, publish) are
// amortised over fewer packets. mSwitch versus VALE again; the paper reports
// throughput relative to P = 1, which cmd/mswbench computes.
//
// BenchmarkFig12 is Figure 12: N senders, each forwarding from its own
// goroutine, converge on one receiver whose ring has 1024 slots, for batches
// of 64 and 512 packets. It measures the output ring's lease scheme (§3.3,
// "destination port parallelism"): copies into one ring proceed in parallel,
// but with batches of 512 only two senders fit in the ring at once, and the
// others find it full and drop. Mpps counts delivered packets; the loss%
// metric says how many were dropped.
//
// BenchmarkFig16 is Figure 16 (module complexity): 60-byte throughput with the
// cross-connect, the learning bridge with one and with 1000 learned source
// and destination addresses, the L4 port filter (the paper's §5.2) and the
// 3-tuple demultiplexer of user-level stacks (multistack, §5.3: the sender is
// its NIC port and the receiver holds the flow's destination tuple). Its
// sender is a small backend of its own that lends prebuilt frames
// round-robin, so that the bridge sees 1000 different addresses.
//
// TestZeroAllocs checks that one replay-and-forward cycle allocates nothing,
// for each module, for flooding and for a chained 9000-byte frame. allocs/op
// in the benchmark output is an integer per packet and would hide one
// allocation per batch; this test would not.
//
// The paper's absolute numbers come from a 12-core Xeon forwarding in the
// kernel; these run in one goroutine per sender on whatever machine runs
// them. Compare shapes (how throughput falls with ports, senders, module
// cost), not absolute rates.
package bench
