// Package stackbench measures HTTP served by a user-level TCP/IP stack behind
// a mswitch multistack switch (mswitch-stack: gVisor's netstack on a memif
// port), against the same server on the host's kernel stack reached through
// the same switch's TAP port: the paper's §5.3 experiment (it reports about
// 100 K requests/s and 8 Gb/s for its user-level stack on 2014 hardware).
//
// Run it with
//
//	go run ./cmd/mswbench -stack
//
// which calls Run, writes docs/bench/stack.csv and stack.png, and rewrites
// the section of docs/BENCHMARKS.md between <!-- stack:start --> and
// <!-- stack:end -->.
//
// The topology (names under the prefix "mxs"):
//
//	mxs-h1: mxs-h1e 10.213.0.2/24  (wrk, pinned to CPU 0)
//	            |veth
//	         mxs-nic --[nic] sw0, module multistack [host]-- TAP mxs-tap 10.213.0.1/24
//	                         (mswitchd, CPU 1)      [st1]--- memif 1: mswitch-stack
//	                                                         10.213.0.1, the TAP's MAC
//
// The NIC port is an AF_PACKET port (Options.NIC: afxdp also works),
// which carries offloads both ways: the kernel server's TSO packets from
// the TAP port reach the client's veth whole.
//
// Two servers share the address 10.213.0.1, both pinned to CPU 1 with the
// switch: (a) "user-level", mswitch-stack on the memif port, port 8080,
// which it reserves through the control API; (b) "kernel", mswitch-stack
// -kernel, the same HTTP handlers on a kernel socket bound to
// 10.213.0.1:9090, which the switch hands to the host through the TAP port.
//
// The workloads, each against both servers, one after the other within a
// round, Options.Runs rounds (medians are reported):
//
//   - short: GET /bytes/64 (a 64-byte body), wrk -t1 -c32 -d10s:
//     requests/s;
//   - 16k and 64k: GET /bytes/16384 and /bytes/65536, the same
//     connections: Gb/s of response bodies (requests/s × size × 8).
//
// wrk's --latency gives the p50 and p99 of request latency. Each run also
// measures the CPU time (utime+stime from /proc/PID/stat) of the server
// process and of mswitchd, per request.
//
// Run needs root, two CPUs, ip, taskset, ethtool and wrk. Everything it creates is
// named under the prefix and removed at the end, also on failure and on
// SIGINT; processes are ended by PID; every wrk run is bounded in time.
package stackbench
