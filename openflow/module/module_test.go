package ofmodule

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/openflow/channel"
	"github.com/mswitch/mswitch/openflow/ofp"
	"github.com/mswitch/mswitch/port/pipe"
)

type rig struct {
	t    *testing.T
	m    *Module
	sw   *fabric.Switch
	ends []*pipe.End
}

// newRig makes a switch with n pipe ports, p0..p{n-1} (OpenFlow ports
// 1..n), run by a module with no controller.
func newRig(t *testing.T, n int, cfg Config) *rig { return newRigStart(t, n, cfg, false) }

// newRigStart is newRig; with early, the module starts (and attaches its
// injection port) before the ports are attached.
func newRigStart(t *testing.T, n int, cfg Config, early bool) *rig {
	t.Helper()
	if cfg.Targets == nil {
		cfg.Targets = []string{}
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := fabric.New("t", fabric.Options{Logic: m})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, m: m, sw: sw}
	if early {
		if err := m.Start(sw); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		p, err := pipe.New(pipe.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sw.Attach(p, fabric.PortConfig{Name: "p" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
		r.ends = append(r.ends, p.End())
	}
	if !early {
		if err := m.Start(sw); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { sw.Close() })
	return r
}

func (r *rig) flow(fm *ofp.FlowMod) {
	r.t.Helper()
	if _, err := r.m.Handle(context.Background(), &channel.Request{Msg: fm}); err != nil {
		r.t.Fatalf("flow mod: %v", err)
	}
}

func (r *rig) send(port int, f []byte) {
	r.t.Helper()
	if n, err := r.ends[port].Send(0, [][]byte{f}); n != 1 || err != nil {
		r.t.Fatalf("send: %d %v", n, err)
	}
}

// recv collects what port received within d.
func (r *rig) recv(port int, d time.Duration) [][]byte {
	var out [][]byte
	bufs := [][]byte{make([]byte, 2048)}
	sizes := []int{0}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n, _ := r.ends[port].Receive(0, bufs, sizes)
		if n == 0 {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		out = append(out, append([]byte(nil), bufs[0][:sizes[0]]...))
	}
	return out
}

// expect checks that each port got the frames listed for it (nil: none).
func (r *rig) expect(want map[int][][]byte) {
	r.t.Helper()
	for i := range r.ends {
		got := r.recv(i, 150*time.Millisecond)
		if len(got) != len(want[i]) {
			r.t.Errorf("port p%d got %d frames, want %d", i, len(got), len(want[i]))
			continue
		}
		for k := range got {
			if !bytes.Equal(got[k], want[i][k]) {
				r.t.Errorf("port p%d frame %d:\n got %x\nwant %x", i, k, got[k], want[i][k])
			}
		}
	}
}

func frame(dst byte) []byte {
	f := make([]byte, 60)
	copy(f, []byte{0x02, 0, 0, 0, 0, dst, 0x02, 0, 0, 0, 0, 0xaa, 0x88, 0xb5})
	return f
}

func out(port uint32) ofp.Action { return ofp.ActionOutput{Port: port, MaxLen: ofp.CMLNoBuffer} }

func flowAdd(pri uint16, in uint32, acts ...ofp.Action) *ofp.FlowMod {
	var m ofp.Match
	if in != 0 {
		m.Fields = []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, uint64(in))}
	}
	return &ofp.FlowMod{Command: ofp.FlowAdd, Priority: pri, BufferID: ofp.NoBuffer,
		OutPort: ofp.PortAny, OutGroup: ofp.GroupAny, Match: m,
		Instructions: []ofp.Instruction{ofp.InstructionApplyActions{Actions: acts}}}
}

func TestForwarding(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(map[bool]string{false: "ports-first", true: "module-first"}[early], func(t *testing.T) {
			testForwarding(t, newRigStart(t, 3, Config{}, early))
		})
	}
}

func testForwarding(t *testing.T, r *rig) {
	f := frame(1)
	r.send(0, f)
	r.expect(nil) // secure, no flows: dropped

	r.flow(flowAdd(10, 1, out(2)))
	r.send(0, f)
	r.expect(map[int][][]byte{1: {f}})

	r.flow(flowAdd(20, 1, out(ofp.PortFlood)))
	r.send(0, f)
	r.expect(map[int][][]byte{1: {f}, 2: {f}})

	r.flow(flowAdd(30, 1, out(ofp.PortAll), out(ofp.PortInPort)))
	r.send(0, f)
	r.expect(map[int][][]byte{0: {f}, 1: {f}, 2: {f}})

	// Output, then a change, then another output: the first sees the
	// original (injected), the second the changed packet.
	g := frame(9)
	r.flow(flowAdd(40, 1, out(2), ofp.ActionSetField{Field: ofp.NewOXM(ofp.OXMEthDst, g[:6], nil)}, out(3)))
	r.send(0, f)
	r.expect(map[int][][]byte{1: {f}, 2: {g}})

	st := r.m.Stats()
	if st.Injected == 0 || st.Cache.Misses == 0 {
		t.Errorf("stats %+v: want injections and misses", st)
	}
}

func TestPacketOut(t *testing.T) {
	r := newRig(t, 3, Config{})
	f := frame(1)
	po := func(in uint32, acts ...ofp.Action) {
		t.Helper()
		if _, err := r.m.Handle(context.Background(), &channel.Request{Msg: &ofp.PacketOut{
			BufferID: ofp.NoBuffer, InPort: in, Actions: acts, Data: f}}); err != nil {
			t.Fatal(err)
		}
	}
	po(ofp.PortController, out(3))
	r.expect(map[int][][]byte{2: {f}})
	po(ofp.PortController, out(ofp.PortFlood))
	r.expect(map[int][][]byte{0: {f}, 1: {f}, 2: {f}})
	po(2, out(ofp.PortAll))
	r.expect(map[int][][]byte{0: {f}, 2: {f}})
	r.flow(flowAdd(1, 0, out(1)))
	po(ofp.PortController, out(ofp.PortTable))
	r.expect(map[int][][]byte{0: {f}})
}

func TestStandalone(t *testing.T) {
	r := newRig(t, 2, Config{FailMode: channel.FailStandalone})
	f := frame(1)
	r.send(0, f)
	r.expect(nil) // the controller is not reported lost yet
	r.m.controllerState(false)
	r.send(0, f)
	r.expect(map[int][][]byte{1: {f}}) // learning: flood
	r.m.controllerState(true)
	r.send(0, f)
	r.expect(nil)
}

func TestPortStatusAndDesc(t *testing.T) {
	r := newRigStart(t, 2, Config{}, true)
	time.Sleep(50 * time.Millisecond) // port names are read just after the ports are added
	rep, err := r.m.Handle(context.Background(), &channel.Request{Msg: &ofp.MultipartRequest{Body: &ofp.PortDescRequest{}}})
	if err != nil {
		t.Fatal(err)
	}
	ports := rep[0].(*ofp.MultipartReply).Body.(*ofp.PortDescReply).Ports
	if len(ports) != 2 || ports[0].PortNo != 1 || ports[0].Name != "p0" || ports[1].PortNo != 2 {
		t.Fatalf("port desc %+v", ports)
	}
	rep, err = r.m.Handle(context.Background(), &channel.Request{Msg: &ofp.MultipartRequest{Body: &ofp.PortStatsRequest{PortNo: ofp.PortAny}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep[0].(*ofp.MultipartReply).Body.(*ofp.PortStatsReply).Stats); n != 2 {
		t.Fatalf("%d port stats", n)
	}
}

func TestLookupAllocs(t *testing.T) {
	m, err := New(Config{Targets: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := logic.PortID(0); i < 3; i++ {
		m.PortAdded(i)
	}
	if _, err := m.p.FlowMod(flowAdd(1, 1, out(2), out(3))); err != nil {
		t.Fatal(err)
	}
	pkts := make([]logic.Packet, 32)
	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = make([]byte, 60, 2048)
		copy(bufs[i], frame(byte(i)))
	}
	run := func() {
		for i := range pkts {
			pkts[i] = logic.Packet{Data: bufs[i]}
		}
		m.Lookup(pkts, 0)
	}
	run()
	if pkts[0].Dst != logic.ToSet || len(pkts[0].Set) != 2 {
		t.Fatalf("dst %v set %v", pkts[0].Dst, pkts[0].Set)
	}
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocations per batch on cache hits", a)
	}
}

func TestTimeouts(t *testing.T) {
	r := newRig(t, 2, Config{})
	fm := flowAdd(10, 1, out(2))
	fm.HardTimeout = 1
	fm.Flags = ofp.FlowSendFlowRem
	r.flow(fm)
	idle := flowAdd(20, 2, out(1))
	idle.IdleTimeout = 1
	r.flow(idle)
	count := func() int {
		st, err := r.m.Pipeline().FlowStats(&ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Stats)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d flows", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d flows left 5 s after their 1 s timeouts", n)
	}
}
