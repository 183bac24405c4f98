package kernelbench

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
)

// ovsSchema is where Debian's openvswitch-common puts the database schema.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// ovs is Open vSwitch's userspace (netdev) datapath: an ovsdb-server and an
// ovs-vswitchd of our own, started inside the switch namespace with their
// database, sockets and logs in a directory of the set (never a
// system-wide OVS), a bridge of datapath_type netdev with v1 and v2 as
// ports of type system (AF_PACKET, in the main thread) or afxdp (one PMD
// thread, on the switch CPU). The netdev datapath makes a tap
// "ovs-netdev", which lands in the switch namespace too.
type ovs struct {
	afxdp  bool
	dir    string // the set's directory
	d      string // ours, under dir
	env    []string
	db, vs *proc
	br     string
	ports  string // the ports' types as OVS reports them
}

func (o *ovs) vsctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, o.env, append([]string{"ovs-vsctl", "--db=unix:" + filepath.Join(o.d, "db.sock"), "--timeout=30"}, args...)...)
}

func (o *ovs) appctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, o.env, append([]string{"ovs-appctl", "-t", filepath.Join(o.d, "vswitchd.ctl")}, args...)...)
}

func (o *ovs) up(ctx context.Context, t *topo) error {
	d, err := os.MkdirTemp(o.dir, "ovs")
	if err != nil {
		return err
	}
	o.d = d
	o.env = []string{"OVS_RUNDIR=" + d, "OVS_DBDIR=" + d, "OVS_LOGDIR=" + d, "OVS_SYSCONFDIR=" + d, "OVS_PKGDATADIR=" + filepath.Dir(ovsSchema)}
	if _, err := run(ctx, o.env, "ovsdb-tool", "create", filepath.Join(d, "conf.db"), ovsSchema); err != nil {
		return err
	}
	o.db, err = start(o.env, inNS(t.sw, switchCPU, "ovsdb-server", filepath.Join(d, "conf.db"),
		"--remote=punix:"+filepath.Join(d, "db.sock"), "--unixctl="+filepath.Join(d, "db.ctl"),
		"--log-file="+filepath.Join(d, "ovsdb-server.log"))...)
	if err != nil {
		return err
	}
	if err := waitFile(filepath.Join(d, "db.sock"), o.db, 10*time.Second); err != nil {
		return err
	}
	tso := "false"
	if !o.afxdp {
		// Without it, TCP through system ports fails when the hosts
		// keep their offloads (unfinished checksums).
		tso = "true"
	}
	if _, err := o.vsctl(ctx, "--no-wait", "init"); err != nil {
		return err
	}
	if _, err := o.vsctl(ctx, "--no-wait", "set", "Open_vSwitch", ".",
		"other_config:pmd-cpu-mask=0x"+strconv.FormatUint(1<<switchCPU, 16),
		"other_config:userspace-tso-enable="+tso); err != nil {
		return err
	}
	o.vs, err = start(o.env, inNS(t.sw, switchCPU, "ovs-vswitchd", "unix:"+filepath.Join(d, "db.sock"),
		"--unixctl="+filepath.Join(d, "vswitchd.ctl"), "--log-file="+filepath.Join(d, "ovs-vswitchd.log"))...)
	if err != nil {
		return err
	}
	o.br = t.prefix + "-br"
	if _, err := o.vsctl(ctx, "add-br", o.br, "--", "set", "bridge", o.br, "datapath_type=netdev"); err != nil {
		return fmt.Errorf("%w\n%s", err, o.log())
	}
	var types []string
	for _, v := range []string{t.v1, t.v2} {
		args := []string{"add-port", o.br, v}
		if o.afxdp {
			args = append(args, "--", "set", "interface", v, "type=afxdp", "options:xdp-mode=best-effort", "options:n_rxq=1")
		}
		if _, err := o.vsctl(ctx, args...); err != nil {
			return fmt.Errorf("%w\n%s", err, o.log())
		}
		ofport, _ := o.vsctl(ctx, "get", "interface", v, "ofport")
		if strings.TrimSpace(ofport) == "-1" {
			e, _ := o.vsctl(ctx, "get", "interface", v, "error")
			return fmt.Errorf("ovs port %s: %s\n%s", v, strings.TrimSpace(e), o.log())
		}
		typ, _ := o.vsctl(ctx, "get", "interface", v, "type")
		typ = strings.Trim(strings.TrimSpace(typ), `"`)
		if typ == "" {
			typ = "system"
		}
		types = append(types, typ)
	}
	o.ports = strings.Join(types, ", ")
	return nil
}

// log is the end of ovs-vswitchd's log, for errors.
func (o *ovs) log() string {
	b, _ := os.ReadFile(filepath.Join(o.d, "ovs-vswitchd.log"))
	return tail(string(b))
}

func (o *ovs) down(ctx context.Context) error {
	var errs []error
	if o.vs != nil {
		if err := o.vs.Stop(syscall.SIGTERM, 10*time.Second); err != nil && !isSignalExit(err) {
			errs = append(errs, fmt.Errorf("ovs-vswitchd: %w", err))
		}
	}
	if o.db != nil {
		if err := o.db.Stop(syscall.SIGTERM, 10*time.Second); err != nil && !isSignalExit(err) {
			errs = append(errs, fmt.Errorf("ovsdb-server: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (o *ovs) pid() int {
	if o.vs == nil {
		return 0
	}
	return o.vs.PID()
}

func (o *ovs) offloads() []bool {
	if o.afxdp {
		// AF_XDP carries no offload metadata: 64-KB GSO packets from
		// the hosts cannot pass.
		return []bool{false}
	}
	return []bool{true}
}

func (o *ovs) note() string {
	if o.afxdp {
		return "ports " + o.ports + " (xdp-mode best-effort), PMD on CPU 1"
	}
	return "ports " + o.ports + ", userspace-tso-enable=true"
}

func (o *ovs) clearCycles(ctx context.Context) error {
	_, err := o.appctl(ctx, "dpif-netdev/pmd-stats-clear")
	return err
}

func (o *ovs) cycles(ctx context.Context) (perPacket, busyPct float64, err error) {
	out, err := o.appctl(ctx, "dpif-netdev/pmd-stats-show")
	if err != nil {
		return 0, 0, err
	}
	return parsePMDStats(out)
}

// parsePMDStats reads the output of ovs-appctl dpif-netdev/pmd-stats-show:
// the processing cycles per received packet over all threads (PMD and main),
// and the busy share of the threads that count idle cycles.
func parsePMDStats(out string) (perPacket, busyPct float64, err error) {
	var pkts, proc, idle float64
	sc := bufio.NewScanner(strings.NewReader(out))
	num := func(s string) float64 {
		f := strings.Fields(s)
		if len(f) == 0 {
			return 0
		}
		v, _ := strconv.ParseFloat(f[0], 64)
		return v
	}
	found := false
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch k {
		case "packets received":
			pkts += num(v)
			found = true
		case "processing cycles":
			proc += num(v)
		case "idle cycles":
			idle += num(v)
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("no statistics in pmd-stats-show:\n%s", tail(out))
	}
	if pkts > 0 {
		perPacket = proc / pkts
	}
	if proc+idle > 0 {
		busyPct = 100 * proc / (proc + idle)
	}
	return perPacket, busyPct, nil
}

// waitFile waits for path to appear while p runs.
func waitFile(path string, p *proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s after %v\n%s", p.Name, path, d, tail(p.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isSignalExit tells whether a process ended on the signal it was sent.
func isSignalExit(err error) bool {
	var ee interface{ ExitCode() int }
	return errors.As(err, &ee) && ee.ExitCode() == -1
}
