package tap

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

// requireRoot skips tests that need real interfaces when not root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces and veth pairs")
	}
}

// run runs a command, failing the test on error, bounded in time.
func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runErr(args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// host is a network namespace with one end of a veth pair inside (Dev,
// address IP) and the other end, Sw, in the root namespace for the switch.
type host struct {
	NS, Dev, Sw, IP string
}

// exec returns the command line that runs args in h's namespace; a host
// without NS is the root namespace.
func (h host) exec(args ...string) []string {
	if h.NS == "" {
		return args
	}
	return append([]string{"ip", "netns", "exec", h.NS}, args...)
}

// uniq returns a short random suffix for device names.
func uniq() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newHost creates namespace prefix+name with a veth pair; the namespace end
// gets ip (CIDR) and both ends mtu. Everything is removed at cleanup.
func newHost(t testing.TB, prefix, ip string, mtu int) host {
	t.Helper()
	h := host{NS: prefix, Dev: prefix + "h", Sw: prefix + "s", IP: strings.Split(ip, "/")[0]}
	run(t, "ip", "netns", "add", h.NS)
	t.Cleanup(func() {
		runErr("ip", "link", "del", h.Sw)
		runErr("ip", "netns", "del", h.NS)
	})
	run(t, "ip", "link", "add", h.Sw, "mtu", fmt.Sprint(mtu), "type", "veth", "peer", "name", h.Dev, "netns", h.NS, "mtu", fmt.Sprint(mtu))
	run(t, h.exec("ip", "addr", "add", ip, "dev", h.Dev)...)
	run(t, h.exec("ip", "link", "set", h.Dev, "up")...)
	run(t, h.exec("ip", "link", "set", "lo", "up")...)
	run(t, "ip", "link", "set", h.Sw, "up")
	// No IPv6 chatter (router solicitations, DAD) on the switch's side.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+h.Sw+"/disable_ipv6", []byte("1"), 0)
	return h
}

// ping pings from h to ip, count times, and fails the test if any is lost.
func ping(t testing.TB, h host, ip string, extra ...string) {
	t.Helper()
	args := append([]string{"ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-w", "10"}, extra...)
	out := run(t, h.exec(append(args, ip)...)...)
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping %s from %s: %s", ip, h.NS, out)
	}
}

// iperfResult is what iperf3 -J says of a TCP run.
type iperfResult struct {
	Gbps        float64
	Retransmits int
}

// iperf runs an iperf3 TCP test of secs seconds from client to server.
func iperf(t testing.TB, server, client host, secs int, extra ...string) iperfResult {
	t.Helper()
	port := fmt.Sprint(5300 + int(time.Now().UnixNano()%500))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	sargs := server.exec("iperf3", "-s", "-1", "-p", port)
	srv := exec.CommandContext(ctx, sargs[0], sargs[1:]...)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	args := client.exec(append([]string{"iperf3", "-c", server.IP, "-p", port, "-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000"}, extra...)...)
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
	return iperfResult{Gbps: r.End.SumReceived.Bps / 1e9, Retransmits: r.End.SumSent.Retransmits}
}

// snmp returns a counter of /proc/net/snmp (e.g. "Tcp", "InCsumErrors")
// inside h's namespace.
func snmp(t testing.TB, h host, proto, name string) int64 {
	t.Helper()
	out := run(t, h.exec("cat", "/proc/net/snmp")...)
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
