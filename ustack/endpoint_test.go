package ustack

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/port/memif"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// testSwitch is an in-process mswitch: a learning bridge and a memif
// server.
type testSwitch struct {
	t    testing.TB
	sw   *fabric.Switch
	srv  *memif.Server
	path string
}

func newTestSwitch(t testing.TB) *testSwitch {
	t.Helper()
	sw, err := fabric.New("ustack-test", fabric.Options{Logic: learning.New()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := memif.Listen(path, memif.ServerOptions{Name: "ustack-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sw.Close()
		srv.Close()
	})
	return &testSwitch{t: t, sw: sw, srv: srv, path: path}
}

// stack adds memif port id and a stack on it with address addr.
func (ts *testSwitch) stack(id uint32, addr string) *Stack {
	ts.t.Helper()
	p, err := ts.srv.NewPort(memif.PortConfig{ID: id, Name: fmt.Sprintf("s%d", id)})
	if err != nil {
		ts.t.Fatal(err)
	}
	if _, err := ts.sw.Attach(p, fabric.PortConfig{Name: fmt.Sprintf("s%d", id)}); err != nil {
		ts.t.Fatal(err)
	}
	c, err := memif.Dial(ts.path, memif.ClientConfig{ID: id, Name: fmt.Sprintf("stack%d", id)})
	if err != nil {
		ts.t.Fatal(err)
	}
	ep, err := NewEndpoint(c, EndpointOptions{MAC: net.HardwareAddr{2, 0x75, 0x73, 0, 0, byte(id)}})
	if err != nil {
		c.Close()
		ts.t.Fatal(err)
	}
	s, err := NewStack(ep, StackConfig{Addr: netip.MustParsePrefix(addr)})
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(s.Close)
	return s
}

func fullAddr(s string, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: NIC, Addr: tcpip.AddrFromSlice(netip.MustParseAddr(s).AsSlice()), Port: port}
}

// TestTCPEcho: two stacks on two memif ports of a learning switch; a TCP
// echo server on one, a client on the other sending 4 MB.
func TestTCPEcho(t *testing.T) {
	ts := newTestSwitch(t)
	a := ts.stack(1, "10.0.0.1/24")
	b := ts.stack(2, "10.0.0.2/24")

	ln, err := gonet.ListenTCP(a.Stack, fullAddr("10.0.0.1", 7), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, b.Stack, fullAddr("10.0.0.1", 7), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 4<<20)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
	sa, sb := a.Endpoint().Stats(), b.Endpoint().Stats()
	t.Logf("a: %+v", sa)
	t.Logf("b: %+v", sb)
	if sa.RxPackets == 0 || sb.TxPackets == 0 {
		t.Errorf("counters did not move: a %+v, b %+v", sa, sb)
	}
}

// TestUDP: a datagram each way, and one to a third address nobody has
// (ARP unresolved: no crash, nothing delivered).
func TestUDP(t *testing.T) {
	ts := newTestSwitch(t)
	a := ts.stack(1, "10.0.1.1/24")
	b := ts.stack(2, "10.0.1.2/24")
	pa, err := gonet.DialUDP(a.Stack, &tcpip.FullAddress{NIC: NIC, Port: 5000}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	pb, err := gonet.DialUDP(b.Stack, &tcpip.FullAddress{NIC: NIC, Port: 5001}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	to := &net.UDPAddr{IP: net.IPv4(10, 0, 1, 2), Port: 5001}
	buf := make([]byte, 2000)
	pb.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The first datagram waits for ARP; send a few.
	go func() {
		for i := 0; i < 5; i++ {
			pa.WriteTo([]byte("hello"), to)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	n, from, err := pb.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf[:n]) != "hello" || from.String() != "10.0.1.1:5000" {
		t.Fatalf("got %q from %v", buf[:n], from)
	}
	if _, err := pb.WriteTo([]byte("world"), from); err != nil {
		t.Fatal(err)
	}
	pa.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err = pa.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "world" {
		t.Fatalf("reply: %q, %v", buf[:n], err)
	}
}

// TestClose: closing the stack disconnects the client and stops the
// receive goroutine; the port's link goes down.
func TestClose(t *testing.T) {
	ts := newTestSwitch(t)
	a := ts.stack(1, "10.0.2.1/24")
	ep := a.Endpoint()
	done := make(chan struct{})
	go func() {
		a.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-ep.Done():
	default:
		t.Fatal("memif client still connected after Close")
	}
	a.Close() // twice is harmless
}

// TestDisconnect: the switch deleting the port ends Done, and the receive
// goroutine returns.
func TestDisconnect(t *testing.T) {
	ts := newTestSwitch(t)
	a := ts.stack(1, "10.0.3.1/24")
	ts.srv.Close()
	select {
	case <-a.Endpoint().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server went away")
	}
	waited := make(chan struct{})
	go func() {
		a.Endpoint().Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("receive goroutine still running")
	}
}

// TestCloseUnderLoad closes a stack while the other one keeps sending to
// it: the receive goroutine may be delivering (and the stack answering
// with resets) while the stack is destroyed. Close must return.
func TestCloseUnderLoad(t *testing.T) {
	for i := 0; i < 5; i++ {
		ts := newTestSwitch(t)
		a := ts.stack(1, "10.0.4.1/24")
		b := ts.stack(2, "10.0.4.2/24")
		ln, err := gonet.ListenTCP(a.Stack, fullAddr("10.0.4.1", 9), ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, c)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := gonet.DialContextTCP(ctx, b.Stack, fullAddr("10.0.4.1", 9), ipv4.ProtocolNumber)
				if err != nil {
					continue
				}
				c.SetWriteDeadline(time.Now().Add(time.Second))
				for k := 0; k < 8; k++ {
					if _, err := c.Write(buf); err != nil {
						break
					}
				}
				c.Close()
			}
		}()
		time.Sleep(50 * time.Millisecond)
		done := make(chan struct{})
		go func() {
			a.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close did not return under load", i)
		}
		close(stop)
		cancel()
		<-sent
	}
}

// TestOptions: the echo with software GSO and with a FIFO queue in front
// of the endpoint.
func TestOptions(t *testing.T) {
	for _, c := range []struct {
		name  string
		gso   bool
		queue int
	}{{"gso", true, 0}, {"queue", false, 256}, {"both", true, 256}} {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestSwitch(t)
			mk := func(id uint32, addr string) *Stack {
				p, err := ts.srv.NewPort(memif.PortConfig{ID: id, Name: fmt.Sprint(id)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ts.sw.Attach(p, fabric.PortConfig{Name: fmt.Sprint(id)}); err != nil {
					t.Fatal(err)
				}
				cl, err := memif.Dial(ts.path, memif.ClientConfig{ID: id})
				if err != nil {
					t.Fatal(err)
				}
				ep, err := NewEndpoint(cl, EndpointOptions{MAC: net.HardwareAddr{2, 0, 0, 0, 5, byte(id)}, GSO: c.gso})
				if err != nil {
					t.Fatal(err)
				}
				s, err := NewStack(ep, StackConfig{Addr: netip.MustParsePrefix(addr), QueueLen: c.queue})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
				return s
			}
			a, b := mk(1, "10.0.5.1/24"), mk(2, "10.0.5.2/24")
			ln, err := gonet.ListenTCP(a.Stack, fullAddr("10.0.5.1", 7), ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				io.Copy(c, c)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := gonet.DialContextTCP(ctx, b.Stack, fullAddr("10.0.5.1", 7), ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			msg := make([]byte, 1<<20)
			rand.Read(msg)
			go conn.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("echo differs")
			}
			if d := b.Endpoint().Stats().Drops[DropTooLong]; d != 0 {
				t.Errorf("%d frames too long: GSO segments reached the link", d)
			}
		})
	}
}

// TestTCPv6: the echo over IPv6 (neighbour discovery instead of ARP).
func TestTCPv6(t *testing.T) {
	ts := newTestSwitch(t)
	a := ts.stack(1, "fd00:75::1/64")
	b := ts.stack(2, "fd00:75::2/64")
	ln, err := gonet.ListenTCP(a.Stack, fullAddr("fd00:75::1", 7), ipv6.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, b.Stack, fullAddr("fd00:75::1", 7), ipv6.ProtocolNumber)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 256<<10)
	rand.Read(msg)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
}
