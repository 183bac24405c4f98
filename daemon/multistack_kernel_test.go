package daemon_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/internal/nstest"
)

// TestMultistackKernel runs a multistack switch between a NIC (an
// AF_PACKET port on a veth whose far end is in namespace "peer") and the
// host's own stack (a TAP port with the shared address 10.81.7.1), with a
// pipe port as a user-level stack holding udp 10.81.7.1:7777. The peer
// resolves and pings the shared address (ARP shared, ICMP to the host),
// reaches a host socket on another UDP port, and its datagrams to the
// reserved tuple reach the stack and not the host; the host's datagrams
// from the reserved tuple are dropped.
func TestMultistackKernel(t *testing.T) {
	nstest.RequireRoot(t)
	sweepMultistackDevices(t)
	pre := "mxm" + nstest.Uniq()
	peer := nstest.NewHost(t, pre, "10.81.7.2/24", 1500)
	tapName := pre + "t"
	t.Cleanup(func() { nstest.RunErr("ip", "link", "del", tapName) })

	td := start(t, t.TempDir())
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "ms", Module: "multistack"}))
	must[control.PortInfo](t)(c.AddPort(cx, "ms", control.PortSpec{Name: "nic", Type: control.TypeAFPacket, Kernel: &control.KernelSpec{Interface: peer.Sw}}))
	must[control.PortInfo](t)(c.AddPort(cx, "ms", control.PortSpec{Name: "host", Type: control.TypeTap, Tap: &control.TapSpec{Name: tapName}}))
	must[control.PortInfo](t)(c.AddPort(cx, "ms", control.PortSpec{Name: "stack", Type: control.TypePipe}))
	check(t, c.SetMultistack(cx, "ms", control.MultistackSpec{NIC: "nic", Host: "host"}))
	os.WriteFile("/proc/sys/net/ipv6/conf/"+tapName+"/disable_ipv6", []byte("1"), 0)
	nstest.Run(t, "ip", "addr", "add", "10.81.7.1/24", "dev", tapName)
	nstest.Run(t, "ip", "link", "set", tapName, "up")
	check(t, c.Reserve(cx, "ms", control.Reservation{Proto: "udp", IP: "10.81.7.1", Port: 7777, Out: "stack"}))

	// ARP and ICMP: the host answers for the shared address.
	nstest.Ping(t, peer, "10.81.7.1")

	// UDP to a host socket, and to the stack's tuple, where a host socket
	// bound after the reservation gets nothing.
	hostSock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 81, 7, 1), Port: 7778})
	check(t, err)
	defer hostSock.Close()
	late, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 81, 7, 1), Port: 7777})
	check(t, err)
	defer late.Close()
	send := func(port int, msg string) {
		t.Helper()
		nstest.Run(t, peer.Exec("bash", "-c", fmt.Sprintf("echo %s > /dev/udp/10.81.7.1/%d", msg, port))...)
	}
	send(7777, "to-stack")
	send(7778, "to-host")
	buf := make([]byte, 64)
	hostSock.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := hostSock.ReadFromUDP(buf)
	check(t, err)
	if got := string(buf[:n]); got != "to-host\n" {
		t.Fatalf("host socket read %q", got)
	}
	td.waitStats(t, "ms", func(m map[string]control.PortStats) bool { return m["stack"].TxPackets >= 1 })
	late.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := late.ReadFromUDP(buf); err == nil {
		t.Fatalf("the host's socket on the reserved tuple read %q", buf[:n])
	}

	// The host may not send from the stack's tuple.
	before := must[control.ModuleInfo](t)(c.Module(cx, "ms")).Counters["spoofed"]
	_, err = late.WriteToUDP([]byte("spoof"), &net.UDPAddr{IP: net.IPv4(10, 81, 7, 2), Port: 9})
	check(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for must[control.ModuleInfo](t)(c.Module(cx, "ms")).Counters["spoofed"] == before {
		if time.Now().After(deadline) {
			t.Fatal("the host's datagram from the reserved tuple was not dropped as spoofed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mi := must[control.ModuleInfo](t)(c.Module(cx, "ms"))
	t.Logf("module counters: %v", mi.Counters)
	if mi.Counters["to_stack"] < 1 || mi.Counters["to_host"] < 4 || mi.Counters["shared"] < 1 || mi.Counters["to_nic"] < 4 {
		t.Fatalf("module counters %v", mi.Counters)
	}
}

// sweepMultistackDevices deletes the namespaces and links of an earlier run
// of this test that did not clean up (killed): those named mxm*.
func sweepMultistackDevices(t *testing.T) {
	out, _ := nstest.RunErr("ip", "netns", "list")
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "mxm") {
			t.Logf("deleting stale namespace %s", f[0])
			nstest.RunErr("ip", "netns", "del", f[0])
		}
	}
	out, _ = nstest.RunErr("ip", "-o", "link", "show")
	for _, l := range strings.Split(out, "\n") {
		// "7: mxm1a2b3cs@if6: <...": the name is the second field.
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "mxm") {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			t.Logf("deleting stale link %s", name)
			nstest.RunErr("ip", "link", "del", name)
		}
	}
}
