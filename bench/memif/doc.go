// Package memifbench measures mswitch as its users run it: the mswitchd
// daemon and pktgen as separate processes, attached through memif shared
// memory, next to the raw memif transport of DPDK's testpmd on the same
// machine in the same run.
//
// Run it with
//
//	go run ./cmd/mswbench -memif
//
// which calls Run, writes docs/bench/memif.csv and the memif-*.png plots,
// and rewrites the section of docs/BENCHMARKS.md between <!-- memif:start -->
// and <!-- memif:end -->. The set takes about four minutes on two cores:
//
//   - throughput: pktgen tx -> mswitchd (learning switch, two memif ports,
//     the receiver's MAC in the table) -> pktgen rx, 60 and 1514 bytes,
//     interrupt and poll mode, one queue, median of Options.Runs runs;
//   - the transport's limit: one dpdk-testpmd with two net_memif ports, a
//     server and a client on one socket, looped to each other in io
//     forwarding (packets circulate port 0 -> port 1 -> port 0 on one
//     lcore); the median of its per-second Rx-pps, in the same rounds as the
//     throughput runs;
//   - round-trip time: pktgen ping -> mswitchd -> pktgen pong, both modes;
//   - CPU: mswitchd's utime+stime (/proc/PID/stat) and thread run time
//     (/proc/PID/task/*/schedstat) with Options.IdlePorts memif clients
//     connected and idle, and its run time at fixed offered rates;
//   - scale: Options.ScalePorts memif clients in this process attached to
//     one switch, a sender round-robin over their MAC addresses.
//
// Every process the set starts is ended by its PID, and every traffic loop
// is bounded in time. A machine shared with other work gives noisy numbers:
// before each phase the set samples the machine's load from elsewhere, waits
// a little for it to go away, and reports it.
//
// The package's tests run the whole set in a few seconds with tiny
// durations (Quick). BenchmarkDaemon runs mswitchd's code in the test
// process, with pktgen processes around it, to profile it:
//
//	go test -run '^$' -bench 'Daemon/poll/ring=1024/60$' -benchtime 20000000x -cpuprofile cpu.out ./bench/memif
package memifbench
