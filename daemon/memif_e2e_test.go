package daemon_test

import (
	"bytes"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/port/memif"
)

// receive waits for n frames on queue 0 of c.
func receive(t *testing.T, c *memif.Client, n int) [][]byte {
	t.Helper()
	var got [][]byte
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, len(bufs))
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d frames", len(got), n)
		}
		if _, err := c.Wait(0, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		k, err := c.Receive(0, bufs, sizes)
		check(t, err)
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	return got
}

func dial(t *testing.T, path string, id uint32) *memif.Client {
	t.Helper()
	var c *memif.Client
	var err error
	for range 50 { // the link of a port just deleted may still be going down
		if c, err = memif.Dial(path, memif.ClientConfig{ID: id, Name: "test", Secret: "pw"}); err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// Two memif clients exchange traffic through a learning switch; links show
// up and down in the port list; after a restart of the daemon the clients
// reconnect and traffic flows again.
func TestMemifThroughDaemon(t *testing.T) {
	dir := t.TempDir()
	td := start(t, dir)
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "sw0"}))
	for i, n := range []string{"m1", "m2"} {
		p := must[control.PortInfo](t)(c.AddPort(cx, "sw0", control.PortSpec{Name: n, Type: control.TypeMemif,
			Memif: &control.MemifSpec{ID: uint32(i + 1), Secret: "pw"}}))
		if p.State != control.StateDown || p.Link == nil || p.Link.Connected || p.Memif.Secret != "*" || p.Memif.Mode != "interrupt" {
			t.Fatalf("new memif port %+v", p)
		}
	}
	sock := filepath.Join(dir, "memif.sock")
	run := func(td *testDaemon) {
		t.Helper()
		c1, c2 := dial(t, sock, 1), dial(t, sock, 2)
		ports := must[[]control.PortInfo](t)(td.c.Ports(cx, "sw0"))
		for _, p := range ports {
			if p.State != control.StateUp || p.Link.IfName != "test" || p.Link.Connects == 0 {
				t.Fatalf("connected port %+v link %+v", p, p.Link)
			}
		}
		var fwd, back [][]byte
		for i := range 10 {
			fwd = append(fwd, udpFrame(macA, macB, i))
			back = append(back, udpFrame(macB, macA, i))
		}
		// m1 -> flood -> m2, then m2 -> m1 (learned) and m1 -> m2 (learned).
		n, err := c1.Send(0, fwd)
		check(t, err)
		if n != len(fwd) {
			t.Fatalf("sent %d", n)
		}
		got := receive(t, c2, 10)
		for i := range got {
			if !bytes.Equal(got[i], fwd[i]) {
				t.Fatalf("frame %d: %x", i, got[i])
			}
		}
		_, err = c2.Send(0, back)
		check(t, err)
		receive(t, c1, 10)
		st := td.waitStats(t, "sw0", func(m map[string]control.PortStats) bool {
			return m["m1"].TxPackets == 10 && m["m2"].TxPackets == 10
		})
		if st["m1"].RxPackets != 10 || st["m2"].RxPackets != 10 {
			t.Fatalf("stats %+v", st)
		}
		c1.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			p := must[control.PortInfo](t)(td.c.Port(cx, "sw0", "m1"))
			if p.State == control.StateDown && p.Link.Disconnects > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("port still %+v after its client left", p.Link)
			}
			time.Sleep(10 * time.Millisecond)
		}
		c2.Close()
	}
	run(td)

	// A wrong secret is refused and counted.
	if _, err := memif.Dial(sock, memif.ClientConfig{ID: 1, Secret: "nope"}); err == nil {
		t.Fatal("client with a wrong secret connected")
	}
	if p := must[control.PortInfo](t)(c.Port(cx, "sw0", "m1")); p.Link.Rejects["secret"] != 1 {
		t.Fatalf("rejects %+v", p.Link.Rejects)
	}

	td.stop()
	run(start(t, dir))
}

// A memif socket another program listens on is refused with advice.
func TestMemifSocketInUse(t *testing.T) {
	dir := t.TempDir()
	td := start(t, dir)
	c, cx := td.c, ctx(t)
	busy := filepath.Join(dir, "busy.sock")
	l, err := net.Listen("unixpacket", busy)
	check(t, err)
	defer l.Close()
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "s"}))
	_, err = c.AddPort(cx, "s", control.PortSpec{Name: "m", Type: "memif", Memif: &control.MemifSpec{Socket: busy}})
	wantErr(t, err, 409, "memif socket "+busy+" is in use by another program: choose another path with --socket")
	_, err = c.AddPort(cx, "s", control.PortSpec{Name: "m", Type: "memif", Memif: &control.MemifSpec{Mode: "turbo"}})
	wantErr(t, err, 400, `memif port "m": mode "turbo" is neither interrupt nor poll`)
	// Ports of two switches share the default socket; an ID is taken once.
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "t"}))
	must[control.PortInfo](t)(c.AddPort(cx, "s", control.PortSpec{Name: "m", Type: "memif", Memif: &control.MemifSpec{ID: 5}}))
	_, err = c.AddPort(cx, "t", control.PortSpec{Name: "m", Type: "memif", Memif: &control.MemifSpec{ID: 5}})
	wantErr(t, err, 409, `already serves interface id 5 (port "m" of switch "s"): choose another --id`)
	must[control.PortInfo](t)(c.AddPort(cx, "t", control.PortSpec{Name: "m", Type: "memif", Memif: &control.MemifSpec{ID: 6}}))
	check(t, c.DeleteSwitch(cx, "s"))
	dial(t, filepath.Join(dir, "memif.sock"), 6).Close()
}
