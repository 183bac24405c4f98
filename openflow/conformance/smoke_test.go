package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConformanceSmoke runs a few of the tester's files against mswitchd as
// the full harness does (namespace, OVS tester, osken-manager), in one
// tester run: match/00_IN_PORT, action/00_OUTPUT, the PBB push and pop
// files, and the first test of a meter file (30 s of traffic). Every test
// must pass. It needs root, the os-ken tester, Open vSwitch and the test
// files; scripts/test installs them.
func TestConformanceSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance smoke test: not in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("conformance smoke test: needs root (namespaces, veths, OVS)")
	}
	for _, tool := range []string{"osken-manager", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("conformance smoke test: %s not installed", tool)
		}
	}
	if _, err := os.Stat(ovsSchema); err != nil {
		t.Skipf("conformance smoke test: no OVS schema: %v", err)
	}
	tests := os.Getenv("MSWITCH_OF13_TESTS")
	if tests == "" {
		tests = "/work/shared/ryu-switch-tests/of13"
	}
	if _, err := os.Stat(tests); err != nil {
		t.Skipf("conformance smoke test: no test files (set MSWITCH_OF13_TESTS): %v", err)
	}

	// Our own namespace, so that a harness run in mxc-sw is not disturbed.
	ns = "mxc-ci"
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range []string{"match/00_IN_PORT.json", "action/00_OUTPUT.json", "action/26_PUSH_PBB.json", "action/27_POP_PBB.json", "meter/01_DROP_01_PKTPS_00_100.json"} {
		b, err := os.ReadFile(filepath.Join(tests, f))
		if err != nil {
			t.Fatal(err)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil || len(list) < 2 {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.HasPrefix(f, "meter/") {
			list = list[:2] // one 30-second throughput test
			if b, err = json.Marshal(list); err != nil {
				t.Fatal(err)
			}
		}
		want += len(list) - 1
		if err := os.WriteFile(filepath.Join(files, strings.ReplaceAll(f, "/", "_")), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", bin+"/", "github.com/mswitch/mswitch/cmd/mswitchd", "github.com/mswitch/mswitch/cmd/mswitchctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	log, err := runCategory(ctx, targetMswitch, bin, logs, files, 3*time.Minute, 0)
	rep := Parse(log)
	ok, bad := rep.Counts()
	t.Logf("%d ok, %d failed of %d in %v", ok, bad, want, time.Since(t0).Round(time.Second))
	for _, r := range rep.Results {
		if !r.OK {
			t.Errorf("%s: %s: %s", r.File, r.Test, r.Msg)
		}
	}
	if err != nil {
		t.Fatalf("harness: %v\nmswitchd: %s", err, tail(readFile(filepath.Join(logs, "mswitchd.log")), 20))
	}
	if ok != want || rep.FinalOK != want {
		t.Fatalf("%d of %d passed (tester's report: OK(%d) / ERROR(%d))", ok, want, rep.FinalOK, rep.FinalErr)
	}
}
