// Package daemon is mswitchd's library: it hosts named switches (each a
// fabric.Switch with its switching logic and its ports), serves the control
// API, keeps the configuration in a state file, streams packet captures and
// exports Prometheus metrics. Command mswitchd wraps it with flags, the
// control socket and signal handling; tests run it in-process.
//
//	d, _ := daemon.New(daemon.Config{StatePath: "/var/lib/mswitch/state.json"})
//	l, _ := daemon.Listen("/run/mswitch/mswitchd.sock", gid)
//	go http.Serve(l, d.Handler())
//	defer d.Close()
//
// # The control API
//
// HTTP/1.1 and JSON on a unix socket (mode 0660: root and one group). The
// bodies are the types of package control; an error is a status and
// {"error": "one sentence"}. Anything that names a port takes its name.
//
//	GET    /v1/                                        the list of routes
//	GET    /v1/version                                 version and modules
//	GET    /v1/modules                                 module names
//	GET    /v1/stats                                   counters of every switch
//	GET    /v1/switches                                list switches
//	POST   /v1/switches                                {name, module, batch}
//	GET    /v1/switches/{sw}                           one switch
//	DELETE /v1/switches/{sw}                           delete, with its ports
//	GET    /v1/switches/{sw}/stats                     ports (rx/tx packets and bytes,
//	                                                   drops by reason), workers, module
//	GET    /v1/switches/{sw}/ports                     ports with their state and memif link
//	POST   /v1/switches/{sw}/ports                     {name, type: memif|pipe, memif: {socket,
//	                                                   id, queues, mode, secret, log2_ring_size}}
//	GET    /v1/switches/{sw}/ports/{port}              one port
//	DELETE /v1/switches/{sw}/ports/{port}              detach and delete
//	GET    /v1/switches/{sw}/ports/{port}/capture      pcap stream; ?count=N&duration=D&direction=in|out
//	GET    /v1/switches/{sw}/module                    module name and counters
//	PUT    /v1/switches/{sw}/module                    {name}: live swap to a new, empty instance
//	GET    /v1/switches/{sw}/learning                  learning table
//	POST   /v1/switches/{sw}/learning                  static entry {mac, vlan, port}
//	POST   /v1/switches/{sw}/learning/flush            delete learned entries
//	DELETE /v1/switches/{sw}/learning/{mac}?vlan=V     delete a static entry
//	GET    /v1/switches/{sw}/l4filter                  l4filter rules
//	POST   /v1/switches/{sw}/l4filter                  {proto: tcp|udp, port, out}
//	DELETE /v1/switches/{sw}/l4filter/{proto}/{port}   delete a rule
//	GET    /v1/switches/{sw}/xconnect                  xconnect mappings
//	POST   /v1/switches/{sw}/xconnect                  {in, out, both}
//	DELETE /v1/switches/{sw}/xconnect/{in}             disconnect an input port
//	GET    /v1/switches/{sw}/multistack                multistack port roles {nic, host}
//	PUT    /v1/switches/{sw}/multistack                {nic, host}: set both ("" clears one)
//	GET    /v1/switches/{sw}/multistack/reservations   3-tuple reservations
//	POST   /v1/switches/{sw}/multistack/reservations   {proto: tcp|udp, ip, port, out}
//	DELETE /v1/switches/{sw}/multistack/reservations/{proto}/{ip}/{port}
//	                                                   release a reservation
//
// A reservation is refused (409) when the tuple is reserved already, or
// when the host's own stack (mswitchd's network namespace) has a TCP or UDP
// socket, in any state, on its port with its address or a wildcard, as the
// kernel's sock_diag dump shows; the daemon cannot stop the host from
// binding the tuple later, but the module drops what the host sends from it.
//
// For example:
//
//	curl --unix-socket /run/mswitch/mswitchd.sock http://mswitch/v1/switches
//	curl --unix-socket /run/mswitch/mswitchd.sock -d '{"name":"sw0"}' http://mswitch/v1/switches
//	curl --unix-socket /run/mswitch/mswitchd.sock -o b.pcap 'http://mswitch/v1/switches/sw0/ports/b/capture?count=100'
//
// # Ports
//
// A memif port is served by mswitchd as the memif server on a unix socket;
// one socket serves any number of ports, of any switch, told apart by their
// interface ID, and is closed with its last port. A pipe port's far end
// lives inside the daemon: a sink that discards what the switch delivers
// (the port's tx counters count it). Pipe ports are for tests and demos;
// a program embedding the daemon can feed one through Daemon.PipeEnd.
//
// # State
//
// After every change the daemon writes its configuration (switches,
// modules, ports with their full spec, static learning entries, l4filter
// rules, xconnect mappings, multistack roles and reservations) to the state
// file atomically; New restores it (a restored reservation is not checked
// against the host's sockets again: a conflict is logged).
// A port that cannot be restored stays configured, in the error state.
// Changing a switch's module starts the new module empty. Deleting a port
// deletes the table entries that name it.
//
// # Capture
//
// A capture sets the port's fabric tap, which copies each packet into the
// capture's bounded queue without blocking; packets the stream cannot keep
// up with are dropped and counted in the response's Mswitch-Capture-Dropped
// trailer.
//
// # Metrics
//
// MetricsHandler serves, besides the Go runtime's: mswitch_switches,
// mswitch_port_{rx,tx}_{packets,bytes}_total, mswitch_port_drops_total{reason},
// mswitch_port_up, mswitch_worker_{busy_seconds,batches,packets}_total{queue},
// mswitch_memif_{connects,disconnects}_total, all labelled by switch and
// port. They are read from the fabric's counters at scrape time.
package daemon
