package main

import (
	"strings"
	"testing"
)

func TestMultistack(t *testing.T) {
	e := newEnv(t)
	e.ok("switch", "add", "ms", "--module", "multistack")
	for _, p := range []string{"eth", "tap", "s1", "s2"} {
		e.ok("port", "add", "ms", p, "--type", "pipe")
	}
	e.fails(`required flag(s) "nic" not set`, "multistack", "set", "ms")
	e.ok("multistack", "set", "ms", "--nic", "eth", "--host", "tap")
	if out := e.ok("multistack", "show", "ms"); out != "nic:  eth\nhost: tap\n" {
		t.Fatalf("multistack show:\n%s", out)
	}
	e.ok("multistack", "reserve", "ms", "s1", "tcp", "10.0.0.1", "80")
	e.ok("multistack", "reserve", "ms", "s2", "udp", "2001:db8::1", "53")
	e.wantTable(`
PROTO IP PORT OUT
tcp 10.0.0.1 80 s1
udp 2001:db8::1 53 s2`, "multistack", "list", "ms")
	e.fails(`tcp 10.0.0.1:80 is reserved already, by port "s1"`, "multistack", "reserve", "ms", "s2", "tcp", "10.0.0.1", "80")
	e.fails(`protocol "icmp" is neither tcp nor udp`, "multistack", "reserve", "ms", "s2", "icmp", "10.0.0.1", "80")
	e.fails(`"10.0.0" is not an IP address: write it as 10.0.0.1 or 2001:db8::1`, "multistack", "reserve", "ms", "s2", "tcp", "10.0.0", "80")
	e.fails(`L4 port "http" is not a number in [1, 65535]`, "multistack", "release", "ms", "tcp", "10.0.0.1", "http")
	e.ok("multistack", "release", "ms", "tcp", "10.0.0.1", "80")
	e.fails(`switch "ms" has no reservation of tcp 10.0.0.1:80`, "multistack", "release", "ms", "tcp", "10.0.0.1", "80")
	e.wantTable("PROTO IP PORT OUT\nudp 2001:db8::1 53 s2", "multistack", "list", "ms")
	e.ok("multistack", "set", "ms", "--nic", "eth")
	if out := e.ok("multistack", "show", "ms"); out != "nic:  eth\nhost: -\n" {
		t.Fatalf("multistack show without a host:\n%s", out)
	}
	out := e.ok("module", "show", "ms")
	if !strings.HasPrefix(out, "ms: multistack\n") || !strings.Contains(table(out), "reservations 1") {
		t.Fatalf("module show:\n%s", out)
	}
}
