// Package ustack runs a user-level TCP/IP stack (gVisor's netstack) on a
// mswitch memif port: the paper's "user-level stacks behind the switch",
// where each application brings its own stack and the switch's multistack
// module hands it the packets of the 3-tuples it reserved.
//
// # The link endpoint
//
// Endpoint is a stack.LinkEndpoint over a connected memif.Client (queue 0):
//
//	c, _ := memif.Dial("/run/mswitch/memif.sock", memif.ClientConfig{ID: 3, Name: "web"})
//	ep, _ := ustack.NewEndpoint(c, ustack.EndpointOptions{MAC: mac})
//	s, _ := ustack.NewStack(ep, ustack.StackConfig{Addr: netip.MustParsePrefix("10.0.0.1/24")})
//	defer s.Close()
//	ln, _ := gonet.ListenTCP(s.Stack, ...)
//
// The endpoint speaks Ethernet itself (AddHeader, ParseHeader): it is a
// whole NIC, not a wrapper for ethernet.New. Its MTU is 1500, or less when
// the memif buffers are smaller (EndpointOptions.MTU may ask for more:
// longer frames are chained over several buffers).
//
// Receiving: Attach starts one goroutine that sleeps in Client.Wait
// (interrupt mode: on the ring's eventfd; it wakes every 100 ms while idle
// so that Close, which waits for the client call in progress, is quick), takes up to
// EndpointOptions.Batch frames per Client.Receive, and delivers each to the
// stack. Frames are copied once, from the shared memory into buffers the
// stack owns from then on; the memif slots go back to the switch at once.
// Frames neither to the endpoint's MAC nor to a group address, shorter
// than an Ethernet header, or longer than the MTU allows are dropped and
// counted.
//
// Sending: WritePackets copies each packet (link header included) into the
// memif TX ring, the whole list in one Client.Send, which signals the
// switch once. When the ring is full it waits for the switch to drain it
// (up to EndpointOptions.TxWait), then drops what does not fit and counts
// it; TCP retransmits.
//
// # Ownership and concurrency
//
// NewEndpoint takes the client: from then on only the endpoint calls it,
// and Close closes it. WritePackets may be called from any number of
// goroutines (a mutex serialises them over the one TX ring); the receive
// goroutine is the only reader of the RX ring. PacketBuffers given to
// WritePackets are the stack's: the endpoint only reads them. Close
// disconnects the client and waits for the receive goroutine; Attach(nil)
// (the stack removing its NIC) disconnects without waiting, so an endpoint
// serves one NIC once. Close the endpoint before destroying its stack
// (Stack.Close does): gVisor's Stack.Destroy waits for link endpoints
// while holding a lock that the receive goroutine may need. Done is
// closed when the memif connection ends for any reason (the switch went
// away, the port was deleted, Close); Stats may be read at any time.
package ustack
