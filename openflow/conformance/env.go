package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ns is the namespace everything runs in (the smoke test uses its own).
var ns = "mxc-sw"

const (
	ctlPort    = 6653 // osken-manager's port, on 127.0.0.1 in ns
	targetDPID = "0000000000000001"
	testerDPID = "0000000000000002"
	bridge     = "mxc-br" // the tester
	tgBridge   = "mxc-tg" // the target, with -target ovs
	nPorts     = 3
	ovsSchema  = "/usr/share/openvswitch/vswitch.ovsschema"
)

// target port N is veth mxc-tN, tester port N its peer mxc-oN.
func targetIf(n int) string { return fmt.Sprintf("mxc-t%d", n) }
func testerIf(n int) string { return fmt.Sprintf("mxc-o%d", n) }

// syncBuffer is a bytes.Buffer safe for a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a long-running process; it leads its own process group, dies
// with us (Pdeathsig), and is ended by its PID only.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	file *os.File
	done chan struct{}
	err  error
}

// niceness of every process the harness starts (tester, OVS, mswitchd):
// the throughput tests (group SELECT, meters) need the tester to send at
// its set rate, which a busy machine's other jobs otherwise disturb.
const niceness = "-10"

// The tester paces its traffic by sleeping 10 ms between bursts and counts
// on waking up on time: every millisecond of wake-up latency on a busy
// machine is 10% less traffic than the test expects. So osken-manager runs
// in the round-robin real-time class at the lowest priority (it sleeps most
// of the time; the kernel's real-time throttling bounds it anyway).
var realtime = []string{"chrt", "--rr", "1"}

// start runs argv inside ns, its output kept and copied to logFile.
func start(logFile string, env []string, argv ...string) (*proc, error) {
	full := append([]string{"-n", niceness, "ip", "netns", "exec", ns}, argv...)
	name := argv[0]
	if name == realtime[0] {
		name = argv[len(realtime)]
	}
	p := &proc{name: filepath.Base(name), cmd: exec.Command("nice", full...), done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	p.file = f
	w := &teeWriter{a: &p.out, b: f}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

type teeWriter struct {
	a *syncBuffer
	b *os.File
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.a.Write(p)
	return t.b.Write(p)
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group and waits at most d, then kills it.
func (p *proc) stop(sig syscall.Signal, d time.Duration) {
	if p == nil || p.exited() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(d):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// run runs a short command (bounded to 30 s) and returns its output.
func run(ctx context.Context, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(tail(string(out), 10)))
	}
	return string(out), nil
}

func inNS(argv ...string) []string { return append([]string{"ip", "netns", "exec", ns}, argv...) }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sweep removes what an earlier, killed run may have left: the namespace
// (and with it the veths and OVS's taps). Only this run's namespace: another
// run may be using another one.
func sweep() {
	exec.Command("ip", "netns", "del", ns).Run()
}

// env is one category's set-up.
type env struct {
	dir                  string
	ovsEnv               []string
	mswitchd, db, vs, os *proc
}

// Targets: the switch under test.
const (
	targetMswitch = "mswitch" // mswitchd's openflow module on afpacket ports
	targetOVS     = "ovs"     // a second bridge of the tester's OVS (netdev datapath)
)

// runCategory sets up, runs the tester on path, tears down; it returns the
// tester's log (even when cut short).
func runCategory(ctx context.Context, target, bin, dir, path string, bound time.Duration, interval int) (string, error) {
	e := &env{dir: dir}
	defer e.down()
	if err := e.netns(ctx); err != nil {
		return "", err
	}
	if err := e.startOVS(ctx); err != nil {
		return "", err
	}
	if target == targetOVS {
		if err := e.addOVSTarget(ctx); err != nil {
			return "", err
		}
	} else if err := e.startMswitch(ctx, bin); err != nil {
		return "", err
	}
	// The tester first, then the switches connect to it.
	var err error
	e.os, err = start(filepath.Join(dir, "tester.log"), nil, slices.Concat(realtime, []string{"osken-manager",
		"--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", strconv.Itoa(ctlPort),
		"--test-switch-dir", path,
		"--test-switch-target", targetDPID, "--test-switch-tester", testerDPID,
		"--test-switch-target-version", "openflow13", "--test-switch-tester-version", "openflow13",
		"--test-switch-interval", strconv.Itoa(interval),
		"os_ken.tests.switch.tester"})...)
	if err != nil {
		return "", err
	}
	ctrl := fmt.Sprintf("tcp:127.0.0.1:%d", ctlPort)
	if target == targetOVS {
		if _, err := e.vsctl(ctx, "set-controller", tgBridge, ctrl); err != nil {
			return e.os.out.String(), err
		}
	} else if _, err := e.ctl(ctx, bin, "openflow", "set-controller", "target", ctrl); err != nil {
		return e.os.out.String(), err
	}
	if _, err := e.vsctl(ctx, "set-controller", bridge, ctrl); err != nil {
		return e.os.out.String(), err
	}
	select {
	case <-e.os.done:
		log := e.os.out.String()
		if !strings.Contains(log, "Test end") {
			return log, fmt.Errorf("tester exited early: %v\n%s", e.os.err, tail(log, 10))
		}
		return log, nil
	case <-time.After(bound):
		e.os.stop(syscall.SIGTERM, 5*time.Second)
		return e.os.out.String(), fmt.Errorf("category still running after %v: stopped", bound)
	case <-ctx.Done():
		e.os.stop(syscall.SIGTERM, 5*time.Second)
		return e.os.out.String(), ctx.Err()
	}
}

func (e *env) netns(ctx context.Context) error {
	exec.Command("ip", "netns", "del", ns).Run()
	steps := [][]string{
		{"ip", "netns", "add", ns},
		inNS("ip", "link", "set", "lo", "up"),
		// No IPv6 on the ports: router/neighbour solicitations would be
		// extra packets in the tester's counts.
		inNS("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"),
	}
	for n := 1; n <= nPorts; n++ {
		t, o := targetIf(n), testerIf(n)
		steps = append(steps,
			inNS("ip", "link", "add", t, "type", "veth", "peer", "name", o),
			inNS("ip", "link", "set", t, "up"),
			inNS("ip", "link", "set", o, "up"),
		)
	}
	for _, s := range steps {
		if _, err := run(ctx, nil, s...); err != nil {
			return err
		}
	}
	for n := 1; n <= nPorts; n++ {
		for _, i := range []string{targetIf(n), testerIf(n)} {
			// Packets as the tester wrote them, checksums and all.
			run(ctx, nil, inNS("ethtool", "-K", i, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")...)
		}
	}
	return nil
}

func (e *env) vsctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, e.ovsEnv, append([]string{"ovs-vsctl", "--db=unix:" + filepath.Join(e.dir, "ovs", "db.sock"), "--timeout=30"}, args...)...)
}

func (e *env) startOVS(ctx context.Context) error {
	d := filepath.Join(e.dir, "ovs")
	os.RemoveAll(d)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	e.ovsEnv = []string{"OVS_RUNDIR=" + d, "OVS_DBDIR=" + d, "OVS_LOGDIR=" + d, "OVS_SYSCONFDIR=" + d, "OVS_PKGDATADIR=" + filepath.Dir(ovsSchema)}
	if _, err := run(ctx, e.ovsEnv, "ovsdb-tool", "create", filepath.Join(d, "conf.db"), ovsSchema); err != nil {
		return err
	}
	var err error
	e.db, err = start(filepath.Join(d, "ovsdb-server.out"), e.ovsEnv, "ovsdb-server", filepath.Join(d, "conf.db"),
		"--remote=punix:"+filepath.Join(d, "db.sock"), "--unixctl="+filepath.Join(d, "db.ctl"),
		"--log-file="+filepath.Join(d, "ovsdb-server.log"))
	if err != nil {
		return err
	}
	if err := waitFile(filepath.Join(d, "db.sock"), e.db); err != nil {
		return err
	}
	if _, err := e.vsctl(ctx, "--no-wait", "init"); err != nil {
		return err
	}
	e.vs, err = start(filepath.Join(d, "ovs-vswitchd.out"), e.ovsEnv, "ovs-vswitchd", "unix:"+filepath.Join(d, "db.sock"),
		"--unixctl="+filepath.Join(d, "vswitchd.ctl"), "--log-file="+filepath.Join(d, "ovs-vswitchd.log"))
	if err != nil {
		return err
	}
	return e.addBridge(ctx, bridge, testerDPID, testerIf)
}

// addBridge adds an OVS userspace bridge with ports ifName(1..nPorts) as
// OpenFlow ports 1..nPorts.
func (e *env) addBridge(ctx context.Context, br, dpid string, ifName func(int) string) error {
	args := []string{"add-br", br, "--", "set", "bridge", br, "datapath_type=netdev",
		"fail-mode=secure", "protocols=OpenFlow13", "other-config:datapath-id=" + dpid,
		"other-config:disable-in-band=true"}
	for n := 1; n <= nPorts; n++ {
		o := ifName(n)
		args = append(args, "--", "add-port", br, o, "--", "set", "interface", o, "ofport_request="+strconv.Itoa(n))
	}
	if _, err := e.vsctl(ctx, args...); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(readFile(filepath.Join(e.dir, "ovs", "ovs-vswitchd.log")), 10))
	}
	for n := 1; n <= nPorts; n++ {
		out, _ := e.vsctl(ctx, "get", "interface", ifName(n), "ofport")
		if strings.TrimSpace(out) != strconv.Itoa(n) {
			msg, _ := e.vsctl(ctx, "get", "interface", ifName(n), "error")
			return fmt.Errorf("ovs port %s: ofport %s, want %d: %s", ifName(n), strings.TrimSpace(out), n, strings.TrimSpace(msg))
		}
	}
	return nil
}

// addOVSTarget makes Open vSwitch the switch under test: a second bridge of
// the same ovs-vswitchd (one userspace datapath per process, so a second
// instance in the namespace would clash on its "ovs-netdev" device), dpid
// 1, on the target ends of the veths. The bridges share nothing but the
// process: each has its own ports and flow tables.
func (e *env) addOVSTarget(ctx context.Context) error {
	return e.addBridge(ctx, tgBridge, targetDPID, targetIf)
}

func (e *env) ctl(ctx context.Context, bin string, args ...string) (string, error) {
	return run(ctx, nil, append([]string{filepath.Join(bin, "mswitchctl"), "--socket", filepath.Join(e.dir, "mswitchd", "mswitchd.sock")}, args...)...)
}

func (e *env) startMswitch(ctx context.Context, bin string) error {
	d := filepath.Join(e.dir, "mswitchd")
	os.RemoveAll(d)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	var err error
	e.mswitchd, err = start(filepath.Join(e.dir, "mswitchd.log"), nil, filepath.Join(bin, "mswitchd"), "-dir", d, "-log-level", "info")
	if err != nil {
		return err
	}
	if err := waitFile(filepath.Join(d, "mswitchd.sock"), e.mswitchd); err != nil {
		return err
	}
	steps := [][]string{{"switch", "add", "target", "--module", "openflow"}}
	for n := 1; n <= nPorts; n++ {
		steps = append(steps, []string{"port", "add", "target", fmt.Sprintf("p%d", n), "--type", "afpacket", "--interface", targetIf(n)})
	}
	steps = append(steps,
		[]string{"openflow", "datapath-id", "target", targetDPID},
		[]string{"openflow", "fail-mode", "target", "secure"})
	for _, s := range steps {
		if _, err := e.ctl(ctx, bin, s...); err != nil {
			return fmt.Errorf("%w\n%s", err, tail(e.mswitchd.out.String(), 10))
		}
	}
	return nil
}

// down stops the processes (tester, switches, OVS) by PID and removes the
// namespace, with its veths and taps.
func (e *env) down() {
	e.os.stop(syscall.SIGTERM, 5*time.Second)
	e.mswitchd.stop(syscall.SIGTERM, 10*time.Second)
	e.vs.stop(syscall.SIGTERM, 10*time.Second)
	e.db.stop(syscall.SIGTERM, 5*time.Second)
	exec.Command("ip", "netns", "del", ns).Run()
}

func waitFile(path string, p *proc) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			return errors.New(p.name + ": no " + path + "\n" + tail(p.out.String(), 10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
