package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/daemon"
	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
	_ "github.com/mswitch/mswitch/logic/all"
)

// testDaemon is a daemon serving on a socket in a temporary directory.
type testDaemon struct {
	*daemon.Daemon
	dir    string
	socket string
	c      *control.Client
	stop   func()
}

// start runs a daemon whose socket and state file are in dir.
func start(t *testing.T, dir string) *testDaemon {
	t.Helper()
	return startWith(t, dir, daemon.Config{})
}

// startWith is start with cfg's other settings.
func startWith(t *testing.T, dir string, cfg daemon.Config) *testDaemon {
	t.Helper()
	cfg.StatePath, cfg.Dir, cfg.Logger = filepath.Join(dir, "state.json"), dir, testLogger(t)
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "mswitchd.sock")
	l, err := daemon.Listen(sock, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	td := &testDaemon{Daemon: d, dir: dir, socket: sock, c: control.NewClient(sock)}
	stopped := false
	td.stop = func() {
		if stopped {
			return
		}
		stopped = true
		td.c.Close()
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		srv.Close()
		<-done
	}
	t.Cleanup(td.stop)
	return td
}

// testLogger logs into the test's output, shown only when it fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is the daemon's answer status with a message
// containing want.
func wantErr(t *testing.T, err error, status int, want string) {
	t.Helper()
	var e *control.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a *control.Error", err, err)
	}
	if e.Status != status || !strings.Contains(e.Message, want) {
		t.Fatalf("error %d %q, want %d containing %q", e.Status, e.Message, status, want)
	}
}

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

// udpFrame returns a frame from src to dst, told apart by seq.
func udpFrame(src, dst [6]byte, seq int) []byte {
	b := ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP}.Build(ft.UDP(1000, 2000, []byte{byte(seq >> 8), byte(seq)})))
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	return b
}

func tcpFrame(dstPort uint16) []byte {
	return ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoTCP}.Build(ft.TCP(40000, dstPort)))
}

// send puts frames into the switch through pipe port name.
func (td *testDaemon) send(t *testing.T, sw, name string, frames ...[]byte) {
	t.Helper()
	end, err := td.PipeEnd(sw, name)
	check(t, err)
	n, err := end.Send(0, frames)
	check(t, err)
	if n != len(frames) {
		t.Fatalf("sent %d of %d frames", n, len(frames))
	}
}

// waitStats polls the stats of a switch until ok accepts them.
func (td *testDaemon) waitStats(t *testing.T, sw string, ok func(map[string]control.PortStats) bool) map[string]control.PortStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := td.c.SwitchStats(ctx(t), sw)
		check(t, err)
		m := make(map[string]control.PortStats)
		for _, p := range st.Ports {
			m[p.Name] = p
		}
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats of %s never as expected: %+v", sw, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAPIEndToEnd(t *testing.T) {
	td := start(t, t.TempDir())
	c, cx := td.c, ctx(t)

	v := must[control.VersionInfo](t)(c.Version(cx))
	if v.Version != control.Version || len(v.Modules) < 3 {
		t.Fatalf("version %+v", v)
	}
	si := must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "sw0", Batch: 64}))
	if si.Module != "learning" || si.Batch != 64 {
		t.Fatalf("switch %+v", si)
	}
	for _, n := range []string{"a", "b", "c"} {
		p := must[control.PortInfo](t)(c.AddPort(cx, "sw0", control.PortSpec{Name: n, Type: control.TypePipe}))
		if p.State != control.StateUp || p.Type != "pipe" {
			t.Fatalf("port %+v", p)
		}
	}
	ports := must[[]control.PortInfo](t)(c.Ports(cx, "sw0"))
	if len(ports) != 3 || ports[0].Name != "a" || ports[2].ID != 2 {
		t.Fatalf("ports %+v", ports)
	}

	// Learning: a static entry sends B's frames to port b only.
	check(t, c.AddStatic(cx, "sw0", control.LearningEntry{MAC: "02:00:00:00:00:0b", Port: "b"}))
	ents := must[[]control.LearningEntry](t)(c.Learning(cx, "sw0"))
	if len(ents) != 1 || ents[0].MAC != "02:00:00:00:00:0b" || ents[0].Port != "b" || !ents[0].Static {
		t.Fatalf("learning table %+v", ents)
	}

	// Capture what leaves b while a sends five frames to B.
	capCtx, cancel := context.WithCancel(cx)
	defer cancel()
	cp, err := c.Capture(capCtx, "sw0", "b", control.CaptureOptions{Count: 5})
	check(t, err)
	var sent [][]byte
	for i := range 5 {
		sent = append(sent, udpFrame(macA, macB, i))
	}
	td.send(t, "sw0", "a", sent...)
	r, err := pcapgo.NewReader(cp)
	check(t, err)
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	for i := range 5 {
		data, ci, err := r.ReadPacketData()
		check(t, err)
		if !bytes.Equal(data, sent[i]) || ci.Length != len(sent[i]) {
			t.Fatalf("captured packet %d:\n%x\nwant\n%x", i, data, sent[i])
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after 5 packets: %v, want EOF", err)
	}
	if n, ok := cp.Dropped(); !ok || n != 0 {
		t.Fatalf("capture dropped %d (known %v)", n, ok)
	}
	cp.Close()
	st := td.waitStats(t, "sw0", func(m map[string]control.PortStats) bool { return m["b"].TxPackets == 5 })
	if st["a"].RxPackets != 5 || st["c"].TxPackets != 0 || st["a"].RxBytes != 5*uint64(len(sent[0])) {
		t.Fatalf("stats %+v", st)
	}
	ents = must[[]control.LearningEntry](t)(c.Learning(cx, "sw0"))
	if len(ents) != 2 || ents[0].MAC != "02:00:00:00:00:0a" || ents[0].Port != "a" || ents[0].Static {
		t.Fatalf("learning table after traffic %+v", ents)
	}
	wantErr(t, c.AddStatic(cx, "sw0", control.LearningEntry{MAC: "ff:ff:ff:ff:ff:ff", Port: "b"}), 400,
		"ff:ff:ff:ff:ff:ff is a group address: static entries are for unicast MACs")
	check(t, c.DeleteStatic(cx, "sw0", "02:00:00:00:00:0b", 0))
	wantErr(t, c.DeleteStatic(cx, "sw0", "02:00:00:00:00:0b", 0), 404, `switch "sw0" has no static entry for 02:00:00:00:00:0b`)
	check(t, c.FlushLearning(cx, "sw0"))
	if ents := must[[]control.LearningEntry](t)(c.Learning(cx, "sw0")); len(ents) != 0 {
		t.Fatalf("learning table after flush %+v", ents)
	}

	// l4filter, swapped in live.
	wantErr(t, c.AddL4Rule(cx, "sw0", control.L4Rule{Proto: "tcp", Port: 80, Out: "c"}), 409,
		"switch \"sw0\" runs module learning, not l4filter: set it with `mswitchctl module set sw0 l4filter`")
	check(t, c.SetModule(cx, "sw0", "l4filter"))
	if m := must[control.ModuleInfo](t)(c.Module(cx, "sw0")); m.Name != "l4filter" {
		t.Fatalf("module %+v", m)
	}
	check(t, c.AddL4Rule(cx, "sw0", control.L4Rule{Proto: "tcp", Port: 80, Out: "c"}))
	check(t, c.AddL4Rule(cx, "sw0", control.L4Rule{Proto: "udp", Port: 53, Out: "b"}))
	rules := must[[]control.L4Rule](t)(c.L4Rules(cx, "sw0"))
	want := []control.L4Rule{{Proto: "tcp", Port: 80, Out: "c"}, {Proto: "udp", Port: 53, Out: "b"}}
	if !reflect.DeepEqual(rules, want) {
		t.Fatalf("rules %+v, want %+v", rules, want)
	}
	td.send(t, "sw0", "a", tcpFrame(80), tcpFrame(80), tcpFrame(81))
	st = td.waitStats(t, "sw0", func(m map[string]control.PortStats) bool {
		return m["c"].TxPackets == 2 && m["a"].Drops["lookup"] == 1
	})
	m := must[control.ModuleInfo](t)(c.Module(cx, "sw0"))
	if m.Counters["matched"] != 2 || m.Counters["unmatched"] != 1 {
		t.Fatalf("l4filter counters %+v", m.Counters)
	}
	check(t, c.DeleteL4Rule(cx, "sw0", "udp", 53))
	wantErr(t, c.DeleteL4Rule(cx, "sw0", "udp", 53), 404, "no l4filter rule for udp/53")
	wantErr(t, c.AddL4Rule(cx, "sw0", control.L4Rule{Proto: "sctp", Port: 1, Out: "c"}), 400, `protocol "sctp" is neither tcp nor udp`)

	// xconnect.
	check(t, c.SetModule(cx, "sw0", "xconnect"))
	check(t, c.Connect(cx, "sw0", control.Mapping{In: "a", Out: "b", Both: true}))
	check(t, c.Connect(cx, "sw0", control.Mapping{In: "c", Out: "a"}))
	maps := must[[]control.Mapping](t)(c.XConnect(cx, "sw0"))
	wantMaps := []control.Mapping{{In: "a", Out: "b"}, {In: "b", Out: "a"}, {In: "c", Out: "a"}}
	if !reflect.DeepEqual(maps, wantMaps) {
		t.Fatalf("mappings %+v, want %+v", maps, wantMaps)
	}
	before := st["b"].TxPackets
	td.send(t, "sw0", "a", tcpFrame(1), tcpFrame(2))
	td.waitStats(t, "sw0", func(m map[string]control.PortStats) bool { return m["b"].TxPackets == before+2 })
	check(t, c.Disconnect(cx, "sw0", "c"))
	wantErr(t, c.Disconnect(cx, "sw0", "c"), 404, `port "c" of switch "sw0" is not connected`)
	wantErr(t, c.Connect(cx, "sw0", control.Mapping{In: "a", Out: "zz"}), 404, `switch "sw0" has no port "zz"; ports: a, b, c`)

	// Stats of everything, workers included.
	all := must[[]control.SwitchStats](t)(c.Stats(cx))
	if len(all) != 1 || len(all[0].Ports) != 3 || len(all[0].Workers) != 3 || all[0].Workers[0].Batches == 0 {
		t.Fatalf("stats %+v", all)
	}

	// Wrong names.
	_, err = c.Ports(cx, "nope")
	wantErr(t, err, 404, `no switch "nope"; switches: sw0`)
	_, err = c.Capture(cx, "sw0", "zz", control.CaptureOptions{})
	wantErr(t, err, 404, `switch "sw0" has no port "zz"; ports: a, b, c`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "a", Type: "pipe"})
	wantErr(t, err, 409, `switch "sw0" already has a port "a"`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "vhost"})
	wantErr(t, err, 400, `port type "vhost" is not one of memif, afxdp, afpacket, tap, pipe`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afpacket", Kernel: &control.KernelSpec{Mode: "fast"}})
	wantErr(t, err, 400, `afpacket port "x": mode "fast" is not interrupt, poll or adaptive`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afxdp", Kernel: &control.KernelSpec{XDPMode: "hw"}})
	wantErr(t, err, 400, `afxdp port "x": XDP mode "hw" is not auto, native or generic`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afxdp", Kernel: &control.KernelSpec{RxRing: 1000}})
	wantErr(t, err, 400, `afxdp port "x": RX ring of 1000 frames is not a power of two from 64 to 65536`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afpacket", Kernel: &control.KernelSpec{RxRing: 1024}})
	wantErr(t, err, 400, `afpacket port "x": an RX ring size applies to afxdp ports only`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afpacket", Kernel: &control.KernelSpec{RPSCPUs: "1-0"}})
	wantErr(t, err, 400, `afpacket port "x": RPS CPUs "1-0": "1-0" is not a CPU range`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afxdp", Kernel: &control.KernelSpec{CoalesceUS: 1001}})
	wantErr(t, err, 400, `afxdp port "x": coalescing pause 1001 µs is outside [1, 1000] (-1: off, 0: the default)`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "tap", Tap: &control.TapSpec{CoalesceUS: -2}})
	wantErr(t, err, 400, `tap port "x": coalescing pause -2 µs is outside [1, 1000] (-1: off, 0: the default)`)
	_, err = c.AddPort(cx, "sw0", control.PortSpec{Name: "x", Type: "afpacket", Kernel: &control.KernelSpec{Mode: "poll", CoalesceUS: 50}})
	wantErr(t, err, 400, `afpacket port "x": coalescing applies to interrupt and adaptive modes, not poll`)
	_, err = c.AddSwitch(cx, control.SwitchSpec{Name: "sw0"})
	wantErr(t, err, 409, `switch "sw0" already exists`)
	_, err = c.AddSwitch(cx, control.SwitchSpec{Name: "sw1", Module: "ovs"})
	wantErr(t, err, 400, `unknown module "ovs"; modules: l4filter, learning, learning-vlan, multistack, openflow, xconnect`)
	_, err = c.AddSwitch(cx, control.SwitchSpec{Name: "bad/name"})
	wantErr(t, err, 400, `switch name "bad/name" is not valid`)
	wantErr(t, c.SetModule(cx, "sw0", "nope"), 400, `unknown module "nope"`)

	// Delete everything.
	check(t, c.DeletePort(cx, "sw0", "c"))
	if maps := must[[]control.Mapping](t)(c.XConnect(cx, "sw0")); len(maps) != 2 {
		t.Fatalf("mappings after deleting c: %+v", maps)
	}
	wantErr(t, c.DeletePort(cx, "sw0", "c"), 404, `switch "sw0" has no port "c"; ports: a, b`)
	check(t, c.DeleteSwitch(cx, "sw0"))
	if sws := must[[]control.SwitchInfo](t)(c.Switches(cx)); len(sws) != 0 {
		t.Fatalf("switches after delete: %+v", sws)
	}
	wantErr(t, c.DeleteSwitch(cx, "sw0"), 404, "no switch \"sw0\"; switches: none (add one with `mswitchctl switch add NAME`)")
}

// A capture without a count ends when its duration ends, or when the port
// goes; both directions are captured, in order.
func TestCaptureEnds(t *testing.T) {
	td := start(t, t.TempDir())
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "s"}))
	for _, n := range []string{"a", "b"} {
		must[control.PortInfo](t)(c.AddPort(cx, "s", control.PortSpec{Name: n, Type: control.TypePipe}))
	}
	check(t, c.AddStatic(cx, "s", control.LearningEntry{MAC: "02:00:00:00:00:0b", Port: "b"}))

	cp, err := c.Capture(cx, "s", "a", control.CaptureOptions{Duration: 300 * time.Millisecond, Direction: "in"})
	check(t, err)
	td.send(t, "s", "a", udpFrame(macA, macB, 1))
	td.send(t, "s", "b", udpFrame(macB, macA, 2)) // out of a: not captured
	start := time.Now()
	r, err := pcapgo.NewReader(cp)
	check(t, err)
	data, _, err := r.ReadPacketData()
	check(t, err)
	if !bytes.Equal(data, udpFrame(macA, macB, 1)) {
		t.Fatalf("captured %x", data)
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("second read: %v, want EOF after the duration", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("capture of 300ms took %v", time.Since(start))
	}
	cp.Close()

	cp, err = c.Capture(cx, "s", "b", control.CaptureOptions{})
	check(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, cp)
		done <- err
	}()
	check(t, c.DeletePort(cx, "s", "b"))
	select {
	case err := <-done:
		check(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("capture still running after its port was deleted")
	}
	cp.Close()
	_, err = c.Capture(cx, "s", "a", control.CaptureOptions{Direction: "sideways"})
	wantErr(t, err, 400, `direction "sideways" is not in, out or both`)
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	td := start(t, dir)
	c, cx := td.c, ctx(t)

	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "br", Batch: 32}))
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "fw", Module: "l4filter"}))
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "x", Module: "learning"}))
	// p0 goes, so p3 takes its ID 0: tables must follow names, not IDs.
	for _, n := range []string{"p0", "p1", "p2"} {
		must[control.PortInfo](t)(c.AddPort(cx, "br", control.PortSpec{Name: n, Type: control.TypePipe}))
		must[control.PortInfo](t)(c.AddPort(cx, "fw", control.PortSpec{Name: n, Type: control.TypePipe, Pipe: &control.PipeSpec{Queues: 2}}))
		must[control.PortInfo](t)(c.AddPort(cx, "x", control.PortSpec{Name: n, Type: control.TypePipe}))
	}
	check(t, c.DeletePort(cx, "br", "p0"))
	must[control.PortInfo](t)(c.AddPort(cx, "br", control.PortSpec{Name: "p3", Type: control.TypePipe}))
	check(t, c.AddStatic(cx, "br", control.LearningEntry{MAC: "02:00:00:00:00:01", Port: "p1"}))
	check(t, c.AddStatic(cx, "br", control.LearningEntry{MAC: "02:00:00:00:00:03", Port: "p3"}))
	check(t, c.AddL4Rule(cx, "fw", control.L4Rule{Proto: "tcp", Port: 443, Out: "p2"}))
	check(t, c.AddL4Rule(cx, "fw", control.L4Rule{Proto: "udp", Port: 53, Out: "p1"}))
	check(t, c.SetModule(cx, "x", "xconnect"))
	check(t, c.Connect(cx, "x", control.Mapping{In: "p0", Out: "p2", Both: true}))
	check(t, c.Connect(cx, "x", control.Mapping{In: "p1", Out: "p0"}))

	type snapshot struct {
		Switches []control.SwitchInfo
		Ports    map[string][]control.PortInfo
		Learning []control.LearningEntry
		Rules    []control.L4Rule
		Maps     []control.Mapping
	}
	take := func(c *control.Client) snapshot {
		s := snapshot{Ports: map[string][]control.PortInfo{}}
		s.Switches = must[[]control.SwitchInfo](t)(c.Switches(cx))
		for _, sw := range s.Switches {
			s.Ports[sw.Name] = must[[]control.PortInfo](t)(c.Ports(cx, sw.Name))
		}
		s.Learning = must[[]control.LearningEntry](t)(c.Learning(cx, "br"))
		s.Rules = must[[]control.L4Rule](t)(c.L4Rules(cx, "fw"))
		s.Maps = must[[]control.Mapping](t)(c.XConnect(cx, "x"))
		return s
	}
	before := take(c)
	if len(before.Learning) != 2 || len(before.Rules) != 2 || len(before.Maps) != 3 {
		t.Fatalf("before restart: %+v", before)
	}
	td.stop()

	// The state file was replaced atomically: no temporary file is left,
	// and it is private.
	names, err := filepath.Glob(filepath.Join(dir, "*state*"))
	check(t, err)
	if len(names) != 1 {
		t.Fatalf("state files %v, want state.json only", names)
	}
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	check(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v", fi.Mode())
	}
	if _, err := os.Stat(td.socket); !os.IsNotExist(err) {
		t.Fatalf("control socket still there after stop: %v", err)
	}

	td2 := start(t, dir)
	after := take(td2.c)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after restart\n%+v\nwant\n%+v", after, before)
	}
	// Restored ports forward.
	td2.send(t, "br", "p1", udpFrame(macA, [6]byte{2, 0, 0, 0, 0, 3}, 0))
	td2.waitStats(t, "br", func(m map[string]control.PortStats) bool { return m["p3"].TxPackets == 1 })
}

// A change whose state cannot be saved is reported as such.
func TestSaveFailure(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "sub")
	d, err := daemon.New(daemon.Config{StatePath: filepath.Join(notDir, "state.json"), Dir: dir, Logger: testLogger(t)})
	check(t, err)
	defer d.Close()
	check(t, os.WriteFile(notDir, nil, 0o600)) // the state's directory cannot be made
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/switches", "application/json", strings.NewReader(`{"name":"s"}`))
	check(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(b), "the change is made, but saving it to") {
		t.Fatalf("answer %d %s", resp.StatusCode, b)
	}
}

func TestCorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	check(t, os.WriteFile(filepath.Join(dir, "state.json"), []byte("{"), 0o600))
	_, err := daemon.New(daemon.Config{StatePath: filepath.Join(dir, "state.json"), Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "read state") {
		t.Fatalf("New with a corrupt state file: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	td := start(t, t.TempDir())
	c, cx := td.c, ctx(t)
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "sw0"}))
	for _, n := range []string{"a", "b"} {
		must[control.PortInfo](t)(c.AddPort(cx, "sw0", control.PortSpec{Name: n, Type: control.TypePipe}))
	}
	td.send(t, "sw0", "a", udpFrame(macA, macB, 0), udpFrame(macA, macB, 1), udpFrame(macA, macB, 2))
	td.waitStats(t, "sw0", func(m map[string]control.PortStats) bool { return m["b"].TxPackets == 3 })

	srv := httptest.NewServer(td.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	check(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	for _, want := range []string{
		`mswitch_switches 1`,
		`mswitch_port_rx_packets_total{port="a",switch="sw0"} 3`,
		`mswitch_port_tx_packets_total{port="b",switch="sw0"} 3`,
		`mswitch_port_rx_bytes_total{port="a",switch="sw0"} 180`,
		`mswitch_port_tx_bytes_total{port="b",switch="sw0"} 180`,
		`mswitch_port_drops_total{port="a",reason="queue-full",switch="sw0"} 0`,
		`mswitch_port_drops_total{port="a",reason="malformed",switch="sw0"} 0`,
		`mswitch_port_up{port="a",switch="sw0",type="pipe"} 1`,
		`mswitch_worker_batches_total{port="a",queue="0",switch="sw0"}`,
		`mswitch_worker_busy_seconds_total{port="b",queue="0",switch="sw0"}`,
		`mswitch_worker_packets_total{port="a",queue="0",switch="sw0"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "ctl.sock")
	l, err := daemon.Listen(sock, os.Getgid())
	check(t, err)
	fi, err := os.Stat(sock)
	check(t, err)
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v", fi.Mode())
	}
	if _, err := daemon.Listen(sock, -1); err == nil || !strings.Contains(err.Error(), "another mswitchd is listening on") {
		t.Fatalf("second Listen: %v", err)
	}
	// A socket left by a dead daemon is replaced.
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l, err = daemon.Listen(sock, -1)
	check(t, err)
	l.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

func TestClientNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mswitchd.sock")
	c := control.NewClient(sock)
	_, err := c.Switches(ctx(t))
	if !errors.Is(err, control.ErrNotRunning) {
		t.Fatalf("error %v, want ErrNotRunning", err)
	}
	want := "mswitchd is not running (no socket at " + sock + "): start it with `mswitchd`"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want %q", err, want)
	}
}
