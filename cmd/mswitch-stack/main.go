// Command mswitch-stack is an application with its own TCP/IP stack (gVisor's
// netstack, package ustack) on a mswitch memif port: the paper's user-level
// stack behind the switch. It serves HTTP.
//
// Usage:
//
//	mswitch-stack -socket PATH -id N -ip CIDR [-mac MAC | -share-mac IFNAME]
//	              [-gateway IP] [-listen :8080] [-gso=false] [-queue N]
//	              [-control SOCKET -switch SW -port PORT]
//	              [-spoof-udp PORT:DST_IP:DST_PORT]
//	mswitch-stack -kernel -listen ADDR:PORT      # the same server on the kernel's stack
//
// The stack takes the address -ip and the MAC -mac, or the MAC of the
// interface -share-mac: a stack behind a multistack switch shares the
// host's address, MAC included, and the switch tells their packets apart
// by 3-tuple.
//
// With -control, -switch and -port, it reserves <tcp, ip, listen port> for
// its switch port through mswitchd's control API before it serves, and
// exits with the API's message if the daemon refuses (the tuple is
// reserved already, or bound by the host's stack). It releases the
// reservation when it exits on SIGINT or SIGTERM. It exits with an error
// when the switch closes the memif connection (the port was deleted, the
// daemon stopped); it does not reconnect.
//
// The HTTP server answers / with a short text naming the stack and
// /bytes/N with N bytes. -kernel serves the same on a kernel socket (the
// benchmark's baseline). -spoof-udp sends, every 200 ms, a UDP datagram
// from local port PORT, which it did not reserve, to DST_IP:DST_PORT: the
// switch is to drop it (the tests' check of the multistack module).
//
// -gso and -queue are the stack's tuning knobs (software GSO, on by
// default: about a fifth less CPU per 64 KB response; a FIFO between the
// stack and the memif ring, off: it costs short requests more than it
// saves); -pprof serves
// net/http/pprof on a kernel socket, for profiling. On exit it prints the
// link endpoint's counters to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // on -pprof's kernel socket only
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/port/memif"
	"github.com/mswitch/mswitch/ustack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

type options struct {
	socket   string
	id       uint
	ip       string
	mac      string
	shareMAC string
	gateway  string
	listen   string
	ctlSock  string
	sw       string
	port     string
	kernel   bool
	spoof    string
	pprof    string
	mode     string
	gso      bool
	queue    int
}

// run runs the program until ctx ends (a signal) or the switch goes away.
func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("mswitch-stack", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.socket, "socket", "/run/mswitch/memif.sock", "memif socket of the switch")
	fs.UintVar(&o.id, "id", 0, "memif interface id: the switch port to attach to")
	fs.StringVar(&o.mode, "mode", "interrupt", "memif mode: interrupt or poll")
	fs.StringVar(&o.ip, "ip", "", "the stack's address, CIDR (e.g. 10.213.0.1/24)")
	fs.StringVar(&o.mac, "mac", "", "the stack's MAC")
	fs.StringVar(&o.shareMAC, "share-mac", "", "take the MAC of this `interface` (the host's)")
	fs.StringVar(&o.gateway, "gateway", "", "default route's next hop")
	fs.StringVar(&o.listen, "listen", ":8080", "HTTP `address`; the stack's own address when the host part is empty")
	fs.StringVar(&o.ctlSock, "control", "", "mswitchd control `socket`: reserve <tcp, ip, port> on -switch for -port")
	fs.StringVar(&o.sw, "switch", "", "the multistack switch (with -control)")
	fs.StringVar(&o.port, "port", "", "this stack's switch port name (with -control)")
	fs.BoolVar(&o.kernel, "kernel", false, "serve on a kernel socket instead (the baseline)")
	fs.StringVar(&o.spoof, "spoof-udp", "", "every 200 ms send UDP from an unreserved local port: PORT:DST_IP:DST_PORT")
	fs.BoolVar(&o.gso, "gso", true, "TCP builds 64 KB segments, cut to the MSS just before the link (gVisor's software GSO; -gso=false: MSS-sized ones)")
	fs.IntVar(&o.queue, "queue", 0, "a FIFO of this many packets between the stack and the memif ring, sent in batches by its own goroutine; 0: none")
	fs.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof on this kernel `address`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mswitch-stack: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.pprof != "" {
		go func() {
			if err := http.ListenAndServe(o.pprof, nil); err != nil {
				fmt.Fprintln(os.Stderr, "mswitch-stack: pprof:", err)
			}
		}()
	}
	var err error
	if o.kernel {
		err = runKernel(ctx, o)
	} else {
		err = runStack(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mswitch-stack:", err)
		return 1
	}
	return 0
}

// runKernel serves on the kernel's stack until ctx ends.
func runKernel(ctx context.Context, o options) error {
	addr := o.listen
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" && o.ip != "" {
		p, err := netip.ParsePrefix(o.ip)
		if err != nil {
			return fmt.Errorf("parse -ip: %w", err)
		}
		addr = net.JoinHostPort(p.Addr().String(), port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(os.Stderr, "mswitch-stack: kernel stack serving HTTP on %s\n", ln.Addr())
	return serve(ctx, ln, "mswitch-stack: kernel stack", nil)
}

// serve runs an HTTP server on ln until ctx ends or down is closed.
func serve(ctx context.Context, ln net.Listener, who string, down <-chan struct{}) error {
	srv := &http.Server{Handler: handler(who), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case <-down:
		err = errors.New("the switch closed the memif connection")
	case err = <-errc:
		return fmt.Errorf("serve HTTP: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	return err
}

// runStack runs the user-level stack and its server until ctx ends or the
// switch goes away.
func runStack(ctx context.Context, o options) (err error) {
	prefix, err := netip.ParsePrefix(o.ip)
	if err != nil {
		return fmt.Errorf("parse -ip %q (want a CIDR): %w", o.ip, err)
	}
	var gw netip.Addr
	if o.gateway != "" {
		if gw, err = netip.ParseAddr(o.gateway); err != nil {
			return fmt.Errorf("parse -gateway: %w", err)
		}
	}
	mac, err := pickMAC(o)
	if err != nil {
		return err
	}
	_, portStr, err := net.SplitHostPort(o.listen)
	if err != nil {
		return fmt.Errorf("parse -listen: %w", err)
	}
	lport, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || lport == 0 {
		return fmt.Errorf("parse -listen: bad port %q", portStr)
	}
	var spoof *spoofSpec
	if o.spoof != "" {
		if spoof, err = parseSpoof(o.spoof); err != nil {
			return err
		}
	}
	var ctl *control.Client
	if o.ctlSock != "" {
		if o.sw == "" || o.port == "" {
			return errors.New("-control needs -switch and -port")
		}
		ctl = control.NewClient(o.ctlSock)
	}
	mode, err := memif.ParseMode(o.mode)
	if err != nil {
		return err
	}
	if o.id > 1<<32-1 {
		return errors.New("-id out of range")
	}

	c, err := memif.Dial(o.socket, memif.ClientConfig{ID: uint32(o.id), Name: "mswitch-stack", Mode: mode})
	if err != nil {
		return err
	}
	ep, err := ustack.NewEndpoint(c, ustack.EndpointOptions{MAC: mac, GSO: o.gso})
	if err != nil {
		c.Close()
		return err
	}
	st, err := ustack.NewStack(ep, ustack.StackConfig{Addr: prefix, Gateway: gw, QueueLen: o.queue})
	if err != nil {
		return err
	}
	defer func() {
		st.Close()
		fmt.Fprintf(os.Stderr, "mswitch-stack: endpoint %+v\n", ep.Stats())
	}()

	proto := ipv4.ProtocolNumber
	if prefix.Addr().Is6() {
		proto = ipv6.ProtocolNumber
	}
	local := tcpip.FullAddress{NIC: ustack.NIC, Addr: tcpip.AddrFromSlice(prefix.Addr().AsSlice()), Port: uint16(lport)}
	ln, err := gonet.ListenTCP(st.Stack, local, proto)
	if err != nil {
		return fmt.Errorf("listen on %s:%d: %w", prefix.Addr(), lport, err)
	}

	if ctl != nil {
		r := control.Reservation{Proto: "tcp", IP: prefix.Addr().String(), Port: uint16(lport), Out: o.port}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ctl.Reserve(rctx, o.sw, r)
		cancel()
		if err != nil {
			ln.Close()
			return fmt.Errorf("reserve tcp %s:%d for port %s: %w", r.IP, r.Port, o.port, err)
		}
		fmt.Fprintf(os.Stderr, "mswitch-stack: reserved tcp %s:%d on %s for port %s\n", r.IP, r.Port, o.sw, o.port)
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if rerr := ctl.Release(rctx, o.sw, r); rerr != nil {
				fmt.Fprintf(os.Stderr, "mswitch-stack: release tcp %s:%d: %v\n", r.IP, r.Port, rerr)
			} else {
				fmt.Fprintf(os.Stderr, "mswitch-stack: released tcp %s:%d\n", r.IP, r.Port)
			}
		}()
	}

	if spoof != nil {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if err := spoof.start(sctx, st, prefix.Addr(), proto); err != nil {
			ln.Close()
			return err
		}
	}

	fmt.Fprintf(os.Stderr, "mswitch-stack: user-level stack %s (MAC %s) serving HTTP on port %d, memif %s id %d\n",
		prefix, mac, lport, o.socket, o.id)
	return serve(ctx, ln, fmt.Sprintf("mswitch-stack: user-level stack (gVisor netstack) at %s", prefix.Addr()), ep.Done())
}

// pickMAC returns -mac, or the MAC of -share-mac's interface.
func pickMAC(o options) (net.HardwareAddr, error) {
	switch {
	case o.mac != "" && o.shareMAC != "":
		return nil, errors.New("-mac and -share-mac exclude each other")
	case o.mac != "":
		mac, err := net.ParseMAC(o.mac)
		if err != nil {
			return nil, fmt.Errorf("parse -mac: %w", err)
		}
		return mac, nil
	case o.shareMAC != "":
		ifi, err := net.InterfaceByName(o.shareMAC)
		if err != nil {
			return nil, fmt.Errorf("read the MAC of %s: %w", o.shareMAC, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return nil, fmt.Errorf("read the MAC of %s: it has none", o.shareMAC)
		}
		return ifi.HardwareAddr, nil
	}
	return nil, errors.New("need -mac or -share-mac")
}

// spoofSpec is -spoof-udp: UDP from local port Port to Dst.
type spoofSpec struct {
	Port uint16
	Dst  netip.AddrPort
}

func parseSpoof(s string) (*spoofSpec, error) {
	port, dst, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("parse -spoof-udp %q: want PORT:DST_IP:DST_PORT", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("parse -spoof-udp %q: bad local port", s)
	}
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return nil, fmt.Errorf("parse -spoof-udp %q: %w", s, err)
	}
	return &spoofSpec{Port: uint16(p), Dst: ap}, nil
}

// start sends a datagram every 200 ms until ctx ends.
func (sp *spoofSpec) start(ctx context.Context, st *ustack.Stack, local netip.Addr, proto tcpip.NetworkProtocolNumber) error {
	la := &tcpip.FullAddress{NIC: ustack.NIC, Addr: tcpip.AddrFromSlice(local.AsSlice()), Port: sp.Port}
	ra := &tcpip.FullAddress{NIC: ustack.NIC, Addr: tcpip.AddrFromSlice(sp.Dst.Addr().AsSlice()), Port: sp.Dst.Port()}
	conn, err := gonet.DialUDP(st.Stack, la, ra, proto)
	if err != nil {
		return fmt.Errorf("spoof: open UDP %s:%d: %w", local, sp.Port, err)
	}
	go func() {
		defer conn.Close()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			conn.Write([]byte(fmt.Sprintf("mswitch-stack spoof %d\n", i)))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}
