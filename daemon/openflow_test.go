package daemon_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/mswitch/mswitch/control"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestOpenFlowSettings: the openflow settings are checked, applied to the
// running module, kept while another module runs, and restored after a
// restart.
func TestOpenFlowSettings(t *testing.T) {
	dir := t.TempDir()
	td := start(t, dir)
	c, cx := td.c, ctx(t)
	target := "ptcp:" + strconv.Itoa(freeTCPPort(t)) + ":127.0.0.1"
	must[control.SwitchInfo](t)(c.AddSwitch(cx, control.SwitchSpec{Name: "of", Module: "openflow",
		OpenFlow: &control.OpenFlowSpec{Targets: []string{target}, DatapathID: "0x2a"}}))
	must[control.PortInfo](t)(c.AddPort(cx, "of", control.PortSpec{Name: "p0", Type: control.TypePipe}))

	wantErr(t, c.SetOpenFlow(cx, "of", control.OpenFlowSpec{FailMode: "open"}), 400,
		`fail mode "open" is neither secure nor standalone`)
	wantErr(t, c.SetOpenFlow(cx, "of", control.OpenFlowSpec{Targets: []string{"tcp"}}), 400,
		`openflow target "tcp" is not valid`)
	wantErr(t, c.SetOpenFlow(cx, "of", control.OpenFlowSpec{DatapathID: "xyz"}), 400,
		`datapath id "xyz" is not 1 to 16 hex digits`)
	wantErr(t, c.SetOpenFlow(cx, "of", control.OpenFlowSpec{Megaflows: "some"}), 400,
		`megaflows "some" is neither wildcard nor exact`)
	off := false
	check(t, c.SetOpenFlow(cx, "of", control.OpenFlowSpec{FailMode: "standalone", Cache: &off}))
	check(t, c.SetOpenFlow(cx, "of", control.OpenFlowSpec{EMC: &off, Megaflows: control.MegaflowsExact}))

	info := must[control.OpenFlowInfo](t)(c.OpenFlow(cx, "of"))
	if !info.Running || info.FailMode != "standalone" || info.DatapathID != "000000000000002a" ||
		len(info.ListenAddrs) != 1 || *info.Cache || *info.EMC || info.Megaflows != control.MegaflowsExact {
		t.Fatalf("openflow info %+v", info)
	}
	tr, err := c.TraceOpenFlow(cx, "of", control.OpenFlowTrace{Port: "p0", Frame: "020000000002 020000000001 88b5 0000"})
	check(t, err)
	if tr == "" {
		t.Fatal("empty trace")
	}
	wantErr(t, func() error {
		_, err := c.TraceOpenFlow(cx, "of", control.OpenFlowTrace{Port: "p0", Frame: "zz"})
		return err
	}(), 400, "the frame is not hex")

	// Another module, and back: the settings stay.
	check(t, c.SetModule(cx, "of", "learning"))
	check(t, c.SetModule(cx, "of", "openflow"))
	td.stop()

	td2 := start(t, dir)
	info2 := must[control.OpenFlowInfo](t)(td2.c.OpenFlow(cx, "of"))
	if !info2.Running || info2.FailMode != "standalone" || info2.DatapathID != "000000000000002a" ||
		len(info2.Targets) != 1 || info2.Targets[0] != target || *info2.Cache || *info2.EMC ||
		info2.Megaflows != control.MegaflowsExact {
		t.Fatalf("after restart: %+v", info2)
	}
	// The restored pipeline has exact megaflows once its caches are on.
	on := true
	check(t, td2.c.SetOpenFlow(cx, "of", control.OpenFlowSpec{Cache: &on}))
	tr, err = td2.c.TraceOpenFlow(cx, "of", control.OpenFlowTrace{Port: "p0", Frame: "020000000002 020000000001 88b5 0000"})
	check(t, err)
	if !strings.Contains(tr, "exact: wildcards are off") {
		t.Fatalf("trace after restart does not show exact megaflows:\n%s", tr)
	}
}
