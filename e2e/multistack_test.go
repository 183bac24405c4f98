package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/vishvananda/netns"
)

// The multistack test: the host's kernel stack and a user-level stack
// (mswitch-stack, gVisor's netstack on a memif port) share one IP address
// and one MAC behind a multistack switch. A client in namespace mxs-h1,
// on a veth whose other end is the switch's NIC port, reaches both: the
// 3-tuple the user-level stack reserved goes to it, everything else to the
// host through the TAP port.
//
//	mxs-h1: mxs-h1e 10.213.0.2/24
//	            |
//	         mxs-nic --[NIC] sw0 (multistack) [host]-- mxs-tap 10.213.0.1/24 (root ns, kernel)
//	                             [st1, memif 1]-- mswitch-stack 10.213.0.1, the TAP's MAC
const (
	msNS       = "mxs-h1"
	msNSDev    = "mxs-h1e"
	msNIC      = "mxs-nic"
	msTAP      = "mxs-tap"
	msHostIP   = "10.213.0.1"
	msClientIP = "10.213.0.2"
)

var (
	stackBin    sync.Once
	stackBinErr error
)

// buildStack builds mswitch-stack next to the other binaries.
func buildStack(t *testing.T) {
	t.Helper()
	stackBin.Do(func() {
		args := []string{"build", "-o", bin + "/"}
		if race() {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../cmd/mswitch-stack")...).CombinedOutput()
		if err != nil {
			stackBinErr = fmt.Errorf("build mswitch-stack: %v\n%s", err, out)
		}
	})
	if stackBinErr != nil {
		t.Fatal(stackBinErr)
	}
}

// msSweep removes every device and namespace named mxs-*: a run killed
// by a timeout leaves them.
func msSweep() {
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
			if strings.HasPrefix(name, "mxs-") {
				exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
	out, _ = exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "mxs-") {
			exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
}

// msRun runs a command, failing the test if it fails.
func msRun(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// msIn runs a command in mxs-h1, bounded in time.
func msIn(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", msNS}, args...)...).CombinedOutput()
	return string(out), err
}

// inNS runs f on a thread in namespace ns.
func inNS(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
	}()
	f()
}

// msTopo is the multistack test's network: the namespace, the veth, the
// daemon with switch sw0 and its NIC and host (TAP) ports.
type msTopo struct {
	d      *daemon
	tapMAC string
}

func newMultistackTopo(t *testing.T, nicType string) *msTopo {
	t.Helper()
	msSweep()
	t.Cleanup(msSweep)
	msRun(t, "ip", "netns", "add", msNS)
	msRun(t, "ip", "link", "add", msNIC, "type", "veth", "peer", "name", msNSDev, "netns", msNS)
	msRun(t, "ip", "-n", msNS, "addr", "add", msClientIP+"/24", "dev", msNSDev)
	msRun(t, "ip", "-n", msNS, "link", "set", msNSDev, "up")
	msRun(t, "ip", "-n", msNS, "link", "set", "lo", "up")
	msRun(t, "ip", "link", "set", msNIC, "up")
	os.WriteFile("/proc/sys/net/ipv6/conf/"+msNIC+"/disable_ipv6", []byte("1"), 0)

	d := startDaemon(t, t.TempDir())
	d.ctl(t, "switch", "add", "sw0", "--module", "multistack")
	d.ctl(t, "port", "add", "sw0", "nic", "--type", nicType, "--interface", msNIC)
	d.ctl(t, "port", "add", "sw0", "host", "--type", "tap", "--interface", msTAP)
	d.ctl(t, "port", "add", "sw0", "st1", "--type", "memif", "--id", "1")
	if err := d.c.SetMultistack(t.Context(), "sw0", control.MultistackSpec{NIC: "nic", Host: "host"}); err != nil {
		t.Fatalf("set multistack roles: %v", err)
	}
	msRun(t, "ip", "addr", "add", msHostIP+"/24", "dev", msTAP)
	msRun(t, "ip", "link", "set", msTAP, "up")
	ifi, err := net.InterfaceByName(msTAP)
	if err != nil {
		t.Fatal(err)
	}
	return &msTopo{d: d, tapMAC: ifi.HardwareAddr.String()}
}

// startStack runs mswitch-stack on port st1 (memif id 1), sharing the
// TAP's address and MAC, reserving tcp 10.213.0.1:8080.
func (m *msTopo) startStack(t *testing.T, extra ...string) *proc {
	t.Helper()
	args := append([]string{
		"-socket", filepath.Join(m.d.dir, "memif.sock"), "-id", "1",
		"-ip", msHostIP + "/24", "-share-mac", msTAP, "-listen", ":8080",
		"-control", filepath.Join(m.d.dir, "mswitchd.sock"), "-switch", "sw0", "-port", "st1",
	}, extra...)
	p := start(t, "mswitch-stack", args...)
	waitFor(t, 10*time.Second, "mswitch-stack's reservation", func() bool {
		return m.reserved(t, 8080)
	})
	return p
}

// reserved says whether tcp 10.213.0.1:port is reserved for st1.
func (m *msTopo) reserved(t *testing.T, port uint16) bool {
	t.Helper()
	rs, err := m.d.c.Reservations(t.Context(), "sw0")
	if err != nil {
		t.Fatalf("list reservations: %v", err)
	}
	for _, r := range rs {
		if r.Proto == "tcp" && r.IP == msHostIP && r.Port == port && r.Out == "st1" {
			return true
		}
	}
	return false
}

func (m *msTopo) counter(t *testing.T, name string) uint64 {
	t.Helper()
	mi, err := m.d.c.Module(t.Context(), "sw0")
	if err != nil {
		t.Fatal(err)
	}
	return mi.Counters[name]
}

// curl fetches url from mxs-h1.
func curl(url string) (string, error) {
	out, err := msIn("curl", "-sS", "--max-time", "5", url)
	if err != nil {
		return "", fmt.Errorf("curl %s from %s: %v\n%s", url, msNS, err, out)
	}
	return out, nil
}

// kernelServer serves HTTP on the host's kernel stack at
// 10.213.0.1:9090 until the test ends.
func kernelServer(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", msHostIP+":9090")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the host's kernel stack")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestMultistack runs the scenario with the NIC port on AF_PACKET and on
// AF_XDP.
func TestMultistack(t *testing.T) {
	needRoot(t, "curl", "ping", "ethtool")
	buildStack(t)
	for _, nicType := range []string{"afpacket", "afxdp"} {
		t.Run(nicType, func(t *testing.T) { testMultistack(t, nicType) })
	}
}

func testMultistack(t *testing.T, nicType string) {
	m := newMultistackTopo(t, nicType)
	kernelServer(t)
	// The stack sends UDP from port 7777, which it did not reserve, to
	// the client's port 6000.
	stack := m.startStack(t, "-spoof-udp", "7777:"+msClientIP+":6000")
	t.Log(m.d.ctl(t, "port", "list", "sw0"))

	// Both servers at the same time, a few rounds.
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		var user, kern string
		var uerr, kerr error
		wg.Add(2)
		go func() { defer wg.Done(); user, uerr = curl("http://" + msHostIP + ":8080/") }()
		go func() { defer wg.Done(); kern, kerr = curl("http://" + msHostIP + ":9090/") }()
		wg.Wait()
		if uerr != nil || kerr != nil {
			t.Fatalf("round %d: user-level stack: %v; kernel: %v\nmswitch-stack:\n%s", round, uerr, kerr, stack.out.String())
		}
		if !strings.Contains(user, "user-level stack") {
			t.Errorf("port 8080 answered %q, want the user-level stack", user)
		}
		if !strings.Contains(kern, "kernel stack") {
			t.Errorf("port 9090 answered %q, want the kernel stack", kern)
		}
	}
	if out, err := msIn("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{size_download}", "http://"+msHostIP+":8080/bytes/1000000"); err != nil || strings.TrimSpace(out) != "1000000" {
		t.Errorf("1 MB from the user-level stack: %q, %v", out, err)
	}
	// ICMP is the kernel's.
	if out, err := msIn("ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", msHostIP); err != nil {
		t.Errorf("ping %s: %v\n%s", msHostIP, err, out)
	}

	// The host stack has 9090 bound: the daemon refuses to give it away.
	err := m.d.c.Reserve(t.Context(), "sw0", control.Reservation{Proto: "tcp", IP: msHostIP, Port: 9090, Out: "st1"})
	if err == nil {
		t.Errorf("reserving tcp %s:9090, bound by the host, was accepted", msHostIP)
	} else {
		t.Logf("reserving tcp %s:9090: %v", msHostIP, err)
	}
	// And mswitch-stack itself exits with the daemon's message when
	// refused: 8080 is taken by the first one.
	m.d.ctl(t, "port", "add", "sw0", "st2", "--type", "memif", "--id", "2")
	second := start(t, "mswitch-stack", "-socket", filepath.Join(m.d.dir, "memif.sock"), "-id", "2",
		"-ip", msHostIP+"/24", "-share-mac", msTAP, "-listen", ":8080",
		"-control", filepath.Join(m.d.dir, "mswitchd.sock"), "-switch", "sw0", "-port", "st2")
	if err := waitExit(second, 15*time.Second); err == nil {
		t.Errorf("a second mswitch-stack reserving 8080 did not fail:\n%s", second.out.String())
	} else if !strings.Contains(second.out.String(), "reserve tcp") {
		t.Errorf("second mswitch-stack: %v, without the reservation's error:\n%s", err, second.out.String())
	} else {
		t.Logf("second mswitch-stack: %s", strings.TrimSpace(second.out.String()))
	}

	// Spoofing: the client sees none of the stack's datagrams from 7777,
	// but does see one from the host's stack (the socket works), and the
	// module counts the drops.
	spoofed0 := m.counter(t, "spoofed")
	var uc *net.UDPConn
	inNS(t, msNS, func() {
		uc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(msClientIP), Port: 6000})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	hc, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(msClientIP), Port: 6000})
	if err != nil {
		t.Fatal(err)
	}
	hc.Write([]byte("from the host\n"))
	hc.Close()
	var fromHost, fromStack int
	buf := make([]byte, 2048)
	end := time.Now().Add(2 * time.Second)
	for time.Now().Before(end) {
		uc.SetReadDeadline(end)
		n, from, err := uc.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if strings.Contains(string(buf[:n]), "spoof") || from.Port == 7777 {
			fromStack++
		} else {
			fromHost++
		}
	}
	spoofed1 := m.counter(t, "spoofed")
	t.Logf("client socket: %d datagrams from the host, %d spoofed ones; module spoofed %d -> %d", fromHost, fromStack, spoofed0, spoofed1)
	if fromStack != 0 {
		t.Errorf("the client received %d datagrams the stack sent from an unreserved port", fromStack)
	}
	if fromHost == 0 {
		t.Errorf("the client's socket did not receive the host's datagram")
	}
	if spoofed1 < spoofed0+5 {
		t.Errorf("module counter spoofed went %d -> %d in 2 s; the stack sends 5 a second", spoofed0, spoofed1)
	}

	// SIGTERM: mswitch-stack releases its reservation on the way out.
	stack.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(stack, 10*time.Second); err != nil {
		t.Errorf("mswitch-stack on SIGTERM: %v\n%s", err, stack.out.String())
	}
	if m.reserved(t, 8080) {
		t.Errorf("tcp %s:8080 still reserved after mswitch-stack exited:\n%s", msHostIP, stack.out.String())
	}
	if !strings.Contains(stack.out.String(), "released tcp") {
		t.Errorf("mswitch-stack did not say it released its tuple:\n%s", stack.out.String())
	}

	// SIGKILL: nothing is released by the program; deleting its port
	// releases the tuple.
	stack = m.startStack(t)
	if _, err := curl("http://" + msHostIP + ":8080/"); err != nil {
		t.Errorf("the restarted stack: %v", err)
	}
	stack.cmd.Process.Kill()
	waitExit(stack, 10*time.Second)
	t.Logf("after SIGKILL, reserved: %v", m.reserved(t, 8080))
	m.d.ctl(t, "port", "del", "sw0", "st1")
	if m.reserved(t, 8080) {
		t.Errorf("tcp %s:8080 still reserved after its port was deleted", msHostIP)
	}
	// With no owner, 8080 is the host's again: nothing listens there, the
	// kernel refuses the connection at once (a reset: curl's exit status 7
	// within a few ms, where a lost SYN would take the whole timeout).
	t0 := time.Now()
	out, err := msIn("curl", "-sS", "--max-time", "5", "http://"+msHostIP+":8080/")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 || time.Since(t0) > 3*time.Second {
		t.Errorf("curl 8080 with no owner: %v after %v, %s (want the kernel's refusal)", err, time.Since(t0), out)
	}
	if _, err := curl("http://" + msHostIP + ":9090/"); err != nil {
		t.Errorf("the host's server after all this: %v", err)
	}
}

// waitExit waits for a started process to exit, at most d, and returns
// its error (killing it on timeout).
func waitExit(p *proc, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %v", d)
	}
}
