package ofbench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"time"

	procs "github.com/mswitch/mswitch/bench/internal/proc"
	"github.com/mswitch/mswitch/control"
)

// A sut is a switch under test: two memif server ports, OpenFlow port 1
// (the sender's) and 2 (the receiver's), programmed with ovs-ofctl.
type sut interface {
	Name() string
	// Target is the switch's OpenFlow connection for ovs-ofctl.
	Target() string
	// Port returns the memif socket and id of OpenFlow port 1 or 2.
	Port(n int) (sock string, id int)
	// Queues is the number of queue pairs the receiver asks for.
	Queues() int
	PID() int
	// SetCache sets the switch's caches; a switch without setting c (see
	// has) returns an error.
	SetCache(ctx context.Context, c Cache) error
	Flows(ctx context.Context) (int, error)
	// WaitLink waits until port n's memif link is up (or down).
	WaitLink(ctx context.Context, n int, up bool) error
	// ClearCycles and Cycles read the switch's own count of processing
	// cycles per packet over a window, when it keeps one (OVS's PMD
	// statistics); Cycles returns 0 otherwise.
	ClearCycles(ctx context.Context) error
	Cycles(ctx context.Context) (float64, error)
	// Pause stops the process (SIGSTOP) so that it leaves the switch CPU to
	// the other switch; Resume lets it run again.
	Pause()
	Resume()
	Down() error
}

// mswitch is mswitchd, confined to the switch CPU with GOMAXPROCS=1:
// switch of0 on the openflow module, secure, its OpenFlow channel on a
// loopback TCP port, memif ports p1 (id 1) and p2 (id 2) in poll mode on
// its default socket.
type mswitch struct {
	dir  string
	d    *proc
	c    *control.Client
	addr string
}

func startMswitch(ctx context.Context, bin, dir string) (*mswitch, error) {
	m := &mswitch{dir: dir}
	d, err := procs.Start([]string{"GOMAXPROCS=1"}, "taskset", "-c", fmt.Sprint(SwitchCPU),
		filepath.Join(bin, "mswitchd"), "-dir", dir, "-state", "none", "-log-level", "warn")
	if err != nil {
		return nil, err
	}
	m.d = d
	m.c = control.NewClient(filepath.Join(dir, "mswitchd.sock"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := m.c.Version(ctx); err == nil {
			break
		}
		if d.Exited() || time.Now().After(deadline) {
			d.Kill()
			return nil, fmt.Errorf("mswitchd did not come up\n%s", tail(d.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	port, err := freePort()
	if err != nil {
		m.Down()
		return nil, err
	}
	m.addr = fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := m.c.AddSwitch(ctx, control.SwitchSpec{Name: "of0", Module: "openflow",
		OpenFlow: &control.OpenFlowSpec{Targets: []string{fmt.Sprintf("ptcp:%d:127.0.0.1", port)}, FailMode: "secure"}}); err != nil {
		m.Down()
		return nil, fmt.Errorf("add switch of0: %w", err)
	}
	for _, id := range []int{1, 2} {
		if _, err := m.c.AddPort(ctx, "of0", control.PortSpec{Name: fmt.Sprintf("p%d", id), Type: control.TypeMemif,
			Memif: &control.MemifSpec{ID: uint32(id), Mode: "poll"}}); err != nil {
			m.Down()
			return nil, fmt.Errorf("add port p%d: %w", id, err)
		}
	}
	if err := waitOfctl(ctx, m.Target()); err != nil {
		m.Down()
		return nil, fmt.Errorf("mswitchd: %w\n%s", err, tail(d.Out.String()))
	}
	return m, nil
}

// freePort returns a loopback TCP port nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitOfctl waits until ovs-ofctl can talk to target.
func waitOfctl(ctx context.Context, target string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := run(ctx, nil, "ovs-ofctl", "-O", "OpenFlow13", "show", target)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ovs-ofctl show %s: %w", target, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mswitch) Name() string   { return SwitchMswitch }
func (m *mswitch) Target() string { return "tcp:" + m.addr }
func (m *mswitch) Port(n int) (string, int) {
	return filepath.Join(m.dir, "memif.sock"), n
}
func (m *mswitch) Queues() int { return rxQueues }
func (m *mswitch) PID() int    { return m.d.PID() }

func (m *mswitch) SetCache(ctx context.Context, c Cache) error {
	on, emc, mf := c != CacheNone, c != CacheOff, control.MegaflowsWildcard
	if c == CacheOff {
		mf = control.MegaflowsExact
	}
	if err := m.c.SetOpenFlow(ctx, "of0", control.OpenFlowSpec{Cache: &on, EMC: &emc, Megaflows: mf}); err != nil {
		return fmt.Errorf("set mswitch cache: %w", err)
	}
	return nil
}

func (m *mswitch) Flows(ctx context.Context) (int, error) {
	info, err := m.c.OpenFlow(ctx, "of0")
	if err != nil {
		return 0, err
	}
	return int(info.Flows), nil
}

func (m *mswitch) WaitLink(ctx context.Context, n int, up bool) error {
	deadline := time.Now().Add(10 * time.Second)
	name := fmt.Sprintf("p%d", n)
	for {
		p, err := m.c.Port(ctx, "of0", name)
		if err != nil {
			return err
		}
		if (p.Link != nil && p.Link.Connected) == up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mswitch port %s: link still %v after 10s", name, !up)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (m *mswitch) ClearCycles(context.Context) error       { return nil }
func (m *mswitch) Cycles(context.Context) (float64, error) { return 0, nil }
func (m *mswitch) Pause()                                  { m.d.Signal(syscall.SIGSTOP) }
func (m *mswitch) Resume()                                 { m.d.Signal(syscall.SIGCONT) }

func (m *mswitch) Down() error {
	m.Resume()
	start := time.Now()
	if err := m.d.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		return fmt.Errorf("mswitchd did not stop cleanly in %v: %w", time.Since(start).Round(time.Millisecond), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		return fmt.Errorf("mswitchd took %v to stop", d.Round(time.Millisecond))
	}
	return nil
}
