package control

import "time"

// OpenFlowSpec is the configuration of a switch's openflow module
// (PUT /v1/switches/{switch}/openflow, and SwitchSpec.OpenFlow). It is also
// what the state file keeps. In a PUT, nil or empty fields keep their
// current value.
type OpenFlowSpec struct {
	// Targets are the controller connections, as ovs-vsctl set-controller
	// takes them: "ptcp:[PORT][:IP]" (listen; 6653 on 127.0.0.1 by
	// default), "tcp:IP[:PORT]" (connect), "punix:PATH", "unix:PATH".
	// Nil: ["ptcp:6653"].
	Targets []string `json:"targets,omitempty"`
	// FailMode is "secure" (default: without a controller, keep the flows
	// and drop misses) or "standalone" (act as a learning switch).
	FailMode string `json:"fail_mode,omitempty"`
	// DatapathID is 16 hex digits; "" derives one from the switch name.
	DatapathID string `json:"datapath_id,omitempty"`
	// Cache turns the flow caches on or off; nil: on.
	Cache *bool `json:"cache,omitempty"`
	// EMC turns the exact-match cache in front of the megaflows on or off
	// (as Open vSwitch's other_config:emc-insert-inv-prob 100 or 0); nil: on.
	EMC *bool `json:"emc,omitempty"`
	// Megaflows is "wildcard" (the default: a megaflow matches only the
	// fields the flow tables looked at) or "exact" (every field: one
	// megaflow per microflow, as Open vSwitch's upcall/disable-megaflows).
	Megaflows string `json:"megaflows,omitempty"`
}

// The values of OpenFlowSpec.Megaflows.
const (
	MegaflowsWildcard = "wildcard"
	MegaflowsExact    = "exact"
)

// OpenFlowInfo describes a switch's openflow module
// (GET /v1/switches/{switch}/openflow).
type OpenFlowInfo struct {
	OpenFlowSpec
	Running             bool               `json:"running"`                // the switch runs the openflow module
	ListenAddrs         []string           `json:"listen_addrs,omitempty"` // where passive targets listen
	ControllerConnected bool               `json:"controller_connected"`
	Learning            bool               `json:"learning"` // standalone without a controller: a learning switch
	TargetStates        []OpenFlowTarget   `json:"target_states,omitempty"`
	Conns               []OpenFlowConn     `json:"connections,omitempty"`
	CacheStats          OpenFlowCacheStats `json:"cache_stats"`
	Flows               uint64             `json:"flows"`
	Injected            uint64             `json:"injected"`
	InjectDrops         uint64             `json:"inject_drops"`
	PacketIns           uint64             `json:"packet_ins"`
	AsyncDrops          uint64             `json:"async_drops"`
}

// OpenFlowTarget is the state of one target.
type OpenFlowTarget struct {
	Target    string `json:"target"`
	State     string `json:"state"` // listening, connecting, backoff or connected
	LastError string `json:"last_error,omitempty"`
}

// OpenFlowConn is one controller connection.
type OpenFlowConn struct {
	Target  string    `json:"target"`
	Remote  string    `json:"remote"`
	Role    string    `json:"role"`
	Up      bool      `json:"up"`
	Since   time.Time `json:"since"`
	MsgsIn  uint64    `json:"msgs_in"`
	MsgsOut uint64    `json:"msgs_out"`
}

// OpenFlowCacheStats counts packets by where their decision was found.
type OpenFlowCacheStats struct {
	EMCHits      uint64  `json:"emc_hits"`
	MegaflowHits uint64  `json:"megaflow_hits"`
	Misses       uint64  `json:"misses"`
	HitRate      float64 `json:"hit_rate"` // (EMC + megaflow hits) / packets; 0 without packets
}

// OpenFlowTrace asks what the pipeline does with a frame
// (POST /v1/switches/{switch}/openflow/trace).
type OpenFlowTrace struct {
	Port  string `json:"port"`  // the input port's name
	Frame string `json:"frame"` // the frame in hex, from the Ethernet header
}

// OpenFlowTraceResult is the trace, as text.
type OpenFlowTraceResult struct {
	Trace string `json:"trace"`
}
