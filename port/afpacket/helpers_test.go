package afpacket

import "github.com/mswitch/mswitch/internal/nstest"

// The test hosts (network namespaces on veth pairs) and the tools run
// between them come from internal/nstest, shared with port/afpacket and
// port/tap.
type (
	host        = nstest.Host
	iperfResult = nstest.IperfResult
)

var (
	requireRoot = nstest.RequireRoot
	run         = nstest.Run
	runErr      = nstest.RunErr
	uniq        = nstest.Uniq
	newHost     = nstest.NewHost
	ping        = nstest.Ping
	iperf       = nstest.Iperf
	snmp        = nstest.SNMP
)
