package kernelbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/control"
)

// mswitch is mswitchd started inside the switch namespace, pinned to the
// switch CPU (so its GOMAXPROCS is 1), with a learning switch sw0 and v1,
// v2 as kernel ports of type afxdp or afpacket, in the given mode
// (KernelSpec.Mode: interrupt, adaptive or poll; "" for mswitchd's default).
// In poll mode its poll thread never sleeps (mswitchd -poll-sleep=false).
type mswitch struct {
	afxdp    bool
	mode     string
	windowUS int    // KernelSpec.PollWindowUS (adaptive mode); 0: the default
	rps      string // the afpacket ports' KernelSpec.RPSCPUs; "": rpsCPU
	bin      string // mswitchd
	dir      string // the set's directory
	d        *proc
	sock     string   // its control socket
	backends []string // PortInfo.Backend of each port
}

// drops implements dropper: the switch's drops, every port and reason.
func (m *mswitch) drops(ctx context.Context) (map[string]uint64, error) {
	c := control.NewClient(m.sock)
	defer c.Close()
	st, err := c.SwitchStats(ctx, "sw0")
	if err != nil {
		return nil, err
	}
	d := make(map[string]uint64)
	for _, p := range st.Ports {
		for why, n := range p.Drops {
			d[why] += n
		}
	}
	return d, nil
}

// mswitchd returns the mswitchd binary, built once per run unless
// Options.Bin has it, or why there is none. It is built from the work tree,
// or from Options.Commit (exported with git archive, so that other work
// under way in the tree does not go in).
func (r *runner) mswitchd() (string, string) {
	if r.msdBin != "" || r.msdWhy != "" {
		return r.msdBin, r.msdWhy
	}
	if r.o.Bin != "" {
		r.msdBin = filepath.Join(r.o.Bin, "mswitchd")
		if _, err := os.Stat(r.msdBin); err != nil {
			r.msdBin, r.msdWhy = "", err.Error()
		}
		return r.msdBin, r.msdWhy
	}
	out := filepath.Join(r.dir, "bin") + "/"
	cmd := exec.Command("go", "build", "-o", out, "github.com/mswitch/mswitch/cmd/mswitchd")
	if r.o.Commit != "" {
		src := filepath.Join(r.dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			r.msdWhy = err.Error()
			return "", r.msdWhy
		}
		export := exec.Command("sh", "-c", `git archive --format=tar "$1" | tar -x -C "$2"`, "sh", r.o.Commit, src)
		if b, err := export.CombinedOutput(); err != nil {
			r.msdWhy = fmt.Sprintf("export %s: %v: %s", r.o.Commit, err, strings.TrimSpace(string(b)))
			return "", r.msdWhy
		}
		cmd.Dir = src
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		// The compiler's messages on one line, for the report.
		msg := strings.Join(strings.Fields(strings.ReplaceAll(tail(string(b)), "\n", " | ")), " ")
		r.msdWhy = fmt.Sprintf("build mswitchd: %v: %s", err, msg)
		return "", r.msdWhy
	}
	r.msdBin = filepath.Join(out, "mswitchd")
	return r.msdBin, ""
}

func (m *mswitch) typ() string {
	if m.afxdp {
		return control.TypeAFXDP
	}
	return control.TypeAFPacket
}

func (m *mswitch) up(ctx context.Context, t *topo) error {
	d, err := os.MkdirTemp(m.dir, "msd")
	if err != nil {
		return err
	}
	args := []string{"-dir", d, "-state", "none", "-log-level", "warn"}
	if m.mode == "poll" {
		// As OVS's PMD thread: it never sleeps.
		args = append(args, "-poll-sleep=false")
	}
	m.d, err = start(nil, inNS(t.sw, switchCPU, append([]string{m.bin}, args...)...)...)
	if err != nil {
		return err
	}
	m.sock = filepath.Join(d, "mswitchd.sock")
	c := control.NewClient(m.sock)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := c.Version(ctx); err == nil {
			break
		}
		if m.d.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("mswitchd did not come up\n%s", tail(m.d.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.AddSwitch(ctx, control.SwitchSpec{Name: "sw0"}); err != nil {
		return err
	}
	for _, v := range []string{t.v1, t.v2} {
		k := &control.KernelSpec{Interface: v, Queues: 1, Mode: m.mode, PollWindowUS: m.windowUS}
		if !m.afxdp {
			// One backlog per flow: the TCP sender transmits from both
			// CPUs (see the notes), and AF_PACKET gets what veth queued
			// on each, interleaved.
			k.RPSCPUs = m.rpsCPUs()
		}
		p, err := c.AddPort(ctx, "sw0", control.PortSpec{Name: v, Type: m.typ(), Kernel: k})
		if err != nil {
			return fmt.Errorf("mswitchd: add %s port %s: %w\n%s", m.typ(), v, err, tail(m.d.Out.String()))
		}
		if p.State == control.StateError {
			return fmt.Errorf("mswitchd: %s port %s: %s", m.typ(), v, p.Error)
		}
		m.backends = append(m.backends, p.Backend)
	}
	return nil
}

func (m *mswitch) down(context.Context) error {
	if m.d == nil {
		return nil
	}
	if err := m.d.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		return fmt.Errorf("mswitchd did not stop cleanly: %w\n%s", err, tail(m.d.Out.String()))
	}
	return nil
}

func (m *mswitch) pid() int {
	if m.d == nil {
		return 0
	}
	return m.d.PID()
}

// offloads: on first, the way the hosts come; off when TCP does not pass
// with them.
func (m *mswitch) offloads() []bool { return []bool{true, false} }

// rpsCPU is where the afpacket ports' interfaces steer what they receive
// (KernelSpec.RPSCPUs): the hosts' CPU, where veth queues most of it anyway.
const rpsCPU = "0"

// rpsCPUs is the afpacket ports' RPS setting: m.rps, rpsCPU by default,
// none for "-".
func (m *mswitch) rpsCPUs() string {
	if m.rps == "-" {
		return ""
	}
	if m.rps != "" {
		return m.rps
	}
	return rpsCPU
}

func (m *mswitch) note() string {
	mode := m.mode
	if mode == "" {
		mode = "default"
	}
	n := "learning switch, " + mode + " mode, backends " + strings.Join(m.backends, ", ")
	if !m.afxdp {
		n += ", RPS to CPU " + m.rpsCPUs() + " (--rps-cpus)"
	}
	if m.afxdp {
		for _, b := range m.backends {
			if b != "" && b != control.TypeAFXDP {
				n += " (afxdp fell back)"
				break
			}
		}
	}
	return n
}
