package ustack

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/qdisc/fifo"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// NIC is the ID of the one NIC of a Stack.
const NIC tcpip.NICID = 1

// StackConfig configures a Stack.
type StackConfig struct {
	// Addr is the stack's address and subnet (IPv4 or IPv6).
	Addr netip.Prefix
	// Gateway, if valid, is the default route's next hop.
	Gateway netip.Addr
	// QueueLen, if positive, puts a FIFO queue of that many packets
	// between the stack and the endpoint, drained by a goroutine of its
	// own in batches (gVisor's qdisc/fifo): the endpoint then sends many
	// packets per memif Send, at the cost of a goroutine hand-off.
	QueueLen int
}

// Stack is a gVisor network stack with one NIC, an Endpoint.
type Stack struct {
	*stack.Stack
	ep *Endpoint
}

// NewStack builds a stack with IPv4, IPv6, ARP, ICMP, TCP and UDP on ep,
// the address and routes of cfg. It attaches ep, which starts receiving.
// Close destroys the stack and ep.
func NewStack(ep *Endpoint, cfg StackConfig) (*Stack, error) {
	if !cfg.Addr.IsValid() {
		return nil, fmt.Errorf("create stack: no address")
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	st := &Stack{Stack: s, ep: ep}
	if err := st.setup(cfg); err != nil {
		ep.Close()
		s.Destroy()
		return nil, fmt.Errorf("create stack: %w", err)
	}
	return st, nil
}

func (st *Stack) setup(cfg StackConfig) error {
	s := st.Stack
	// TCP as a server wants it: SACK, and buffers that let a window cover
	// a few milliseconds at 10 Gb/s.
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("enable SACK: %s", err)
	}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return fmt.Errorf("set send buffer: %s", err)
	}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return fmt.Errorf("set receive buffer: %s", err)
	}
	var nicOpts stack.NICOptions
	if cfg.QueueLen > 0 {
		nicOpts.QDisc = fifo.New(st.ep, 1, cfg.QueueLen)
	}
	if err := s.CreateNICWithOptions(NIC, st.ep, nicOpts); err != nil {
		return fmt.Errorf("create NIC: %s", err)
	}
	addr := tcpip.AddrFromSlice(cfg.Addr.Addr().AsSlice())
	proto, empty := ipv4.ProtocolNumber, header.IPv4EmptySubnet
	if cfg.Addr.Addr().Is6() {
		proto, empty = ipv6.ProtocolNumber, header.IPv6EmptySubnet
	}
	pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: cfg.Addr.Bits()}}
	if err := s.AddProtocolAddress(NIC, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("add address %s: %s", cfg.Addr, err)
	}
	routes := []tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: NIC}}
	if cfg.Gateway.IsValid() {
		if cfg.Gateway.Is6() != cfg.Addr.Addr().Is6() {
			return fmt.Errorf("gateway %s and address %s of different families", cfg.Gateway, cfg.Addr)
		}
		routes = append(routes, tcpip.Route{Destination: empty, Gateway: tcpip.AddrFromSlice(cfg.Gateway.AsSlice()), NIC: NIC})
	}
	s.SetRouteTable(routes)
	return nil
}

// Endpoint returns the stack's link endpoint.
func (st *Stack) Endpoint() *Endpoint { return st.ep }

// Close destroys the stack: the endpoint is closed first (its receive
// goroutine returns while the stack is whole: see Endpoint.Wait), then the
// connections are aborted and the stack destroyed; every goroutine has
// returned when Close does.
func (st *Stack) Close() {
	st.ep.Close()
	st.Stack.Destroy()
}
