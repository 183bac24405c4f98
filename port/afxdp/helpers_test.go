package afxdp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/frame/frametest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// needRoot skips the test unless it runs as root.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces, veth pairs and XDP programs)")
	}
}

// env is one test's share of the machine: network namespaces and veth
// pairs named with a random prefix, all deleted at the end of the test.
type env struct {
	t      testing.TB
	prefix string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	needRoot(t)
	b := make([]byte, 2)
	rand.Read(b)
	return &env{t: t, prefix: "mxa" + hex.EncodeToString(b)}
}

// host is a network namespace with one end of a veth pair (dev, with
// address ip); the other end, sw, stays in the root namespace for the
// switch.
type host struct {
	e   *env
	ns  string
	dev string
	sw  string
	ip  string
	mac net.HardwareAddr
}

type hostOpts struct {
	mtu    int // default 1500
	queues int // default 1
}

// run runs a command with a time limit and fails the test if it fails.
func (e *env) run(args ...string) string {
	e.t.Helper()
	out, err := runCmd(10*time.Second, args...)
	if err != nil {
		e.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runCmd(limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// addHost creates host i (1..254): namespace <prefix>n<i>, veth
// <prefix>s<i> (root namespace, up, no IPv6) <-> <prefix>h<i> (in the
// namespace, 10.77.0.<i>/24, up, transmit checksum offload off so that
// the packets the switch sees are complete).
func (e *env) addHost(i int, o hostOpts) *host {
	e.t.Helper()
	h := &host{e: e, ns: fmt.Sprintf("%sn%d", e.prefix, i), dev: fmt.Sprintf("%sh%d", e.prefix, i),
		sw: fmt.Sprintf("%ss%d", e.prefix, i), ip: fmt.Sprintf("10.77.0.%d", i)}
	if o.mtu == 0 {
		o.mtu = 1500
	}
	if o.queues == 0 {
		o.queues = 1
	}
	e.t.Cleanup(func() {
		runCmd(5*time.Second, "ip", "link", "del", h.sw)
		runCmd(5*time.Second, "ip", "netns", "del", h.ns)
	})
	q := []string{"numtxqueues", fmt.Sprint(o.queues), "numrxqueues", fmt.Sprint(o.queues)}
	e.run("ip", "netns", "add", h.ns)
	e.run(append(append(append([]string{"ip", "link", "add", h.sw}, q...), "type", "veth", "peer", "name", h.dev), append(q, "netns", h.ns)...)...)
	os.WriteFile("/proc/sys/net/ipv6/conf/"+h.sw+"/disable_ipv6", []byte("1"), 0)
	e.run("ip", "link", "set", h.sw, "mtu", fmt.Sprint(o.mtu), "up")
	e.run("ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	e.run("ip", "-n", h.ns, "link", "set", "lo", "up")
	e.run("ip", "-n", h.ns, "link", "set", h.dev, "mtu", fmt.Sprint(o.mtu), "up")
	e.run("ip", "-n", h.ns, "addr", "add", h.ip+"/24", "dev", h.dev)
	e.run("ip", "netns", "exec", h.ns, "ethtool", "-K", h.dev, "tx", "off")
	h.inNS(func() {
		ifi, err := net.InterfaceByName(h.dev)
		if err != nil {
			e.t.Fatal(err)
		}
		h.mac = ifi.HardwareAddr
	})
	return h
}

// exec runs a command inside the host's namespace.
func (h *host) exec(limit time.Duration, args ...string) (string, error) {
	return runCmd(limit, append([]string{"ip", "netns", "exec", h.ns}, args...)...)
}

// ping pings dst from the host and fails the test unless every ping is
// answered.
func (h *host) ping(dst *host, extra ...string) {
	h.e.t.Helper()
	// One ping first resolves ARP and teaches the bridge both MACs; on a
	// loaded machine it may take longer than the others.
	h.exec(10*time.Second, append(append([]string{"ping", "-n", "-q", "-c", "1", "-W", "5"}, extra...), dst.ip)...)
	args := append([]string{"ping", "-n", "-q", "-c", "5", "-i", "0.1", "-W", "2"}, extra...)
	out, err := h.exec(15*time.Second, append(args, dst.ip)...)
	if err != nil || !strings.Contains(out, " 0% packet loss") {
		h.e.t.Fatalf("ping %s -> %s %v: %v\n%s", h.ip, dst.ip, extra, err, out)
	}
}

// rxPackets returns the packets the host's interface received.
func (h *host) rxPackets() uint64 {
	h.e.t.Helper()
	ns, err := netns.GetFromName(h.ns)
	if err != nil {
		h.e.t.Fatal(err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		h.e.t.Fatal(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(h.dev)
	if err != nil {
		h.e.t.Fatal(err)
	}
	return l.Attrs().Statistics.RxPackets
}

// inNS runs f on a thread in the host's namespace.
func (h *host) inNS(f func()) {
	h.e.t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		h.e.t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(h.ns)
	if err != nil {
		runtime.UnlockOSThread()
		h.e.t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		h.e.t.Fatal(err)
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
	}()
	f()
}

// packetSocket opens an AF_PACKET socket on the host's interface, for
// sending raw frames and counting the frames that arrive.
func (h *host) packetSocket() int {
	h.e.t.Helper()
	var fd int
	h.inNS(func() {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			h.e.t.Fatal(err)
		}
		ifi, err := net.InterfaceByName(h.dev)
		if err != nil {
			h.e.t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			h.e.t.Fatal(err)
		}
	})
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	h.e.t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// udpFrame builds an IPv4/UDP frame of size bytes (at least 60) from
// host h to host dst, flow as its source port, to port 9 (discard), with
// a marker, the flow and seq in its payload.
func (h *host) udpFrame(dst *host, size int, flow uint16, seq uint32) []byte {
	payload := make([]byte, size-udpPayloadOff)
	copy(payload, marker)
	binary.BigEndian.PutUint16(payload[4:], flow)
	binary.BigEndian.PutUint32(payload[6:], seq)
	for i := 10; i < len(payload); i++ {
		payload[i] = byte(i)
	}
	var src, dstIP [4]byte
	copy(src[:], net.ParseIP(h.ip).To4())
	copy(dstIP[:], net.ParseIP(dst.ip).To4())
	b := make([]byte, 0, size)
	b = append(b, dst.mac...)
	b = append(b, h.mac...)
	b = append(b, 0x08, 0x00)
	return append(b, frametest.IPv4{Proto: 17, Src: src, Dst: dstIP}.Build(frametest.UDP(10000+flow, 9, payload))...)
}

// marker starts the payload of the test's UDP frames.
var marker = []byte("MSWX")

// udpPayloadOff is where the UDP payload starts in a test frame.
const udpPayloadOff = 14 + 20 + 8

// isTestFrame reports whether b is one of the test's UDP frames.
func isTestFrame(b []byte) bool {
	return len(b) >= udpPayloadOff+len(marker) && b[12] == 0x08 && b[13] == 0 && b[23] == 17 &&
		string(b[udpPayloadOff:udpPayloadOff+len(marker)]) == string(marker)
}

// counter counts the test frames arriving at a packet socket until stopped.
type counter struct {
	n, bytes atomic.Uint64
	last     atomic.Pointer[time.Time] // when the last one arrived
	stop     atomic.Bool
	done     chan struct{}
}

func countFrames(fd int) *counter {
	c := &counter{done: make(chan struct{})}
	tv := unix.Timeval{Usec: 50000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	go func() {
		defer close(c.done)
		buf := make([]byte, 65536)
		for !c.stop.Load() {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if isTestFrame(buf[:n]) {
				now := time.Now()
				c.last.Store(&now)
				c.n.Add(1)
				c.bytes.Add(uint64(n))
			}
		}
	}()
	return c
}

func (c *counter) close() {
	c.stop.Store(true)
	<-c.done
}

// waitFor polls cond until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// testLogger logs through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// cpuTime returns the CPU time (user + system) the process has used.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// xdpAttached reports whether `ip link show` lists an XDP program on dev.
func xdpAttached(t testing.TB, dev string) bool {
	t.Helper()
	out, err := runCmd(5*time.Second, "ip", "link", "show", "dev", dev)
	if err != nil {
		t.Fatalf("ip link show %s: %v\n%s", dev, err, out)
	}
	return strings.Contains(out, "xdp")
}
