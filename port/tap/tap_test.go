package tap

import (
	"os"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/port/afpacket"
)

// TestHostStack connects the root namespace's stack, through a TAP port, and
// a host in a namespace, through an afpacket port on its veth, with one
// switch: ping and TCP both ways.
// TestHostStack: the host's stack on a TAP port reaches a namespace on an
// afpacket port (ping, TCP both ways, no checksum errors), with the
// default coalescing and without.
func TestHostStack(t *testing.T) {
	for _, c := range []struct {
		name     string
		coalesce time.Duration
	}{{"coalesce", 0}, {"no-coalesce", -1}} {
		t.Run(c.name, func(t *testing.T) { testHostStack(t, c.coalesce) })
	}
}

func testHostStack(t *testing.T, coalesce time.Duration) {
	requireRoot(t)
	pre := "mxt" + uniq()
	h := newHost(t, pre+"a", "10.78.9.2/24", 1500)
	name := pre + "t"
	t.Cleanup(func() { runErr("ip", "link", "del", name) }) // in case Close did not
	tp, err := Open(Config{Name: name, Coalesce: coalesce})
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Created() {
		t.Errorf("Created() = false for a new device")
	}
	sw, err := fabric.New("tap-test", fabric.Options{})
	if err != nil {
		tp.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	if _, err := sw.Attach(tp, fabric.PortConfig{Name: name}); err != nil {
		tp.Close()
		t.Fatal(err)
	}
	ap, err := afpacket.Open(afpacket.Config{Interface: h.Sw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Attach(ap, fabric.PortConfig{Name: h.Sw}); err != nil {
		ap.Close()
		t.Fatal(err)
	}
	os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0)
	run(t, "ip", "addr", "add", "10.78.9.1/24", "dev", name)
	run(t, "ip", "link", "set", name, "up")
	root := host{IP: "10.78.9.1"}

	ping(t, root, h.IP)
	ping(t, h, root.IP)
	up := iperf(t, root, h, 3)
	t.Logf("TCP namespace -> host stack: %.2f Gb/s, %d retransmits", up.Gbps, up.Retransmits)
	down := iperf(t, h, root, 3)
	t.Logf("TCP host stack -> namespace: %.2f Gb/s, %d retransmits", down.Gbps, down.Retransmits)
	if up.Gbps < 0.1 || down.Gbps < 0.1 {
		t.Errorf("TCP too slow: %.2f and %.2f Gb/s", up.Gbps, down.Gbps)
	}
	if n := snmp(t, h, "Tcp", "InCsumErrors"); n != 0 {
		t.Errorf("namespace: TcpInCsumErrors %d", n)
	}
	t.Logf("tap: %+v", tp.Stats())
	t.Logf("afpacket: %+v", ap.Stats())
	for _, st := range sw.Stats() {
		t.Logf("fabric %s: rx %d tx %d drops %v", st.Name, st.RxPackets, st.TxPackets, st.Drops)
	}
}

// TestLifetime: Close removes a device Open created and leaves a persistent
// one that existed.
func TestLifetime(t *testing.T) {
	requireRoot(t)
	pre := "mxt" + uniq()
	fresh, kept := pre+"n", pre+"p"
	t.Cleanup(func() {
		runErr("ip", "link", "del", fresh)
		runErr("ip", "link", "del", kept)
	})
	p, err := Open(Config{Name: fresh, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/class/net/" + fresh); err != nil {
		t.Fatalf("device not created: %v", err)
	}
	p.Close()
	if _, err := os.Stat("/sys/class/net/" + fresh); err == nil {
		t.Errorf("device %s still there after Close", fresh)
	}

	run(t, "ip", "tuntap", "add", "mode", "tap", "name", kept)
	p, err = Open(Config{Name: kept})
	if err != nil {
		t.Fatal(err)
	}
	if p.Created() {
		t.Errorf("Created() = true for an existing device")
	}
	p.Close()
	if _, err := os.Stat("/sys/class/net/" + kept); err != nil {
		t.Errorf("persistent device removed by Close: %v", err)
	}
}
