package ofbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	procs "github.com/mswitch/mswitch/bench/internal/proc"
)

// ovsSchema is where Debian's openvswitch-common puts the database schema.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// DefaultVswitchd is Debian's openvswitch-switch-dpdk build of
// ovs-vswitchd, called by its own path (not through the alternatives link
// /usr/sbin/ovs-vswitchd, which other users of the machine may rely on).
const DefaultVswitchd = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"

// ovs is Open vSwitch's userspace datapath with DPDK: an ovsdb-server and
// an ovs-vswitchd of our own (never the system's), their database, sockets
// and logs in a directory of the set, started in network namespace ns (the
// netdev datapath makes taps: ovs-netdev and the bridge's). DPDK runs
// without hugepages (--no-huge -m 1024 --legacy-mem: without --legacy-mem,
// OVS adds --in-memory, which DPDK refuses with --no-huge) under a file
// prefix of its own. ovs-vswitchd is confined to the switch CPU, its PMD
// thread too (pmd-cpu-mask). Bridge br0, datapath_type netdev, fail_mode
// secure, with two type=dpdk ports whose net_memif devices are memif
// servers: m1 (OpenFlow port 1) and m2 (port 2) on sockets of their own,
// id 0. m2 has two receive queues: OVS gives its PMD thread transmit queue
// 1 (queue 0 is the main thread's), so a receiver must connect two queue
// pairs for the PMD's packets to reach it; a device offers as many
// transmit queues as receive queues.
type ovs struct {
	vswitchd string
	ns       string
	d        string // ours
	prefix   string // DPDK's --file-prefix
	env      []string
	db, vs   *proc
	Version  string
	// cache is the caches' state, once cacheSet.
	cache, cacheSet bool
}

func startOVS(ctx context.Context, vswitchd, dir, ns string) (o *ovs, err error) {
	o = &ovs{vswitchd: vswitchd, ns: ns, prefix: fmt.Sprintf("%s-dpdk-%d", ns, os.Getpid())}
	defer func() {
		if err != nil {
			o.Down()
		}
	}()
	o.d = filepath.Join(dir, "ovs")
	if err := os.MkdirAll(o.d, 0o755); err != nil {
		return o, err
	}
	o.env = []string{"OVS_RUNDIR=" + o.d, "OVS_DBDIR=" + o.d, "OVS_LOGDIR=" + o.d, "OVS_SYSCONFDIR=" + o.d,
		"OVS_PKGDATADIR=" + filepath.Dir(ovsSchema)}
	run(ctx, nil, "ip", "netns", "del", ns) // a stale one of ours
	if _, err := run(ctx, nil, "ip", "netns", "add", ns); err != nil {
		return o, err
	}
	if _, err := run(ctx, o.env, "ovsdb-tool", "create", filepath.Join(o.d, "conf.db"), ovsSchema); err != nil {
		return o, err
	}
	o.db, err = procs.Start(o.env, "ip", "netns", "exec", ns, "taskset", "-c", fmt.Sprint(GenCPU), "ovsdb-server",
		filepath.Join(o.d, "conf.db"), "--remote=punix:"+filepath.Join(o.d, "db.sock"),
		"--unixctl="+filepath.Join(o.d, "db.ctl"), "--log-file="+filepath.Join(o.d, "ovsdb-server.log"))
	if err != nil {
		return o, err
	}
	if err := waitFile(filepath.Join(o.d, "db.sock"), o.db, 10*time.Second); err != nil {
		return o, err
	}
	mask := func(cpu int) string { return "0x" + strconv.FormatUint(1<<cpu, 16) }
	if _, err := o.vsctl(ctx, "--no-wait", "init"); err != nil {
		return o, err
	}
	if _, err := o.vsctl(ctx, "--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
		"other_config:dpdk-extra=--no-huge -m 1024 --legacy-mem --no-pci --file-prefix="+o.prefix,
		"other_config:dpdk-lcore-mask="+mask(GenCPU), "other_config:pmd-cpu-mask="+mask(SwitchCPU)); err != nil {
		return o, err
	}
	o.vs, err = procs.Start(o.env, "ip", "netns", "exec", ns, vswitchd,
		"unix:"+filepath.Join(o.d, "db.sock"), "--unixctl="+filepath.Join(o.d, "vswitchd.ctl"),
		"--log-file="+filepath.Join(o.d, "ovs-vswitchd.log"))
	if err != nil {
		return o, err
	}
	if err := waitFile(filepath.Join(o.d, "vswitchd.ctl"), o.vs, 30*time.Second); err != nil {
		return o, fmt.Errorf("%w\n%s", err, o.log())
	}
	if _, err := o.vsctl(ctx, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "fail_mode=secure"); err != nil {
		return o, fmt.Errorf("%w\n%s", err, o.log())
	}
	for n := 1; n <= 2; n++ {
		sock, _ := o.Port(n)
		os.Remove(sock)
		args := []string{"add-port", "br0", fmt.Sprintf("m%d", n), "--", "set", "interface", fmt.Sprintf("m%d", n), "type=dpdk",
			fmt.Sprintf("ofport_request=%d", n),
			fmt.Sprintf("options:dpdk-devargs=net_memif%d,role=server,socket=%s,socket-abstract=no,id=0", n, sock)}
		if n == 2 {
			args = append(args, fmt.Sprintf("options:n_rxq=%d", rxQueues))
		}
		if _, err := o.vsctl(ctx, args...); err != nil {
			return o, fmt.Errorf("%w\n%s", err, o.log())
		}
		ofport, _ := o.vsctl(ctx, "get", "interface", fmt.Sprintf("m%d", n), "ofport")
		if strings.TrimSpace(ofport) != fmt.Sprint(n) {
			e, _ := o.vsctl(ctx, "get", "interface", fmt.Sprintf("m%d", n), "error")
			return o, fmt.Errorf("ovs port m%d: ofport %s: %s\n%s", n, strings.TrimSpace(ofport), strings.TrimSpace(e), o.log())
		}
	}
	if out, err := run(ctx, nil, vswitchd, "--version"); err == nil {
		o.Version, _, _ = strings.Cut(strings.TrimSpace(out), "\n")
	}
	return o, nil
}

func (o *ovs) vsctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, o.env, append([]string{"ovs-vsctl", "--db=unix:" + filepath.Join(o.d, "db.sock"), "--timeout=30"}, args...)...)
}

func (o *ovs) appctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, o.env, append([]string{"ovs-appctl", "-t", filepath.Join(o.d, "vswitchd.ctl")}, args...)...)
}

// log is the end of ovs-vswitchd's log, for errors.
func (o *ovs) log() string {
	b, _ := os.ReadFile(filepath.Join(o.d, "ovs-vswitchd.log"))
	return tail(string(b))
}

func (o *ovs) Name() string   { return SwitchOVS }
func (o *ovs) Target() string { return "unix:" + filepath.Join(o.d, "br0.mgmt") }
func (o *ovs) Port(n int) (string, int) {
	return filepath.Join(o.d, fmt.Sprintf("m%d.sock", n)), 0
}
func (o *ovs) Queues() int { return rxQueues }
func (o *ovs) PID() int    { return o.vs.PID() }

// SetCache turns OVS's caches on or off as the OVS paper's evaluation
// does: the exact-match cache by its insertion probability (off: never
// insert, which also skips the lookups), megaflows by
// upcall/disable-megaflows (the datapath then gets exact-match flows, which
// its classifier still caches). The signature-match cache is off by
// default and stays off.
//
// A change of other_config makes OVS reconfigure its datapath, during
// which a memif client that connects may never get packets: SetCache does
// nothing when the setting is already right, and waits a little after a
// change.
func (o *ovs) SetCache(ctx context.Context, c Cache) error {
	if !has(SwitchOVS, c) {
		return fmt.Errorf("set OVS cache: OVS has no setting %q", c)
	}
	on := c == CacheOn
	if o.cacheSet && o.cache == on {
		return nil
	}
	o.cacheSet, o.cache = true, on
	defer time.Sleep(2 * time.Second)
	prob, mf := "100", "upcall/enable-megaflows"
	if !on {
		prob, mf = "0", "upcall/disable-megaflows"
	}
	if _, err := o.vsctl(ctx, "set", "Open_vSwitch", ".", "other_config:emc-insert-inv-prob="+prob); err != nil {
		return err
	}
	if _, err := o.appctl(ctx, mf); err != nil {
		return err
	}
	_, err := o.appctl(ctx, "dpctl/del-flows")
	return err
}

func (o *ovs) Flows(ctx context.Context) (int, error) {
	out, err := run(ctx, nil, "ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", o.Target())
	if err != nil {
		return 0, err
	}
	return parseFlowCount(out)
}

// parseFlowCount reads flow_count from ovs-ofctl dump-aggregate's output.
func parseFlowCount(out string) (int, error) {
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "flow_count="); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no flow_count in %q", strings.TrimSpace(out))
}

// WaitLink reads the port's state from OpenFlow (dump-ports-desc), which
// follows the device's link at once, where the Interface table's
// link_state is written every few seconds.
func (o *ovs) WaitLink(ctx context.Context, n int, up bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := run(ctx, nil, "ovs-ofctl", "-O", "OpenFlow13", "dump-ports-desc", o.Target())
		if err != nil {
			return err
		}
		down, err := parseLinkDown(out, n)
		if err != nil {
			return err
		}
		if down != up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ovs port m%d: link still %s after 10s", n, map[bool]string{true: "down", false: "up"}[down])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parseLinkDown tells whether OpenFlow port n is LINK_DOWN in the output of
// ovs-ofctl dump-ports-desc.
func parseLinkDown(out string, n int) (bool, error) {
	head := fmt.Sprintf(" %d(", n)
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, head) {
			in = true
			continue
		}
		if in {
			if !strings.HasPrefix(line, "     ") {
				break
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "state:"); ok {
				return strings.Contains(v, "LINK_DOWN"), nil
			}
		}
	}
	return false, fmt.Errorf("no state of port %d in dump-ports-desc:\n%s", n, tail(out))
}

func (o *ovs) ClearCycles(ctx context.Context) error {
	_, err := o.appctl(ctx, "dpif-netdev/pmd-stats-clear")
	return err
}

func (o *ovs) Cycles(ctx context.Context) (float64, error) {
	out, err := o.appctl(ctx, "dpif-netdev/pmd-stats-show")
	if err != nil {
		return 0, err
	}
	return parsePMDCycles(out)
}

// parsePMDCycles reads ovs-appctl dpif-netdev/pmd-stats-show: processing
// cycles per received packet over all threads.
func parsePMDCycles(out string) (float64, error) {
	var pkts, cyc float64
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		x, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch k {
		case "packets received":
			pkts += x
			found = true
		case "processing cycles":
			cyc += x
		}
	}
	if !found {
		return 0, fmt.Errorf("no statistics in pmd-stats-show:\n%s", tail(out))
	}
	if pkts == 0 {
		return 0, nil
	}
	return cyc / pkts, nil
}

func (o *ovs) Pause() {
	if o.vs != nil {
		o.vs.Signal(syscall.SIGSTOP)
	}
}

func (o *ovs) Resume() {
	if o.vs != nil {
		o.vs.Signal(syscall.SIGCONT)
	}
}

func (o *ovs) Down() error {
	var errs []error
	o.Resume()
	if o.vs != nil {
		// A PMD busy with a large flow table can take a while to quiesce.
		if err := o.vs.Stop(syscall.SIGTERM, 30*time.Second); err != nil && !signalExit(err) {
			errs = append(errs, fmt.Errorf("ovs-vswitchd: %w", err))
		}
	}
	if o.db != nil {
		if err := o.db.Stop(syscall.SIGTERM, 10*time.Second); err != nil && !signalExit(err) {
			errs = append(errs, fmt.Errorf("ovsdb-server: %w", err))
		}
	}
	os.RemoveAll("/var/run/dpdk/" + o.prefix)
	if _, err := os.Stat("/run/netns/" + o.ns); err == nil {
		if _, err := run(context.Background(), nil, "ip", "netns", "del", o.ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// signalExit tells whether a process ended on the signal it was sent.
func signalExit(err error) bool {
	var ee interface{ ExitCode() int }
	return errors.As(err, &ee) && ee.ExitCode() == -1
}
