// Command conformance runs the Ryu/os-ken OpenFlow Switch Test Tool
// (os_ken.tests.switch.tester) against mswitchd's openflow module.
//
// For each category (a sub-folder or a file of the of13 test tree) it builds
// a fresh network namespace "mxc-sw" holding: mswitchd with switch "target"
// on the openflow module (dpid 1), an Open vSwitch userspace bridge
// "mxc-br" (ovsdb-server + ovs-vswitchd of its own, datapath_type=netdev,
// dpid 2), three veth pairs target port N <-> tester port N, and
// osken-manager running the tester on 127.0.0.1:6653. It reads the
// tester's OK / ERROR lines, prints counts per category, and tears
// everything down (processes by PID, then the namespace) even on failure.
//
// Must run as root. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	testsDir := flag.String("tests", "/work/shared/ryu-switch-tests/of13", "the of13 test tree")
	outDir := flag.String("out", "", "directory for logs (default: a new one under /tmp)")
	binDir := flag.String("bin", "", "directory with mswitchd and mswitchctl (default: build them from -repo)")
	repo := flag.String("repo", ".", "the mswitch module's directory, to build the binaries")
	perCat := flag.Duration("timeout", 10*time.Minute, "bound on one category's run")
	interval := flag.Int("interval", 0, "the tester's --test-switch-interval (seconds between tests)")
	nsName := flag.String("ns", ns, "the network namespace to run in (mxc...; two runs at once need two)")
	target := flag.String("target", targetMswitch, "the switch under test: mswitch (mswitchd's openflow module) or ovs (an Open vSwitch userspace bridge)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: conformance [flags] CATEGORY...\n  CATEGORY is a path under -tests: match, action/25_SET_FIELD, match/00_IN_PORT.json...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "conformance: must run as root")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *outDir == "" {
		d, err := os.MkdirTemp("", "ofconform-")
		must(err)
		*outDir = d
	}
	must(os.MkdirAll(*outDir, 0o755))
	if !strings.HasPrefix(*nsName, "mxc") {
		fmt.Fprintln(os.Stderr, "conformance: -ns must start with mxc")
		os.Exit(2)
	}
	ns = *nsName
	if *target != targetMswitch && *target != targetOVS {
		fmt.Fprintf(os.Stderr, "conformance: unknown -target %q\n", *target)
		os.Exit(2)
	}
	if *binDir == "" && *target == targetMswitch {
		*binDir = filepath.Join(*outDir, "bin")
		fmt.Fprintln(os.Stderr, "building mswitchd and mswitchctl...")
		cmd := exec.Command("go", "build", "-o", *binDir+"/", "github.com/mswitch/mswitch/cmd/mswitchd", "github.com/mswitch/mswitch/cmd/mswitchctl")
		cmd.Dir = *repo
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		must(cmd.Run())
	}
	sweep()

	type row struct {
		cat     string
		ok, bad int
		final   string
		err     error
		dur     time.Duration
		results []Result
	}
	var rows []row
	var all []Result
	for _, cat := range flag.Args() {
		if ctx.Err() != nil {
			break
		}
		path := filepath.Join(*testsDir, cat)
		if _, err := os.Stat(path); err != nil {
			rows = append(rows, row{cat: cat, err: err})
			continue
		}
		logDir := filepath.Join(*outDir, strings.NewReplacer("/", "_", ".json", "").Replace(cat))
		must(os.MkdirAll(logDir, 0o755))
		fmt.Fprintf(os.Stderr, "== %s (logs in %s)\n", cat, logDir)
		t0 := time.Now()
		log, err := runCategory(ctx, *target, *binDir, logDir, path, *perCat, *interval)
		rep := Parse(log)
		ok, bad := rep.Counts()
		r := row{cat: cat, ok: ok, bad: bad, err: err, dur: time.Since(t0).Round(time.Second), results: rep.Results}
		if rep.FinalOK >= 0 {
			r.final = fmt.Sprintf("OK(%d) / ERROR(%d)", rep.FinalOK, rep.FinalErr)
		} else {
			r.final = "no final report (cut short)"
		}
		rows = append(rows, r)
		all = append(all, rep.Results...)
		fmt.Fprintf(os.Stderr, "   %s: %d ok, %d failed, %s, %v", cat, ok, bad, r.final, r.dur)
		if err != nil {
			fmt.Fprintf(os.Stderr, " (error: %v)", err)
		}
		fmt.Fprintln(os.Stderr)
	}

	fmt.Printf("Target: %s\n\n| category | pass | fail | tester's report | time | harness error |\n|---|---|---|---|---|---|\n", *target)
	for _, r := range rows {
		e := ""
		if r.err != nil {
			e = strings.ReplaceAll(firstLine(r.err.Error()), "|", "/")
		}
		fmt.Printf("| %s | %d | %d | %s | %v | %s |\n", r.cat, r.ok, r.bad, r.final, r.dur, e)
	}
	fmt.Printf("\nMost common failures (all categories):\n\n| n | message |\n|---|---|\n")
	for i, m := range TopFailures(all) {
		if i == 15 {
			break
		}
		fmt.Printf("| %d | %s |\n", m.N, strings.ReplaceAll(m.Msg, "|", "/"))
	}
	fmt.Printf("\nPer test file (target %s):\n\n| file | pass | fail |\n|---|---|---|\n", *target)
	for _, f := range PerFile(all) {
		fmt.Printf("| %s | %d | %d |\n", f.File, f.OK, f.Bad)
	}
	for _, r := range rows {
		if len(r.results) == 0 {
			continue
		}
		fmt.Printf("\n%s failures:\n", r.cat)
		for _, m := range TopFailures(r.results) {
			fmt.Printf("  %3d  %s\n", m.N, m.Msg)
		}
	}
	fmt.Fprintf(os.Stderr, "logs: %s\n", *outDir)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		sweep()
		os.Exit(1)
	}
}
