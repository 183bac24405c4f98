// Package nstest builds the test hosts of the kernel-port packages: network
// namespaces, each with one end of a veth pair inside and the other end in
// the root namespace for the switch, and the tools run between them (ping,
// iperf3, the kernel's SNMP counters). Everything a test creates is removed
// in its Cleanup; commands are bounded in time.
package nstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireRoot skips tests that need real interfaces when not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces and veth pairs")
	}
}

// Run runs a command, failing the test on error, bounded in time.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := RunErr(args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func RunErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// Host is a network namespace with one end of a veth pair inside (Dev,
// address IP) and the other end, Sw, in the root namespace for the switch.
type Host struct {
	NS, Dev, Sw, IP string
}

// Exec returns the command line that runs args in h's namespace; a Host
// without NS is the root namespace.
func (h Host) Exec(args ...string) []string {
	if h.NS == "" {
		return args
	}
	return append([]string{"ip", "netns", "exec", h.NS}, args...)
}

// Uniq returns a short random suffix for device names.
func Uniq() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewHost creates namespace prefix+name with a veth pair; the namespace end
// gets ip (CIDR) and both ends mtu. Everything is removed at cleanup.
func NewHost(t testing.TB, prefix, ip string, mtu int) Host {
	t.Helper()
	h := Host{NS: prefix, Dev: prefix + "h", Sw: prefix + "s", IP: strings.Split(ip, "/")[0]}
	Run(t, "ip", "netns", "add", h.NS)
	t.Cleanup(func() {
		RunErr("ip", "link", "del", h.Sw)
		RunErr("ip", "netns", "del", h.NS)
	})
	Run(t, "ip", "link", "add", h.Sw, "mtu", fmt.Sprint(mtu), "type", "veth", "peer", "name", h.Dev, "netns", h.NS, "mtu", fmt.Sprint(mtu))
	Run(t, h.Exec("ip", "addr", "add", ip, "dev", h.Dev)...)
	Run(t, h.Exec("ip", "link", "set", h.Dev, "up")...)
	Run(t, h.Exec("ip", "link", "set", "lo", "up")...)
	Run(t, "ip", "link", "set", h.Sw, "up")
	// No IPv6 chatter (router solicitations, DAD) on the switch's side.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+h.Sw+"/disable_ipv6", []byte("1"), 0)
	return h
}

// Ping pings from h to ip, count times, and fails the test if any is lost.
func Ping(t testing.TB, h Host, ip string, extra ...string) {
	t.Helper()
	args := append([]string{"ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-w", "10"}, extra...)
	out := Run(t, h.Exec(append(args, ip)...)...)
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping %s from %s: %s", ip, h.NS, out)
	}
}

// IperfResult is what iperf3 -J says of a TCP run.
type IperfResult struct {
	Gbps        float64
	Retransmits int
}

// Iperf runs an iperf3 TCP test of secs seconds from client to server.
func Iperf(t testing.TB, server, client Host, secs int, extra ...string) IperfResult {
	t.Helper()
	port := fmt.Sprint(5300 + int(time.Now().UnixNano()%500))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	sargs := server.Exec("iperf3", "-s", "-1", "-p", port)
	srv := exec.CommandContext(ctx, sargs[0], sargs[1:]...)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	args := client.Exec(append([]string{"iperf3", "-c", server.IP, "-p", port, "-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000"}, extra...)...)
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("iperf3 client: %v\n%s", err, out)
	}
	var r struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bps float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	return IperfResult{Gbps: r.End.SumReceived.Bps / 1e9, Retransmits: r.End.SumSent.Retransmits}
}

// SNMP returns a counter of /proc/net/snmp (e.g. "Tcp", "InCsumErrors")
// inside h's namespace.
func SNMP(t testing.TB, h Host, proto, name string) int64 {
	t.Helper()
	out := Run(t, h.Exec("cat", "/proc/net/snmp")...)
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], proto+":") || !strings.HasPrefix(lines[i+1], proto+":") {
			continue
		}
		keys, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range keys {
			if keys[j] == name && j < len(vals) {
				var v int64
				fmt.Sscan(vals[j], &v)
				return v
			}
		}
	}
	t.Fatalf("no %s %s in /proc/net/snmp", proto, name)
	return 0
}
