//go:build linux

package vnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// TUNSETOFFLOAD flags (<linux/if_tun.h>).
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
)

var (
	tapMAC  = net.HardwareAddr{2, 0x6d, 0x78, 0x76, 0, 1}
	peerMAC = net.HardwareAddr{2, 0x6d, 0x78, 0x76, 0, 2}
	tapIP   = net.IPv4(10, 77, 0, 1).To4()
	peerIP  = net.IPv4(10, 77, 0, 2).To4()
)

const peerPort = 5201

// newKernelTap creates the namespace (mxv-vnet-<pid>), the tap mxv0 in it
// with TSO offloads, and starts dialing peerIP:peerPort from it. The dial
// completes once the test answers the SYN; dialed yields the connection.
func newKernelTap(t *testing.T) (*os.File, <-chan net.Conn) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a TAP device")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	ns := fmt.Sprintf("mxv-vnet-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

	type result struct {
		tap *os.File
		err error
	}
	tapc := make(chan result)
	dial := make(chan struct{})
	dialed := make(chan net.Conn, 1)
	// This goroutine's thread enters the namespace and never leaves it:
	// it exits locked, and the runtime discards the thread.
	go func() {
		runtime.LockOSThread()
		nsfd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			tapc <- result{err: fmt.Errorf("open netns: %w", err)}
			return
		}
		err = unix.Setns(nsfd, unix.CLONE_NEWNET)
		unix.Close(nsfd)
		if err != nil {
			tapc <- result{err: fmt.Errorf("enter netns: %w", err)}
			return
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			tapc <- result{err: fmt.Errorf("open tun: %w", err)}
			return
		}
		ifr, _ := unix.NewIfreq("mxv0")
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			tapc <- result{err: fmt.Errorf("create tap: %w", err)}
			return
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); err != nil {
			unix.Close(fd)
			tapc <- result{err: fmt.Errorf("set tap offloads: %w", err)}
			return
		}
		tapc <- result{tap: os.NewFile(uintptr(fd), "mxv0")}
		<-dial
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%v:%d", peerIP, peerPort), 5*time.Second)
		if err != nil {
			t.Errorf("dial: %v", err)
		}
		dialed <- c
	}()
	r := <-tapc
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.tap.Close() })
	ip("-n", ns, "link", "set", "mxv0", "address", tapMAC.String())
	ip("-n", ns, "addr", "add", "10.77.0.1/24", "dev", "mxv0")
	ip("-n", ns, "link", "set", "mxv0", "up")
	ip("-n", ns, "neigh", "add", peerIP.String(), "lladdr", peerMAC.String(), "dev", "mxv0")
	close(dial)
	return r.tap, dialed
}

// readTCP reads frames from the tap until one is a TCP packet to the peer,
// and returns its header and frame.
func readTCP(t *testing.T, tap *os.File, buf []byte) (Hdr, []byte, *layers.TCP) {
	t.Helper()
	tap.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := tap.Read(buf)
		if err != nil {
			t.Fatalf("read tap: %v", err)
		}
		h, err := Decode(buf[:n])
		if err != nil {
			continue
		}
		frame := buf[Len:n]
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.DstPort == peerPort {
			return h, frame, tcp
		}
	}
}

// writeFrame writes frame to the tap behind a zero virtio-net header: a
// complete packet, checksums to be verified by the kernel.
func writeFrame(t *testing.T, tap *os.File, frame []byte) {
	t.Helper()
	b := append(make([]byte, Len), frame...)
	if _, err := tap.Write(b); err != nil {
		t.Fatalf("write tap: %v", err)
	}
}

// peerPacket serializes a TCP packet from the peer to the tap.
func peerPacket(t *testing.T, tcp *layers.TCP, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: tapMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Id: 1,
		Flags: layers.IPv4DontFragment, SrcIP: peerIP, DstIP: tapIP}
	tcp.SrcPort, tcp.Window = peerPort, 0xffff
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestKernelTSO lets the kernel's TCP send through a TAP device with TSO:
// the GSO packets it hands over with virtio-net headers must pass Validate
// and NewPlan, and segment into packets gopacket finds correct. Then the
// other way: the test cuts its own GSO packet with WriteSegment, writes the
// segments into the tap, and the kernel's TCP must deliver every byte (it
// drops segments with bad checksums).
func TestKernelTSO(t *testing.T) {
	tap, dialed := newKernelTap(t)
	buf := make([]byte, Len+65536)

	// Handshake: answer the SYN (window scaling, so the kernel may send
	// large bursts).
	_, _, syn := readTCP(t, tap, buf)
	if !syn.SYN {
		t.Fatalf("first packet is not a SYN: %+v", syn)
	}
	const peerISN = 0x10000000
	kernelPort := syn.SrcPort
	writeFrame(t, tap, peerPacket(t, &layers.TCP{DstPort: kernelPort, Seq: peerISN, Ack: syn.Seq + 1, SYN: true, ACK: true,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}, nil))
	var conn net.Conn
	select {
	case conn = <-dialed:
	case <-time.After(10 * time.Second):
		t.Fatal("dial did not complete")
	}
	if conn == nil {
		t.FailNow()
	}
	defer conn.Close()

	// Kernel to peer: the first data burst comes as one GSO packet.
	data := make([]byte, 60000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	go conn.Write(data)
	var h Hdr
	var frame []byte
	var first *layers.TCP
	for {
		// The burst may start with a lone segment: wait for a GSO one.
		h, frame, first = readTCP(t, tap, buf)
		if len(first.Payload) > 0 && h.GSOType != GSONone {
			break
		}
	}
	t.Logf("kernel sent %d bytes with %+v", len(frame), h)
	if h.GSO() != GSOTCPv4 || !h.NeedsCsum() {
		t.Fatalf("kernel packet is not TSO with a partial checksum: %+v", h)
	}
	if err := h.Validate(len(frame)); err != nil {
		t.Fatalf("validate kernel header: %v", err)
	}
	src := chain(frame, 2048)
	p, err := NewPlan(h, src)
	if err != nil {
		t.Fatalf("plan kernel packet: %v", err)
	}
	var got []byte
	dst := make([]byte, p.MaxSegmentLen())
	for k := range p.Segments() {
		n, err := p.WriteSegment(dst, src, k)
		if err != nil {
			t.Fatalf("segment %d: %v", k, err)
		}
		pk, want := reserialize(t, dst[:n])
		if !bytes.Equal(dst[:n], want) {
			t.Fatalf("segment %d differs from gopacket's serialization", k)
		}
		tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp.Seq != first.Seq+uint32(k)*uint32(h.GSOSize) {
			t.Errorf("segment %d: seq %d", k, tcp.Seq)
		}
		got = append(got, tcp.Payload...)
	}
	if !bytes.Contains(data, got) || len(got) != len(first.Payload) {
		t.Fatalf("segments carry %d bytes, not the %d the kernel sent", len(got), len(first.Payload))
	}
	t.Logf("cut into %d segments of %d bytes", p.Segments(), h.GSOSize)

	// Peer to kernel: 20 full segments written as one GSO packet, cut
	// here, and delivered by the kernel's TCP.
	const mss = 1460
	payload := make([]byte, 20*mss-333)
	for i := range payload {
		payload[i] = byte(i * 31)
	}
	gso := peerPacket(t, &layers.TCP{DstPort: kernelPort, Seq: peerISN + 1, Ack: first.Seq + uint32(len(first.Payload)),
		ACK: true, PSH: true}, payload)
	// As a sender with offload would hand it over: only the
	// pseudo-header sum in the checksum field, the ID fixed per segment.
	const l4 = 34
	binary.BigEndian.PutUint16(gso[l4+16:], fold(refSum(gso[26:34])+6+uint32(len(gso)-l4)))
	hp := Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: mss, CsumStart: l4, CsumOffset: 16}
	src = chain(gso, 2048)
	p, err = NewPlan(hp, src)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	for k := range p.Segments() {
		n, err := p.WriteSegment(dst, src, k)
		if err != nil {
			t.Fatalf("segment %d: %v", k, err)
		}
		writeFrame(t, tap, dst[:n])
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	recv := make([]byte, len(payload))
	if _, err := io.ReadFull(conn, recv); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("kernel did not deliver the %d segments (checksums refused?): %v", p.Segments(), err)
		}
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(recv, payload) {
		t.Fatal("kernel delivered different bytes")
	}
}
