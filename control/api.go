package control

// The wire types of the control API, shared by mswitchd (which serves them)
// and its clients. Every request and response body is one JSON value of a
// type below; errors are an ErrorBody with a non-2xx status.

// DefaultSocket is where mswitchd listens unless told otherwise.
const DefaultSocket = "/run/mswitch/mswitchd.sock"

// Version is the version of mswitchd and mswitchctl.
var Version = "0.1.0-dev"

// Port types.
const (
	TypeMemif = "memif"
	TypePipe  = "pipe"
	// TypeAFXDP attaches a kernel interface over AF_XDP; when XDP cannot be
	// attached to it, the daemon falls back to AF_PACKET and logs why
	// (PortInfo.Backend then says "afpacket").
	TypeAFXDP = "afxdp"
	// TypeAFPacket attaches a kernel interface over AF_PACKET (TPACKET_V3).
	TypeAFPacket = "afpacket"
	// TypeTap makes the host's own stack a port, through a TAP device.
	TypeTap = "tap"
)

// Port states, in PortInfo.State.
const (
	StateUp    = "up"    // forwarding; for memif, a client is connected
	StateDown  = "down"  // attached, but no memif client is connected
	StateError = "error" // configured but not attached (see PortInfo.Error)
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// PollThread describes one of mswitchd's poll threads (GET /v1/poll-threads):
// an OS thread that drains, in turn, the input queues of poll-mode ports,
// as Open vSwitch's PMD threads do.
type PollThread struct {
	Thread int      `json:"thread"`
	CPU    int      `json:"cpu"`    // the CPU it is pinned to; -1: not pinned
	Queues []string `json:"queues"` // "switch/port/queue", in polling order
	// Passes over its queues, Busy those that forwarded packets, Packets
	// what they forwarded, Sleeps the idle thread's short sleeps.
	Passes  uint64 `json:"passes"`
	Busy    uint64 `json:"busy"`
	Packets uint64 `json:"packets"`
	Sleeps  uint64 `json:"sleeps"`
}

// VersionInfo answers GET /v1/version.
type VersionInfo struct {
	Version string   `json:"version"`
	Modules []string `json:"modules"` // the switching logics this daemon knows
}

// SwitchSpec creates a switch (POST /v1/switches).
type SwitchSpec struct {
	Name   string `json:"name"`
	Module string `json:"module,omitempty"` // default "learning"
	Batch  int    `json:"batch,omitempty"`  // packets per forwarding batch; 0: the fabric's default
	// OpenFlow configures the openflow module (kept when another module
	// runs, for when openflow is set again).
	OpenFlow *OpenFlowSpec `json:"openflow,omitempty"`
}

// SwitchInfo describes a switch.
type SwitchInfo struct {
	Name   string `json:"name"`
	Module string `json:"module"`
	Batch  int    `json:"batch"`
	Ports  int    `json:"ports"`
}

// PortSpec creates a port (POST /v1/switches/{switch}/ports). It is also
// what the state file keeps of a port.
type PortSpec struct {
	Name  string     `json:"name"`
	Type  string     `json:"type"` // TypeMemif or TypePipe
	Memif *MemifSpec `json:"memif,omitempty"`
	Pipe  *PipeSpec  `json:"pipe,omitempty"`
	// Kernel configures TypeAFXDP and TypeAFPacket ports.
	Kernel *KernelSpec `json:"kernel,omitempty"`
	// Tap configures TypeTap ports.
	Tap *TapSpec `json:"tap,omitempty"`
}

// KernelSpec configures a port on a kernel network interface (AF_XDP or
// AF_PACKET).
type KernelSpec struct {
	Interface string `json:"interface"`        // e.g. "veth0"; "" means the port's name
	Queues    int    `json:"queues,omitempty"` // queues (sockets) to use; 0: 1
	// Mode is "interrupt" (default), "poll" or "adaptive" (interrupt,
	// polling for PollWindowUS µs after each packet).
	Mode string `json:"mode,omitempty"`
	// XDPMode is "auto" (default: native where the driver has it), "native"
	// or "generic"; AF_XDP only.
	XDPMode string `json:"xdp_mode,omitempty"`
	// PollWindowUS is how long, in µs, an adaptive queue keeps polling
	// after its last packet; 0: the backend's default (50).
	PollWindowUS int `json:"poll_window_us,omitempty"`
	// CoalesceUS is the interrupt moderation of interrupt and adaptive
	// queues: how long, in µs, a queue that is receiving a stream pauses
	// before it takes a batch of fewer than 32 packets, so that more come
	// (the kernel adds the thread's timer slack, 50 µs by default; a
	// packet after an idle moment is never held back); 0: the backend's
	// default (20), CoalesceOff: never, at most MaxCoalesceUS.
	CoalesceUS int `json:"coalesce_us,omitempty"`
	// RxRing is the number of frames in each afxdp queue's RX (and fill)
	// ring, a power of two from 64 to 65536: what the kernel can hold for
	// the switch while its thread waits (a full ring drops). Each frame is
	// 4 KB of memory, allocated when the port opens; 0: the backend's
	// default, 16384 (64 MiB per queue). AF_XDP only.
	RxRing int `json:"rx_ring,omitempty"`
	// RPSCPUs, a CPU list such as "0" or "0-1,4", steers what the
	// interface receives to those CPUs' backlogs while the port exists
	// (receive packet steering, one CPU per flow; the old setting comes
	// back when the port goes), so that a flow's packets reach the switch in
	// the order they were sent even when the sender transmits from several
	// CPUs: a veth queues each packet on its sender's CPU, and a TCP sender
	// whose ACKs arrive on another CPU than its application's sends from
	// both. "" leaves the interface's RPS alone.
	RPSCPUs string `json:"rps_cpus,omitempty"`
}

// TapSpec configures a TAP port: the host's stack sees a network interface
// named Name (created if absent, removed with the port if created).
type TapSpec struct {
	Name   string `json:"name,omitempty"`   // "" means the port's name
	Queues int    `json:"queues,omitempty"` // 0: 1
	// CoalesceUS is the queues' interrupt moderation, as KernelSpec's.
	CoalesceUS int `json:"coalesce_us,omitempty"`
}

// CoalesceUS values: no moderation, and the longest pause.
const (
	CoalesceOff   = -1
	MaxCoalesceUS = 1000
)

// MemifSpec configures a memif port: mswitchd is the memif server (the
// "master") on Socket, and a client attaches to the port by its ID.
type MemifSpec struct {
	// Socket is the unix socket path; "" means the daemon's default memif
	// socket, a name starting with "@" an abstract socket, and a relative
	// path is taken relative to the daemon's directory. Many ports share a
	// socket, told apart by ID.
	Socket       string `json:"socket,omitempty"`
	ID           uint32 `json:"id"`
	Queues       int    `json:"queues,omitempty"`         // queue pairs; 0: 1
	Mode         string `json:"mode,omitempty"`           // "interrupt" (default) or "poll"
	Secret       string `json:"secret,omitempty"`         // the client must present it; never shown back
	Log2RingSize uint8  `json:"log2_ring_size,omitempty"` // 0: the backend's default
}

// PipeSpec configures a pipe port. Its far end is inside the daemon: a sink
// that discards, as they arrive, the packets the switch delivers (the
// port's tx counters count them). Pipes are for tests and demos.
type PipeSpec struct {
	Queues int `json:"queues,omitempty"` // 0: 1
}

// PortInfo describes a port.
type PortInfo struct {
	Name  string `json:"name"`
	ID    int    `json:"id"` // the fabric's port ID; -1 when not attached
	Type  string `json:"type"`
	State string `json:"state"` // StateUp, StateDown or StateError
	// Error says why a port of the configuration is not attached.
	Error string `json:"error,omitempty"`
	// Memif is the port's spec, with its socket resolved (while attached)
	// and its secret, if any, replaced by "*".
	Memif  *MemifSpec  `json:"memif,omitempty"`
	Pipe   *PipeSpec   `json:"pipe,omitempty"`
	Kernel *KernelSpec `json:"kernel,omitempty"`
	Tap    *TapSpec    `json:"tap,omitempty"`
	// Backend is what carries a kernel port: "afxdp" or "afpacket" (an
	// afxdp port falls back to afpacket when XDP cannot be attached).
	Backend string `json:"backend,omitempty"`
	// Link is the memif connection's state.
	Link *MemifStatus `json:"link,omitempty"`
}

// MemifStatus is the state of a memif port's link.
type MemifStatus struct {
	Connected      bool              `json:"connected"`
	PeerName       string            `json:"peer_name,omitempty"` // the client's application name
	IfName         string            `json:"if_name,omitempty"`   // the client's interface name
	Queues         int               `json:"queues,omitempty"`
	Log2RingSize   uint8             `json:"log2_ring_size,omitempty"`
	Mode           string            `json:"mode,omitempty"`
	Connects       uint64            `json:"connects"`
	Disconnects    uint64            `json:"disconnects"`
	LastDisconnect string            `json:"last_disconnect,omitempty"`
	Rejects        map[string]uint64 `json:"rejects,omitempty"`
}

// ModuleInfo describes a switch's switching logic
// (GET /v1/switches/{switch}/module).
type ModuleInfo struct {
	Name     string            `json:"name"`
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// ModuleSpec swaps a switch's switching logic, live
// (PUT /v1/switches/{switch}/module). The new module starts empty: the old
// one's tables are not carried over.
type ModuleSpec struct {
	Name string `json:"name"`
}

// LearningEntry is an entry of a learning bridge's table. Requests to add a
// static entry use MAC, VLAN and Port.
type LearningEntry struct {
	MAC    string `json:"mac"`
	VLAN   uint16 `json:"vlan,omitempty"`
	Port   string `json:"port"`
	Static bool   `json:"static,omitempty"`
	Age    int64  `json:"age,omitempty"` // seconds since the MAC was last seen
}

// L4Rule maps a TCP or UDP port to a switch port (module l4filter).
type L4Rule struct {
	Proto string `json:"proto"` // "tcp" or "udp"
	Port  uint16 `json:"port"`  // the L4 port, matched as source or destination
	Out   string `json:"out"`   // the switch port's name
}

// Reservation gives a user-level protocol stack, on switch port Out, the
// packets of one local 3-tuple <Proto, IP, Port> (module multistack). The
// stack alone may send from that tuple.
type Reservation struct {
	Proto string `json:"proto"` // "tcp" or "udp"
	IP    string `json:"ip"`    // the local IP, v4 or v6 (no wildcard)
	Port  uint16 `json:"port"`  // the local L4 port
	Out   string `json:"out"`   // the switch port (name) that owns it
}

// MultistackSpec sets the roles of a multistack switch's ports
// (GET/PUT /v1/switches/{switch}/multistack).
type MultistackSpec struct {
	NIC  string `json:"nic"`            // the uplink port's name
	Host string `json:"host,omitempty"` // the host stack's port (TAP); "" = none
}

// Mapping sends everything arriving on port In to port Out
// (module xconnect). In a request, Both also maps Out to In.
type Mapping struct {
	In   string `json:"in"`
	Out  string `json:"out"`
	Both bool   `json:"both,omitempty"`
}

// SwitchStats are the counters of a switch (GET /v1/stats,
// GET /v1/switches/{switch}/stats).
type SwitchStats struct {
	Switch  string        `json:"switch"`
	Module  ModuleInfo    `json:"module"`
	Ports   []PortStats   `json:"ports"`
	Workers []WorkerStats `json:"workers"`
}

// PortStats are the counters of a port since it was attached. A flooded
// packet counts once at each port it reached.
type PortStats struct {
	Name      string            `json:"name"`
	ID        int               `json:"id"`
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	Drops     map[string]uint64 `json:"drops"` // by reason: lookup, malformed, no-port, loop, queue-full, oversize, offload, ring-full
}

// TotalDrops sums the drops of every reason.
func (s *PortStats) TotalDrops() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}

// WorkerStats are the load counters of the goroutine that drains one input
// queue of a port.
type WorkerStats struct {
	Port    string  `json:"port"`
	Queue   int     `json:"queue"`
	Batches uint64  `json:"batches"`
	Packets uint64  `json:"packets"`
	Busy    float64 `json:"busy_seconds"` // time spent forwarding, waiting excluded
}

// CaptureDroppedTrailer is the HTTP trailer, at the end of a capture
// stream, that counts the packets the capture could not keep up with.
const CaptureDroppedTrailer = "Mswitch-Capture-Dropped"
