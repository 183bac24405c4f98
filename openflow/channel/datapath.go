package channel

import (
	"context"
	"strconv"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// A Datapath is the switch behind the channel: the OpenFlow pipeline, its
// ports, groups and meters. The channel answers the session-level messages
// itself (see the package doc) and hands the rest to the Datapath.
//
// The reverse direction, PACKET_IN, FLOW_REMOVED and PORT_STATUS, goes
// through the [Switch] methods of those names, which the Datapath may call
// from any goroutine, including from inside Handle.
type Datapath interface {
	// Features describes the datapath for FEATURES_REPLY and the DESC
	// multipart reply. It is called once per request, from any connection's
	// goroutine, so it must be cheap and safe for concurrent use.
	Features() Features

	// Handle processes one message from a controller and returns its
	// replies, in order, each sent with the request's XID. The messages are
	// FLOW_MOD, GROUP_MOD, PORT_MOD, TABLE_MOD, METER_MOD, PACKET_OUT,
	// QUEUE_GET_CONFIG_REQUEST and MULTIPART_REQUEST other than DESC (and
	// other than experimenter multipart). A MULTIPART_REPLY body of any
	// size may be returned: the channel splits it over REPLY_MORE messages.
	//
	// An error answers the request with an OFPT_ERROR whose (type, code)
	// is that of the *ofp.Error in the error's chain (BAD_REQUEST/EPERM
	// when there is none) and whose data is the request's first 64 bytes;
	// replies returned along with an error are dropped.
	//
	// Calls for one connection come one at a time, in the order the
	// controller sent the messages; calls for different connections may
	// run concurrently. When Handle returns, the message's effects must be
	// complete and visible to later calls from any connection: the
	// channel answers BARRIER_REQUEST without asking the datapath.
	// Messages that slaves may not send never reach Handle from a slave.
	// ctx is cancelled when the connection closes. Handle must not retain
	// req.Msg's byte slices after it returns unless it copies them.
	Handle(ctx context.Context, req *Request) ([]ofp.Message, error)
}

// Request is one message from a controller for Datapath.Handle.
type Request struct {
	Conn ConnID      // the connection it came on, as in ConnStatus
	XID  uint32      // its transaction id
	Msg  ofp.Message // the decoded message
}

// ConnID identifies one controller connection for the lifetime of a Switch.
type ConnID uint64

// Features describes the datapath. The switch never buffers packets: the
// FEATURES_REPLY says n_buffers 0 and PACKET_IN messages carry
// ofp.NoBuffer.
type Features struct {
	DatapathID   uint64
	NTables      uint8
	Capabilities uint32 // ofp.Cap*

	// For the DESC multipart reply; mfr_desc is "mswitch".
	HWDesc    string // default "mswitch userspace software switch"
	SWDesc    string // default: the module's version
	SerialNum string // default "None"
	DPDesc    string // default "None"; a switch name is a good one
}

// Role is a controller's role (spec 1.3.5 §6.3.6).
type Role uint32

// Roles, with the wire values of ofp.Role*.
const (
	RoleEqual  = Role(ofp.RoleEqual)
	RoleMaster = Role(ofp.RoleMaster)
	RoleSlave  = Role(ofp.RoleSlave)
)

// MarshalText makes Status print roles by name in JSON.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r Role) String() string {
	switch r {
	case RoleEqual:
		return "equal"
	case RoleMaster:
		return "master"
	case RoleSlave:
		return "slave"
	}
	return "role(" + strconv.FormatUint(uint64(r), 10) + ")"
}
