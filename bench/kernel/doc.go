// Package kernelbench compares mswitch with the switches of the Linux
// kernel and of Open vSwitch on kernel interfaces, side by side, in one run
// on one machine state.
//
// Run it with
//
//	go run ./cmd/mswbench -kernel
//
// which calls Run, writes docs/bench/kernel.csv and the kernel-*.png plots,
// and rewrites the section of docs/BENCHMARKS.md between
// <!-- kernel:start --> and <!-- kernel:end -->.
//
// Every switch gets the same topology, built anew for it and removed after
// it (names under Options.Prefix, "mxk" by default):
//
//	mxk-h1: mxk-h1e <-veth-> mxk-v1 [switch, netns mxk-sw] mxk-v2 <-veth-> mxk-h2e :mxk-h2
//	        10.79.0.1                                                 10.79.0.2
//
// one queue per veth; the hosts' tools run pinned to CPU 0 and the switch
// process to CPU 1 (taskset). The switches, as Switch* names them:
//
//   - direct: no switch, one veth pair mxk-h1e <-> mxk-h2e (the baseline);
//   - linux-bridge: a kernel bridge in mxk-sw, bridge-nf-call-* off;
//   - ovs-system, ovs-afxdp: Open vSwitch's userspace (netdev) datapath,
//     ovsdb-server and ovs-vswitchd started by the set inside mxk-sw with
//     their own directories, ports of type system (AF_PACKET, with
//     userspace-tso-enable) or afxdp (PMD thread on CPU 1);
//   - mswitch-afxdp, mswitch-afpacket: mswitchd started inside mxk-sw, a
//     learning switch with two kernel ports of that type, in interrupt mode;
//     mswitch-afxdp-adaptive and mswitch-afxdp-poll: the same afxdp ports in
//     adaptive mode (polling for a short window after each packet) and in
//     poll mode (a core busy-polling, as OVS's PMD: mswitchd
//     -poll-sleep=false).
//
// The workloads, each through every switch:
//
//   - idle: the switch process's CPU over five seconds with no traffic;
//   - packet rate: trafgen (netsniff-ng) sends one UDP flow of 64-byte and
//     of 1,518-byte frames (60 and 1,514 bytes without the FCS) as fast as
//     it can from mxk-h1e; mxk-h2 drops the flow in an nftables netdev
//     ingress hook. Rates come from the veths' counters: sent = mxk-h1e's
//     tx_packets + tx_dropped, received = mxk-h2e's rx_packets. CPU over a
//     window inside the run: the switch process's utime+stime
//     (/proc/PID/stat) and the machine's busy and softirq time
//     (/proc/stat), each per forwarded packet; for OVS also the PMD's
//     processing cycles per packet (ovs-appctl dpif-netdev/pmd-stats-show);
//   - the same at a fixed offered rate, 100 kpps of 64-byte frames, sent
//     steadily by mswpace (this package's generator: one frame every 10 µs,
//     busy-waiting in between) where trafgen's --rate would send each
//     second's frames in one burst;
//   - TCP: iperf3, one stream mxk-h1 -> mxk-h2, with the veths' offloads as
//     each switch needs them to work: on for the kernel's bridge and OVS's
//     system ports (with userspace-tso-enable), off for OVS's afxdp ports,
//     both for mswitch (the one with more goodput is kept, the other is
//     in the row's note); the kept setting is run three times in all and
//     the row is the run of median goodput (Options.TCPRuns);
//   - ping round trips mxk-h1 -> mxk-h2 (iputils ping, p50 and p99).
//
// The machine may be shared with other work: the set measures the CPU that
// processes other than its own used during each window (Row.Background)
// and runs a measurement again when they used more than a quarter of a
// core, within Options.RedoBudget.
//
// Every network object the set makes is named under the prefix and removed
// at the end, on failure and on SIGINT; it never touches the root
// namespace's interfaces. Every process it starts is ended by its PID, and
// every traffic run is bounded in time. Run needs root, two CPUs, ip,
// ethtool, taskset, nft, trafgen, iperf3, ping and the go command (to build
// mswitchd and mswpace); the OVS rows need ovsdb-server, ovs-vswitchd,
// ovs-vsctl and ovs-appctl, and are skipped, with the reason, without them.
package kernelbench
