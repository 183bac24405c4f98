// Package ofbench measures mswitch's openflow module against Open vSwitch's
// userspace datapath in the same run, with the same rule sets, the same
// traffic and the same kind of ports: memif, with cmd/pktgen as the
// sender to both and a memif client in this process as the receiver (one
// thread polling every queue the switch grants; see sink).
//
// Run it, as root, with
//
//	go run ./cmd/mswbench -openflow
//
// which calls Run, writes docs/bench/openflow.csv and the openflow-*.png
// plots, and rewrites the section of docs/BENCHMARKS.md between
// <!-- openflow:start --> and <!-- openflow:end -->, including the
// hand-written docs/bench/openflow-notes.md.
//
// The switches:
//
//   - mswitch: mswitchd with switch of0 on the openflow module (fail mode
//     secure, OpenFlow on a loopback TCP port), memif ports 1 and 2 in poll
//     mode, the process confined to one CPU (taskset) with GOMAXPROCS=1;
//   - OVS: Debian's openvswitch-switch-dpdk ovs-vswitchd (DPDK 22.11),
//     bridge datapath_type=netdev, fail_mode=secure, two type=dpdk ports
//     whose net_memif devices are memif servers, the process and its PMD
//     thread confined to the same CPU. It runs without hugepages, with a
//     database, sockets and DPDK files of its own, in network namespace
//     mxo-ovs (the netdev datapath makes taps).
//
// Both switches run for the whole set; the one not being measured is
// stopped (SIGSTOP), because OVS's PMD busy-polls its core even with no
// client attached.
//
// The measurements:
//
//   - flow setup rate: ovs-ofctl -O OpenFlow13 add-flows of 10,000 and
//     100,000 distinct flows, timed to its exit (it ends the flow mods with
//     a barrier and waits for the reply), and the flow count checked;
//   - add-flow to first packet: no flows, pktgen sending at a fixed rate
//     (everything dropped), then ovs-ofctl add-flow: the time from its start
//     to the first packet at a receiver in this process;
//   - throughput: 60-byte UDP frames as fast as pktgen sends them, for each
//     rule set (one flow; one exact nw_src rule per traffic flow, 1,000 of
//     them, pktgen -flows 1000; an NSX-like set of about 100,000 rules in 40
//     tables, NSXLike) with the caches on, off (as little caching as OVS
//     allows: no exact-match cache, exact-match megaflows) and, for mswitch
//     alone, none at all (Caches), Runs rounds alternating the switches,
//     medians. The switch's CPU is its threads' run time
//     (/proc/PID/task/*/schedstat) over a window inside the traffic; OVS's
//     own processing cycles per packet come from its PMD statistics.
//
// Every process the set starts is ended by its PID, every traffic loop is
// bounded in time, and the namespace and DPDK's files are removed at the
// end (a stale namespace of a killed run is removed at the start).
package ofbench
