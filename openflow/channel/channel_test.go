package channel

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Target
		str  string
	}{
		{"tcp:10.0.0.1", Target{Network: "tcp", Address: "10.0.0.1:6653"}, "tcp:10.0.0.1:6653"},
		{"tcp:127.0.0.1:6633", Target{Network: "tcp", Address: "127.0.0.1:6633"}, "tcp:127.0.0.1:6633"},
		{"tcp:[::1]:6633", Target{Network: "tcp", Address: "[::1]:6633"}, "tcp:[::1]:6633"},
		{"tcp:[::1]", Target{Network: "tcp", Address: "[::1]:6653"}, "tcp:[::1]:6653"},
		{"ptcp:", Target{Passive: true, Network: "tcp", Address: "127.0.0.1:6653"}, "ptcp:6653:127.0.0.1"},
		{"ptcp:6634", Target{Passive: true, Network: "tcp", Address: "127.0.0.1:6634"}, "ptcp:6634:127.0.0.1"},
		{"ptcp:0", Target{Passive: true, Network: "tcp", Address: "127.0.0.1:0"}, "ptcp:0:127.0.0.1"},
		{"ptcp:6634:0.0.0.0", Target{Passive: true, Network: "tcp", Address: "0.0.0.0:6634"}, "ptcp:6634:0.0.0.0"},
		{"ptcp:6634:[::1]", Target{Passive: true, Network: "tcp", Address: "[::1]:6634"}, "ptcp:6634:[::1]"},
		{"ptcp::::1", Target{Passive: true, Network: "tcp", Address: "[::1]:6653"}, "ptcp:6653:[::1]"},
		{"unix:/run/ctl.sock", Target{Network: "unix", Address: "/run/ctl.sock"}, "unix:/run/ctl.sock"},
		{"punix:/run/sw.sock", Target{Passive: true, Network: "unix", Address: "/run/sw.sock"}, "punix:/run/sw.sock"},
	} {
		got, err := ParseTarget(tt.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want || got.String() != tt.str {
			t.Errorf("ParseTarget(%q) = %+v (%s), want %+v (%s)", tt.in, got, got, tt.want, tt.str)
		}
		if again, err := ParseTarget(got.String()); err != nil || again != got {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
	for _, in := range []string{"", "tcp", "tcp:", "tcp:host.example:6653", "tcp:10.0.0.1:99999", "tcp:10.0.0.1:0",
		"tcp:10.0.0.1:x", "tcp:[::1", "tcp:[::1]x", "ptcp:x", "ptcp:6653:nothost", "ssl:10.0.0.1", "unix:", "punix:"} {
		if got, err := ParseTarget(in); err == nil {
			t.Errorf("ParseTarget(%q) = %+v, want an error", in, got)
		} else {
			t.Logf("%q: %v", in, err)
		}
	}
	if m, err := ParseFailMode("standalone"); err != nil || m != FailStandalone || m.String() != "standalone" {
		t.Errorf("ParseFailMode(standalone) = %v, %v", m, err)
	}
	if _, err := ParseFailMode("open"); err == nil {
		t.Error("ParseFailMode(open): no error")
	}
}

func TestHandshake(t *testing.T) {
	dp := newFakeDP()
	_, addr := startSwitch(t, dp, Options{})

	t.Run("bitmap", func(t *testing.T) {
		k := dialCtl(t, addr)
		xid := k.send(&ofp.FeaturesRequest{})
		f := expect[*ofp.FeaturesReply](k, xid)
		if f.DatapathID != 0xabcdef || f.NTables != 8 || f.NBuffers != 0 || f.Capabilities != dp.features.Capabilities {
			t.Errorf("features %+v", f)
		}
	})
	hello := func(t *testing.T, h *ofp.Hello) *ctl {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		k := newCtl(t, c)
		_, m := k.recv()
		sh := m.(*ofp.Hello)
		if bm := sh.VersionBitmap(); len(bm) != 1 || bm[0] != 1<<4 {
			t.Errorf("switch's HELLO bitmap %#x, want 0x10", bm)
		}
		k.send(h)
		return k
	}
	t.Run("higher version with bitmap", func(t *testing.T) {
		k := hello(t, ofp.NewHello(1, 4, 5, 6))
		k.alive()
	})
	t.Run("higher version without bitmap", func(t *testing.T) {
		k := hello(t, &ofp.Hello{Version: 6})
		k.alive()
	})
	for _, tt := range []struct {
		name string
		h    *ofp.Hello
	}{
		{"1.0 only", &ofp.Hello{Version: 1}},
		{"bitmap without 1.3", ofp.NewHello(1, 5, 6)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := hello(t, tt.h)
			f, err := k.recvRaw()
			if err != nil {
				t.Fatal(err)
			}
			h, _ := ofp.ParseHeader(f)
			if want := min(tt.h.Version, ofp.Version); h.Version != want {
				t.Errorf("HELLO_FAILED in version %d, want %d", h.Version, want)
			}
			f[0] = ofp.Version
			m, err := ofp.Decode(f)
			e, ok := m.(*ofp.ErrorMsg)
			if err != nil || !ok || e.ErrType != ofp.ETHelloFailed || e.Code != ofp.HFCIncompatible {
				t.Fatalf("got %v %+v, %v; want HELLO_FAILED/INCOMPATIBLE", h.Type, m, err)
			}
			t.Logf("error text: %s", e.Data)
			k.expectClosed()
		})
	}
	t.Run("no hello first", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		k := newCtl(t, c)
		k.recv()
		xid := k.send(&ofp.FeaturesRequest{})
		k.expectError(xid, ofp.ETHelloFailed, ofp.HFCIncompatible)
		k.expectClosed()
	})
}

func TestEchoFeaturesDescConfig(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)
	k.alive()
	xid := k.send(&ofp.EchoRequest{})
	if r := expect[*ofp.EchoReply](k, xid); len(r.Data) != 0 {
		t.Errorf("empty echo answered with %q", r.Data)
	}

	xid = k.send(&ofp.MultipartRequest{Body: &ofp.DescRequest{}})
	d := expect[*ofp.MultipartReply](k, xid).Body.(*ofp.DescReply)
	if d.MfrDesc != "mswitch" || d.DPDesc != "test switch" || d.SerialNum != "None" || d.SWDesc == "" || d.HWDesc == "" {
		t.Errorf("desc %+v", d)
	}

	xid = k.send(&ofp.GetConfigRequest{})
	if c := expect[*ofp.GetConfigReply](k, xid); c.Flags != ofp.FragNormal || c.MissSendLen != 128 {
		t.Errorf("initial config %+v, want normal, 128", c)
	}
	k.send(&ofp.SetConfig{Flags: ofp.FragDrop, MissSendLen: 200})
	xid = k.send(&ofp.SetConfig{Flags: 0x10, MissSendLen: 1})
	k.expectError(xid, ofp.ETSwitchConfigFailed, ofp.SCFCBadFlags)
	// The configuration is the switch's: another connection sees it.
	k2 := dialCtl(t, addr)
	xid = k2.send(&ofp.GetConfigRequest{})
	if c := expect[*ofp.GetConfigReply](k2, xid); c.Flags != ofp.FragDrop || c.MissSendLen != 200 {
		t.Errorf("config from another connection %+v, want drop, 200", c)
	}
	if f, msl := sw.Config(); f != ofp.FragDrop || msl != 200 {
		t.Errorf("Config() = %d, %d", f, msl)
	}
	if got := dp.received(); len(got) != 0 {
		t.Errorf("datapath got %d messages the channel answers itself", len(got))
	}
	st := sw.Status()
	if len(st.Conns) != 2 || !st.ControllerConnected || st.Conns[0].MsgsIn < 7 || st.Conns[0].MsgsOut < 5 || st.Conns[0].Role != RoleEqual {
		t.Errorf("status %+v", st)
	}
}

func TestDatapathRepliesAndErrors(t *testing.T) {
	dp := newFakeDP()
	_, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)
	dp.setAnswer(func(req *Request) ([]ofp.Message, error) {
		switch m := req.Msg.(type) {
		case *ofp.FlowMod:
			if m.TableID == 200 {
				return nil, &ofp.Error{Type: ofp.ETFlowModFailed, Code: ofp.FMFCBadTableID}
			}
		case *ofp.MultipartRequest:
			// Enough flows for several messages.
			var stats []ofp.FlowStats
			for i := range 2000 {
				stats = append(stats, ofp.FlowStats{Priority: uint16(i), Match: ofp.Match{Fields: []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, uint64(i))}},
					Instructions: []ofp.Instruction{ofp.InstructionApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: 1}}}}})
			}
			return []ofp.Message{&ofp.MultipartReply{Body: &ofp.FlowStatsReply{Stats: stats}}}, nil
		case *ofp.PacketOut:
			return nil, net.ErrClosed // not an *ofp.Error: BAD_REQUEST/EPERM
		}
		return nil, nil
	})
	fm := &ofp.FlowMod{TableID: 200, Command: ofp.FlowAdd, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, 1), ofp.NewOXMUint(ofp.OXMEthType, 0x800), ofp.NewOXMUint(ofp.OXMIPProto, 6)}}}
	xid := k.send(fm)
	e := k.expectError(xid, ofp.ETFlowModFailed, ofp.FMFCBadTableID)
	req, _ := ofp.Append(nil, xid, fm)
	if len(req) <= 64 || !bytes.Equal(e.Data, req[:64]) {
		t.Errorf("error data %x, want the request's first 64 bytes %x", e.Data, req[:min(64, len(req))])
	}
	xid = k.send(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController, Data: []byte{1, 2, 3}})
	k.expectError(xid, ofp.ETBadRequest, ofp.BRCEperm)

	xid = k.send(&ofp.MultipartRequest{Body: &ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}})
	n, parts := 0, 0
	for {
		r := expect[*ofp.MultipartReply](k, xid)
		n += len(r.Body.(*ofp.FlowStatsReply).Stats)
		parts++
		if r.Flags&ofp.MultipartReplyMore == 0 {
			break
		}
	}
	if n != 2000 || parts < 2 {
		t.Errorf("%d flows in %d replies, want 2000 in several", n, parts)
	}
	k.alive()
	if got := dp.received(); len(got) != 3 {
		t.Errorf("datapath got %d messages, want 3", len(got))
	}
}

// TestBarrier checks that a barrier is answered after everything before it:
// a slow request's reply and a FLOW_REMOVED the datapath emits while it
// handles a FLOW_MOD.
func TestBarrier(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)
	dp.setAnswer(func(req *Request) ([]ofp.Message, error) {
		switch req.Msg.(type) {
		case *ofp.MultipartRequest:
			time.Sleep(100 * time.Millisecond)
			return []ofp.Message{&ofp.MultipartReply{Body: &ofp.TableStatsReply{Stats: []ofp.TableStats{{TableID: 0, ActiveCount: 1}}}}}, nil
		case *ofp.FlowMod:
			time.Sleep(50 * time.Millisecond)
			sw.FlowRemoved(&ofp.FlowRemoved{Reason: ofp.RemovedDelete, Cookie: 7})
		}
		return nil, nil
	})
	x1 := k.send(&ofp.MultipartRequest{Body: &ofp.TableStatsRequest{}})
	k.send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	x3 := k.send(&ofp.BarrierRequest{})
	expect[*ofp.MultipartReply](k, x1)
	if fr := expect[*ofp.FlowRemoved](k, 0); fr.Cookie != 7 {
		t.Errorf("flow removed %+v", fr)
	}
	expect[*ofp.BarrierReply](k, x3)
}

func TestRoles(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{})
	a, b := dialCtl(t, addr), dialCtl(t, addr)
	role := func(k *ctl, r uint32, gen uint64) *ofp.RoleReply {
		t.Helper()
		xid := k.send(&ofp.RoleRequest{Role: r, GenerationID: gen})
		return expect[*ofp.RoleReply](k, xid)
	}
	flowMod := &ofp.FlowMod{Command: ofp.FlowAdd, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}

	if r := role(a, ofp.RoleNoChange, 0); r.Role != ofp.RoleEqual {
		t.Errorf("initial role %d, want equal", r.Role)
	}
	if r := role(a, ofp.RoleMaster, 5); r.Role != ofp.RoleMaster || r.GenerationID != 5 {
		t.Errorf("role reply %+v, want master 5", r)
	}
	if r := role(b, ofp.RoleMaster, 6); r.Role != ofp.RoleMaster || r.GenerationID != 6 {
		t.Errorf("role reply %+v, want master 6", r)
	}
	// a was demoted.
	if r := role(a, ofp.RoleNoChange, 0); r.Role != ofp.RoleSlave || r.GenerationID != 6 {
		t.Errorf("old master's role %+v, want slave 6", r)
	}
	for _, m := range []ofp.Message{flowMod, &ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController},
		&ofp.GroupMod{Command: ofp.GroupAdd, GroupID: 1}, &ofp.PortMod{PortNo: 1}, &ofp.TableMod{TableID: 0},
		&ofp.MeterMod{Command: ofp.MeterAdd, MeterID: 1}} {
		xid := a.send(m)
		a.expectError(xid, ofp.ETBadRequest, ofp.BRCIsSlave)
	}
	// A slave may read.
	dp.setAnswer(func(req *Request) ([]ofp.Message, error) {
		if _, ok := req.Msg.(*ofp.MultipartRequest); ok {
			return []ofp.Message{&ofp.MultipartReply{Body: &ofp.PortDescReply{}}}, nil
		}
		return nil, nil
	})
	xid := a.send(&ofp.MultipartRequest{Body: &ofp.PortDescRequest{}})
	expect[*ofp.MultipartReply](a, xid)
	a.alive()
	b.send(flowMod)
	b.alive()
	got := dp.received()
	if len(got) != 2 || got[0].Type() != ofp.TypeMultipartRequest || got[1].Type() != ofp.TypeFlowMod {
		t.Errorf("datapath got %v, want the slave's multipart and the master's FLOW_MOD", got)
	}

	// Stale generation ids, signed distance.
	xid = a.send(&ofp.RoleRequest{Role: ofp.RoleMaster, GenerationID: 4})
	a.expectError(xid, ofp.ETRoleRequestFailed, ofp.RRFCStale)
	xid = a.send(&ofp.RoleRequest{Role: ofp.RoleSlave, GenerationID: 1<<63 + 7})
	a.expectError(xid, ofp.ETRoleRequestFailed, ofp.RRFCStale)
	xid = a.send(&ofp.RoleRequest{Role: 9})
	a.expectError(xid, ofp.ETRoleRequestFailed, ofp.RRFCBadRole)
	// Equal ignores the generation id; the id wraps around.
	if r := role(a, ofp.RoleEqual, 1); r.Role != ofp.RoleEqual || r.GenerationID != 6 {
		t.Errorf("equal reply %+v", r)
	}
	if r := role(a, ofp.RoleSlave, 6); r.Role != ofp.RoleSlave {
		t.Errorf("same generation id refused: %+v", r)
	}
	if r := role(b, ofp.RoleMaster, 1<<63+5); r.Role != ofp.RoleMaster || r.GenerationID != 1<<63+5 {
		t.Errorf("role reply %+v", r)
	}
	roles := map[Role]int{}
	for _, c := range sw.Status().Conns {
		roles[c.Role]++
	}
	if roles[RoleMaster] != 1 || roles[RoleSlave] != 1 {
		t.Errorf("roles in status %v", roles)
	}
}

func TestAsyncFiltering(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{})
	master, slave, equal := dialCtl(t, addr), dialCtl(t, addr), dialCtl(t, addr)
	master.send(&ofp.RoleRequest{Role: ofp.RoleMaster, GenerationID: 1})
	master.recv()
	slave.send(&ofp.RoleRequest{Role: ofp.RoleSlave, GenerationID: 1})
	slave.recv()

	xid := slave.send(&ofp.GetAsyncRequest{})
	if a := expect[*ofp.GetAsyncReply](slave, xid); a.AsyncConfig != defaultAsync ||
		a.PacketInMask != [2]uint32{3, 0} || a.PortStatusMask != [2]uint32{7, 7} || a.FlowRemovedMask != [2]uint32{15, 0} {
		t.Errorf("default async config %+v", a.AsyncConfig)
	}

	pi := &ofp.PacketIn{Reason: ofp.ReasonAction, Data: []byte("frame")}
	fr := &ofp.FlowRemoved{Reason: ofp.RemovedIdleTimeout}
	ps := &ofp.PortStatus{Reason: ofp.PortReasonAdd, Port: ofp.Port{PortNo: 3, Name: "p3"}}
	sw.PacketIn(pi, ofp.CMLNoBuffer)
	sw.FlowRemoved(fr)
	sw.PortStatus(ps)
	sw.PacketIn(&ofp.PacketIn{Reason: ofp.ReasonInvalidTTL, Data: []byte("ttl")}, ofp.CMLNoBuffer) // nobody by default
	for _, k := range []*ctl{master, equal} {
		expect[*ofp.PacketIn](k, 0)
		expect[*ofp.FlowRemoved](k, 0)
		expect[*ofp.PortStatus](k, 0)
		k.alive()
	}
	expect[*ofp.PortStatus](slave, 0)
	slave.alive()

	// The slave asks for PACKET_IN with an invalid TTL, the master stops
	// taking port status.
	slave.send(&ofp.SetAsync{AsyncConfig: ofp.AsyncConfig{PacketInMask: [2]uint32{0, 1 << ofp.ReasonInvalidTTL}}})
	master.send(&ofp.SetAsync{AsyncConfig: ofp.AsyncConfig{PacketInMask: [2]uint32{1 << ofp.ReasonAction, 0}}})
	slave.alive()
	master.alive()
	sw.PortStatus(ps)
	sw.PacketIn(&ofp.PacketIn{Reason: ofp.ReasonInvalidTTL, Data: []byte("ttl")}, ofp.CMLNoBuffer)
	sw.PacketIn(pi, ofp.CMLNoBuffer)
	expect[*ofp.PacketIn](slave, 0)
	slave.alive()
	if p := expect[*ofp.PacketIn](master, 0); p.Reason != ofp.ReasonAction {
		t.Errorf("master got reason %d", p.Reason)
	}
	master.alive()
	expect[*ofp.PortStatus](equal, 0)
	expect[*ofp.PacketIn](equal, 0)
	equal.alive()

	xid = master.send(&ofp.GetAsyncRequest{})
	if a := expect[*ofp.GetAsyncReply](master, xid); a.PacketInMask != [2]uint32{1 << ofp.ReasonAction, 0} || a.PortStatusMask != [2]uint32{} {
		t.Errorf("async config after SET_ASYNC %+v", a.AsyncConfig)
	}
}

func TestPacketInTruncation(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)
	frame := make([]byte, 300)
	for i := range frame {
		frame[i] = byte(i)
	}
	for _, tt := range []struct {
		reason uint8
		maxLen uint16
		msl    uint16
		want   int
	}{
		{ofp.ReasonNoMatch, ofp.CMLNoBuffer, 128, 128},
		{ofp.ReasonNoMatch, 64, 128, 64},
		{ofp.ReasonAction, 64, 128, 64},
		{ofp.ReasonAction, ofp.CMLNoBuffer, 128, 300},
		{ofp.ReasonAction, 1000, 10, 300},
		{ofp.ReasonNoMatch, ofp.CMLNoBuffer, ofp.CMLNoBuffer, 300},
		{ofp.ReasonNoMatch, ofp.CMLNoBuffer, 0, 0},
	} {
		k.send(&ofp.SetConfig{MissSendLen: tt.msl})
		k.alive()
		in := &ofp.PacketIn{BufferID: 5, Reason: tt.reason, TableID: 1, Cookie: 9,
			Match: ofp.Match{Fields: []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, 2)}}, Data: frame}
		sw.PacketIn(in, tt.maxLen)
		p := expect[*ofp.PacketIn](k, 0)
		if p.BufferID != ofp.NoBuffer || p.TotalLen != 300 || len(p.Data) != tt.want || !bytes.Equal(p.Data, frame[:tt.want]) ||
			p.Cookie != 9 || p.TableID != 1 || len(p.Match.Fields) != 1 {
			t.Errorf("reason %d max_len %d miss_send_len %d: got buffer %#x total %d, %d bytes; want %d bytes",
				tt.reason, tt.maxLen, tt.msl, p.BufferID, p.TotalLen, len(p.Data), tt.want)
		}
		if in.BufferID != 5 || len(in.Data) != 300 {
			t.Errorf("PacketIn changed its argument")
		}
	}
}

// TestMalformed sends broken messages: each gets the codec's ERROR with the
// request's first bytes and the connection keeps working; a framing error
// closes it.
func TestMalformed(t *testing.T) {
	dp := newFakeDP()
	_, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)

	fm, _ := ofp.Append(nil, 42, &ofp.FlowMod{Command: ofp.FlowAdd, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, 1)}}})
	badOXM := bytes.Clone(fm)
	// The in_port TLV's length byte (header 8, flow_mod 40, match header 4, then class/field/len).
	badOXM[8+40+4+3] = 7
	unknown := []byte{4, 99, 0, 8, 0, 0, 0, 43}
	oldVersion, _ := ofp.Append(nil, 44, &ofp.EchoRequest{Data: []byte("x")})
	oldVersion[0] = 1
	shortBody, _ := ofp.Append(nil, 45, &ofp.RoleRequest{Role: ofp.RoleMaster})
	shortBody = shortBody[:len(shortBody)-4]
	shortBody[3] -= 4
	pktIn, _ := ofp.Append(nil, 46, &ofp.PacketIn{BufferID: ofp.NoBuffer})
	exp, _ := ofp.Append(nil, 47, &ofp.Experimenter{Experimenter: 0x2320, ExpType: 1})
	expMP, _ := ofp.Append(nil, 48, &ofp.MultipartRequest{Body: &ofp.ExperimenterMultipart{Experimenter: 0x2320}})
	badMP := []byte{4, byte(ofp.TypeMultipartRequest), 0, 16, 0, 0, 0, 49, 0, 77, 0, 0, 0, 0, 0, 0}

	for _, tt := range []struct {
		name string
		b    []byte
		typ  ofp.ErrorType
		code uint16
	}{
		{"bad OXM length", badOXM, ofp.ETBadMatch, ofp.BMCBadLen},
		{"unknown type", unknown, ofp.ETBadRequest, ofp.BRCBadType},
		{"version 1.0", oldVersion, ofp.ETBadRequest, ofp.BRCBadVersion},
		{"truncated body", shortBody, ofp.ETBadRequest, ofp.BRCBadLen},
		{"switch-to-controller message", pktIn, ofp.ETBadRequest, ofp.BRCBadType},
		{"experimenter", exp, ofp.ETBadRequest, ofp.BRCBadExperimenter},
		{"experimenter multipart", expMP, ofp.ETBadRequest, ofp.BRCBadExperimenter},
		{"unknown multipart", badMP, ofp.ETBadRequest, ofp.BRCBadMultipart},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ofp.Decode(tt.b); err == nil && tt.name != "switch-to-controller message" && tt.name != "experimenter" && tt.name != "experimenter multipart" {
				t.Fatalf("the codec accepts the broken message")
			} else if err != nil {
				t.Logf("codec: %v", err)
			}
			h, _ := ofp.ParseHeader(tt.b)
			k.sendRaw(tt.b)
			e := k.expectError(h.XID, tt.typ, tt.code)
			if !bytes.Equal(e.Data, tt.b[:min(64, len(tt.b))]) {
				t.Errorf("error data %x, want %x", e.Data, tt.b[:min(64, len(tt.b))])
			}
			k.alive()
		})
	}
	if n := len(dp.received()); n != 0 {
		t.Errorf("datapath got %d broken messages", n)
	}
	t.Run("framing", func(t *testing.T) {
		k.sendRaw([]byte{4, 2, 0, 4, 0, 0, 0, 1})
		k.expectClosed()
	})
}

// TestSlowController checks that a controller that does not read costs the
// datapath nothing: PacketIn never blocks and the drops are counted.
func TestSlowController(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{QueueLen: 8})
	slow := dialCtl(t, addr)
	fast := dialCtl(t, addr)
	slow.alive()
	fast.alive()
	frame := make([]byte, 1400)
	const n = 20000
	var fastGot atomic.Int64
	go func() {
		for {
			f, err := fast.recvRaw()
			if err != nil {
				return
			}
			if h, _ := ofp.ParseHeader(f); h.Type == ofp.TypePacketIn {
				fastGot.Add(1)
			}
		}
	}()
	start := time.Now()
	for range n {
		sw.PacketIn(&ofp.PacketIn{Reason: ofp.ReasonAction, Data: frame}, ofp.CMLNoBuffer)
	}
	took := time.Since(start)
	if took > 5*time.Second {
		t.Errorf("%d PacketIn calls took %v", n, took)
	}
	var st Status
	waitFor(t, "drops on the slow connection", func() bool {
		st = sw.Status()
		return st.AsyncDrops > 0
	})
	var slowSt ConnStatus
	for _, c := range st.Conns {
		if c.AsyncDrops > slowSt.AsyncDrops {
			slowSt = c
		}
	}
	t.Logf("%d PacketIn in %v; slow connection: %d queued, %d dropped; fast controller read %d; total drops %d",
		n, took, slowSt.MsgsOut, slowSt.AsyncDrops, fastGot.Load(), st.AsyncDrops)
	if slowSt.AsyncDrops < n/2 {
		t.Errorf("slow connection dropped only %d of %d", slowSt.AsyncDrops, n)
	}
	// The slow controller is still connected and catches up.
	slow.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	xid := slow.send(&ofp.EchoRequest{})
	for {
		h, _ := slow.recv()
		if h.Type == ofp.TypeEchoReply && h.XID == xid {
			break
		}
	}
}

// TestKeepalive: an idle controller is probed with ECHO_REQUEST; one that
// answers stays, one that does not is dropped.
func TestKeepalive(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{ProbeInterval: 100 * time.Millisecond})
	k := dialCtl(t, addr)
	for range 3 {
		h, m := k.recv()
		if _, ok := m.(*ofp.EchoRequest); !ok {
			t.Fatalf("got %v, want an ECHO_REQUEST", h.Type)
		}
		b, _ := ofp.Append(nil, h.XID, &ofp.EchoReply{})
		k.sendRaw(b)
	}
	start := time.Now()
	k.expectClosed()
	if d := time.Since(start); d > 1*time.Second {
		t.Errorf("silent controller dropped after %v", d)
	}
	waitFor(t, "the connection to go", func() bool { return len(sw.Status().Conns) == 0 })
}

// TestReconnect: the switch dials a controller that goes away and comes
// back, with backoff, and reports the controller state.
func TestReconnect(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	states := make(chan bool, 10)
	dp := newFakeDP()
	sw, _ := startSwitch(t, dp, Options{
		Targets:    []Target{mustTarget(t, "tcp:"+addr)},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		FailMode: FailStandalone, FailTimeout: 300 * time.Millisecond,
		OnControllerState: func(up bool) { states <- up },
	})
	accept := func() *ctl {
		t.Helper()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		k := newCtl(t, c)
		k.recv()
		k.send(ofp.NewHello(4))
		k.alive()
		return k
	}
	k := accept()
	waitFor(t, "connected status", func() bool { st := sw.Status(); return len(st.Targets) == 1 && st.Targets[0].State == "connected" })
	select {
	case s := <-states:
		t.Fatalf("controller state %v reported while connected", s)
	case <-time.After(400 * time.Millisecond):
	}

	// The controller goes away.
	ln.Close()
	k.c.Close()
	down := time.Now()
	select {
	case s := <-states:
		if s {
			t.Fatal("reported connected")
		}
		if d := time.Since(down); d < 250*time.Millisecond {
			t.Errorf("reported down after %v, before the fail timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no controller-down report")
	}
	time.Sleep(600 * time.Millisecond) // a few failed attempts, backoff reaches its max
	st := sw.Status()
	if st.Targets[0].State != "backoff" && st.Targets[0].State != "connecting" || st.Targets[0].LastError == "" || st.ControllerConnected {
		t.Errorf("status while the controller is away: %+v", st)
	}

	// It comes back on the same port.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	back := time.Now()
	k = accept()
	if d := time.Since(back); d > time.Second {
		t.Errorf("reconnected after %v, more than the max backoff", d)
	}
	select {
	case s := <-states:
		if !s {
			t.Fatal("reported down")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no controller-up report")
	}
	// Asynchronous messages flow on the new connection.
	sw.PortStatus(&ofp.PortStatus{Reason: ofp.PortReasonModify})
	expect[*ofp.PortStatus](k, 0)
}

func TestUnixAndClose(t *testing.T) {
	checkLeaks(t)
	path := t.TempDir() + "/sw.sock"
	dp := newFakeDP()
	var logs bytes.Buffer // written under the handler's lock, read after Close
	sw, err := New(dp, Options{Targets: []Target{mustTarget(t, "punix:"+path), mustTarget(t, "ptcp:0"),
		mustTarget(t, "tcp:127.0.0.1:1")}, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	k := newCtl(t, c)
	k.recv()
	k.send(ofp.NewHello(4))
	k.alive()
	k2 := dialCtl(t, sw.ListenAddrs()[1].String())
	k2.alive()
	time.Sleep(50 * time.Millisecond) // the active target fails a few times
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	k.expectClosed()
	k2.expectClosed()
	// The active target failed a few times and said so once.
	if n := strings.Count(logs.String(), "cannot connect to controller"); n != 1 {
		t.Errorf("%d connection failure logs, want 1:\n%s", n, logs.String())
	}
	if err := sw.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
	sw.PacketIn(&ofp.PacketIn{Data: []byte{1}}, ofp.CMLNoBuffer) // delivers nothing, does not block
	sw.Close()

	// A stale socket file is replaced.
	sw, err = New(dp, Options{Targets: []Target{mustTarget(t, "punix:"+path)}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	sw.Close()
	// A port in use fails Start and leaves nothing open.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	sw, _ = New(dp, Options{Targets: []Target{mustTarget(t, "punix:"+path), mustTarget(t, "ptcp:"+port)}, Logger: testLogger(t)})
	if err := sw.Start(); err == nil {
		t.Error("Start on a port in use succeeded")
	} else {
		t.Log(err)
	}
	sw.Close()
}

// TestUnansweredRequest: a request that needs a reply and gets none from
// the datapath is refused rather than left hanging.
func TestUnansweredRequest(t *testing.T) {
	dp := newFakeDP()
	_, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)
	xid := k.send(&ofp.MultipartRequest{Body: &ofp.GroupDescRequest{}})
	k.expectError(xid, ofp.ETBadRequest, ofp.BRCBadMultipart)
	xid = k.send(&ofp.QueueGetConfigRequest{Port: 1})
	k.expectError(xid, ofp.ETBadRequest, ofp.BRCBadType)
	// A request continued by REQ_MORE has no reply of its own yet.
	k.send(&ofp.MultipartRequest{Flags: ofp.MultipartRequestMore, Body: &ofp.TableFeaturesRequest{}})
	k.alive()
}

// TestConcurrentAsync runs asynchronous messages from several goroutines
// while controllers connect, change roles and leave (for the race detector).
func TestConcurrentAsync(t *testing.T) {
	dp := newFakeDP()
	sw, addr := startSwitch(t, dp, Options{QueueLen: 16})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch g {
				case 0:
					sw.PacketIn(&ofp.PacketIn{Reason: ofp.ReasonAction, Data: make([]byte, 100)}, 64)
				case 1:
					sw.PortStatus(&ofp.PortStatus{Reason: ofp.PortReasonModify})
				case 2:
					sw.FlowRemoved(&ofp.FlowRemoved{Reason: ofp.RemovedDelete})
				case 3:
					sw.Status()
				}
				time.Sleep(20 * time.Microsecond)
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)
	for i := range 20 {
		k := dialCtl(t, addr)
		k.send(&ofp.RoleRequest{Role: uint32(1 + i%3), GenerationID: uint64(i)})
		k.send(&ofp.SetAsync{AsyncConfig: ofp.AsyncConfig{PacketInMask: [2]uint32{2, 2}}})
		xid := k.send(&ofp.EchoRequest{})
		for {
			h, _ := k.recv()
			if h.Type == ofp.TypeEchoReply && h.XID == xid {
				break
			}
		}
		if i%2 == 0 {
			k.c.Close()
		}
	}
}

// TestRandomMessages sends well-framed messages of every type with random
// bodies: each is answered or ignored, never fatal to the connection.
func TestRandomMessages(t *testing.T) {
	dp := newFakeDP()
	_, addr := startSwitch(t, dp, Options{})
	k := dialCtl(t, addr)
	rng := rand.New(rand.NewPCG(42, 1))
	for i := range 3000 {
		body := make([]byte, rng.IntN(120))
		for j := range body {
			body[j] = byte(rng.UintN(256))
		}
		if rng.IntN(2) == 0 && len(body) >= 8 {
			clear(body[:2]) // plausible multipart types, OXM classes, ...
		}
		typ := byte(rng.IntN(35))
		if typ == byte(ofp.TypeHello) {
			continue
		}
		b := append([]byte{ofp.Version, typ, 0, 0, 0, 0, 0, 0}, body...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint32(b[4:], uint32(i))
		k.sendRaw(b)
	}
	xid := k.send(&ofp.EchoRequest{Data: []byte("end")})
	n := 0
	for {
		f, err := k.recvRaw()
		if err != nil {
			t.Fatalf("after %d messages from the switch: %v", n, err)
		}
		n++
		if h, _ := ofp.ParseHeader(f); h.Type == ofp.TypeEchoReply && h.XID == xid {
			break
		}
	}
	t.Logf("%d answers; the datapath got %d messages", n, len(dp.received()))
}
