package stackbench

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/bench/internal/proc"
	"github.com/mswitch/mswitch/control"
)

// The servers.
const (
	ServerUser   = "user-level" // mswitch-stack on the memif port
	ServerKernel = "kernel"     // mswitch-stack -kernel, through the TAP port
)

// A Workload is one wrk run's request.
type Workload struct {
	Name string // "short", "16k", "64k"
	Size int    // response body bytes (GET /bytes/Size)
}

// Workloads are the set's requests.
var Workloads = []Workload{{"short", 64}, {"16k", 16384}, {"64k", 65536}}

// Options configures Run.
type Options struct {
	Duration time.Duration // of each wrk run (-d)
	Conns    int           // wrk -c
	Threads  int           // wrk -t
	Runs     int           // rounds; medians over them
	// NIC is the type of the switch port on the client's veth: afxdp or
	// afpacket.
	NIC    string
	Prefix string // of every device and namespace ("mxs")
	Logf   func(format string, args ...any)
}

// Full is the published configuration: 10-second runs, 3 rounds.
func Full() Options {
	return Options{Duration: 10 * time.Second, Conns: 32, Threads: 1, Runs: 3, NIC: control.TypeAFPacket, Prefix: "mxs"}
}

// Quick is for trying the set: 2-second runs, one round.
func Quick() Options {
	o := Full()
	o.Duration, o.Runs = 2*time.Second, 1
	return o
}

// Sample is one wrk run against one server.
type Sample struct {
	Server   string
	Workload Workload
	Round    int
	Wrk      WrkResult
	// CPU time used during the run, in seconds.
	ServerCPU, SwitchCPU float64
}

// Gbps is the goodput of response bodies.
func (s Sample) Gbps() float64 { return s.Wrk.RPS * float64(s.Workload.Size) * 8 / 1e9 }

// Row is the median of a server's samples of a workload.
type Row struct {
	Server   string
	Workload Workload
	RPS      float64
	Gbps     float64
	P50, P99 time.Duration
	// Per request: CPU µs of the server process and of mswitchd.
	ServerUS, SwitchUS float64
	Errors             uint64 // socket errors and non-2xx, summed over the rounds
	RPSAll             []float64
}

// Report is a run's result.
type Report struct {
	Options  Options
	Start    time.Time
	Took     time.Duration
	Machine  Machine
	Versions map[string]string
	Samples  []Sample
	Rows     []Row
}

// Machine describes where the set ran.
type Machine struct {
	CPU    string
	Cores  int
	Kernel string
}

// Find returns the row of server and workload, or nil.
func (r *Report) Find(server, workload string) *Row {
	for i := range r.Rows {
		if r.Rows[i].Server == server && r.Rows[i].Workload.Name == workload {
			return &r.Rows[i]
		}
	}
	return nil
}

// Run builds the topology, runs every workload against both servers
// Options.Runs times, and removes everything it made.
func Run(ctx context.Context, o Options) (*Report, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("stack set: needs root (network namespaces, TAP, AF_XDP)")
	}
	for _, tool := range []string{"ip", "taskset", "wrk", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("stack set: needs %s (Debian: iproute2, util-linux, wrk, ethtool): %w", tool, err)
		}
	}
	if runtime.NumCPU() < 2 {
		return nil, errors.New("stack set: needs two CPUs")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := &Report{Options: o, Start: time.Now(), Machine: machine(), Versions: map[string]string{}}
	b := &bed{o: o, names: names(o.Prefix)}
	defer b.down()
	if err := b.up(ctx); err != nil {
		return nil, err
	}
	rep.Versions["wrk"] = version("wrk", "-v")
	rep.Versions["mswitch"] = gitRev()
	for round := 1; round <= o.Runs; round++ {
		for _, w := range Workloads {
			for _, srv := range []string{ServerUser, ServerKernel} {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				s, err := b.wrk(ctx, srv, w, round)
				if err != nil {
					return nil, err
				}
				o.Logf("round %d %-6s %-10s %9.0f req/s %6.2f Gb/s p50 %v p99 %v, CPU/req: server %.1f µs, switch %.1f µs, errors %d",
					round, w.Name, srv, s.Wrk.RPS, s.Gbps(), s.Wrk.P50, s.Wrk.P99,
					perReq(s.ServerCPU, s.Wrk.Requests), perReq(s.SwitchCPU, s.Wrk.Requests), s.Wrk.SocketErrs+s.Wrk.Non2xx)
				rep.Samples = append(rep.Samples, s)
			}
		}
	}
	rep.Rows = medians(rep.Samples)
	rep.Took = time.Since(rep.Start)
	return rep, nil
}

func perReq(cpu float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return cpu / float64(n) * 1e6
}

// medians reduces the samples to a row per server and workload.
func medians(ss []Sample) []Row {
	var rows []Row
	for _, w := range Workloads {
		for _, srv := range []string{ServerUser, ServerKernel} {
			var rps, gbps, p50, p99, scpu, wcpu []float64
			var errs uint64
			for _, s := range ss {
				if s.Server != srv || s.Workload != w {
					continue
				}
				rps = append(rps, s.Wrk.RPS)
				gbps = append(gbps, s.Gbps())
				p50 = append(p50, float64(s.Wrk.P50))
				p99 = append(p99, float64(s.Wrk.P99))
				scpu = append(scpu, perReq(s.ServerCPU, s.Wrk.Requests))
				wcpu = append(wcpu, perReq(s.SwitchCPU, s.Wrk.Requests))
				errs += s.Wrk.SocketErrs + s.Wrk.Non2xx
			}
			if len(rps) == 0 {
				continue
			}
			rows = append(rows, Row{Server: srv, Workload: w, RPS: median(rps), Gbps: median(gbps),
				P50: time.Duration(median(p50)), P99: time.Duration(median(p99)),
				ServerUS: median(scpu), SwitchUS: median(wcpu), Errors: errs, RPSAll: rps})
		}
	}
	return rows
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// WriteCSV writes every sample.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"server", "workload", "size", "round", "requests", "rps", "gbps", "p50_us", "p99_us",
		"socket_errors", "non2xx", "server_cpu_s", "switch_cpu_s"})
	for _, s := range rep.Samples {
		cw.Write([]string{s.Server, s.Workload.Name, strconv.Itoa(s.Workload.Size), strconv.Itoa(s.Round),
			strconv.FormatUint(s.Wrk.Requests, 10), fmt.Sprintf("%.1f", s.Wrk.RPS), fmt.Sprintf("%.3f", s.Gbps()),
			fmt.Sprintf("%.1f", float64(s.Wrk.P50)/1e3), fmt.Sprintf("%.1f", float64(s.Wrk.P99)/1e3),
			strconv.FormatUint(s.Wrk.SocketErrs, 10), strconv.FormatUint(s.Wrk.Non2xx, 10),
			fmt.Sprintf("%.2f", s.ServerCPU), fmt.Sprintf("%.2f", s.SwitchCPU)})
	}
	cw.Flush()
	return cw.Error()
}

// The CPUs: wrk on the client's, the switch and the servers on the other.
const (
	clientCPU = "0"
	serverCPU = "1"
)

// netNames are the set's devices and namespace.
type netNames struct {
	ns, nsDev, nic, tap string
	hostIP, clientIP    string
}

func names(prefix string) netNames {
	return netNames{ns: prefix + "-h1", nsDev: prefix + "-h1e", nic: prefix + "-nic", tap: prefix + "-tap",
		hostIP: "10.213.0.1", clientIP: "10.213.0.2"}
}

// bed is the running topology.
type bed struct {
	o     Options
	names netNames
	dir   string
	msd   *proc.Proc // mswitchd
	user  *proc.Proc // mswitch-stack
	kern  *proc.Proc // mswitch-stack -kernel
}

func (b *bed) up(ctx context.Context) error {
	n := b.names
	sweep(b.o.Prefix)
	var err error
	if b.dir, err = os.MkdirTemp("", "mswitch-stackbench"); err != nil {
		return err
	}
	bin := filepath.Join(b.dir, "bin") + "/"
	b.o.Logf("building mswitchd and mswitch-stack")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin,
		"github.com/mswitch/mswitch/cmd/mswitchd", "github.com/mswitch/mswitch/cmd/mswitch-stack").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	for _, c := range [][]string{
		{"ip", "netns", "add", n.ns},
		{"ip", "link", "add", n.nic, "type", "veth", "peer", "name", n.nsDev, "netns", n.ns},
		{"ip", "-n", n.ns, "addr", "add", n.clientIP + "/24", "dev", n.nsDev},
		{"ip", "-n", n.ns, "link", "set", n.nsDev, "up"},
		{"ip", "-n", n.ns, "link", "set", "lo", "up"},
		{"ip", "link", "set", n.nic, "up"},
	} {
		if err := sh(ctx, c...); err != nil {
			return err
		}
	}
	os.WriteFile("/proc/sys/net/ipv6/conf/"+n.nic+"/disable_ipv6", []byte("1"), 0)

	d := filepath.Join(b.dir, "msd")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	if b.msd, err = proc.Start(nil, "taskset", "-c", serverCPU, bin+"mswitchd", "-dir", d, "-state", "none", "-log-level", "warn"); err != nil {
		return err
	}
	c := control.NewClient(filepath.Join(d, "mswitchd.sock"))
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := c.Version(ctx); err == nil {
			break
		}
		if b.msd.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("mswitchd did not come up\n%s", proc.Tail(b.msd.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.o.Logf("mswitchd up (pid %d); switch sw0, module multistack, NIC port %s", b.msd.PID(), b.o.NIC)
	if _, err := c.AddSwitch(ctx, control.SwitchSpec{Name: "sw0", Module: "multistack"}); err != nil {
		return err
	}
	ports := []control.PortSpec{
		{Name: "nic", Type: b.o.NIC, Kernel: &control.KernelSpec{Interface: n.nic, Queues: 1}},
		{Name: "host", Type: control.TypeTap, Tap: &control.TapSpec{Name: n.tap}},
		{Name: "st1", Type: control.TypeMemif, Memif: &control.MemifSpec{ID: 1}},
	}
	for _, p := range ports {
		info, err := c.AddPort(ctx, "sw0", p)
		if err != nil {
			return fmt.Errorf("add port %s: %w", p.Name, err)
		}
		if info.State == control.StateError {
			return fmt.Errorf("port %s: %s", p.Name, info.Error)
		}
		b.o.Logf("port %s: %s, backend %s", p.Name, p.Type, info.Backend)
	}
	if err := c.SetMultistack(ctx, "sw0", control.MultistackSpec{NIC: "nic", Host: "host"}); err != nil {
		return err
	}
	if err := sh(ctx, "ip", "addr", "add", n.hostIP+"/24", "dev", n.tap); err != nil {
		return err
	}
	if err := sh(ctx, "ip", "link", "set", n.tap, "up"); err != nil {
		return err
	}

	if b.kern, err = proc.Start(nil, "taskset", "-c", serverCPU, bin+"mswitch-stack", "-kernel", "-listen", n.hostIP+":9090"); err != nil {
		return err
	}
	if b.user, err = proc.Start(nil, "taskset", "-c", serverCPU, bin+"mswitch-stack",
		"-socket", filepath.Join(d, "memif.sock"), "-id", "1", "-ip", n.hostIP+"/24", "-share-mac", n.tap, "-listen", ":8080",
		"-control", filepath.Join(d, "mswitchd.sock"), "-switch", "sw0", "-port", "st1"); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		rs, err := c.Reservations(ctx, "sw0")
		if err == nil && len(rs) > 0 {
			break
		}
		if b.user.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("mswitch-stack did not reserve its port\n%s", proc.Tail(b.user.Out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Both answer before the measurements start.
	for _, port := range []string{"8080", "9090"} {
		if err := sh(ctx, "ip", "netns", "exec", n.ns, "wrk", "-t1", "-c1", "-d1s", "http://"+n.hostIP+":"+port+"/"); err != nil {
			return fmt.Errorf("warm-up on port %s: %w\nmswitch-stack:\n%s", port, err, proc.Tail(b.user.Out.String()))
		}
	}
	return nil
}

// wrk runs one measurement.
func (b *bed) wrk(ctx context.Context, server string, w Workload, round int) (Sample, error) {
	n := b.names
	port, p := "8080", b.user
	if server == ServerKernel {
		port, p = "9090", b.kern
	}
	if p.Exited() {
		return Sample{}, fmt.Errorf("%s server exited: %v\n%s", server, p.Err(), proc.Tail(p.Out.String()))
	}
	url := fmt.Sprintf("http://%s:%s/bytes/%d", n.hostIP, port, w.Size)
	args := []string{"ip", "netns", "exec", n.ns, "taskset", "-c", clientCPU, "wrk",
		"-t" + strconv.Itoa(b.o.Threads), "-c" + strconv.Itoa(b.o.Conns), "-d" + durArg(b.o.Duration),
		"--timeout", "2s", "--latency", url}
	rctx, cancel := context.WithTimeout(ctx, b.o.Duration+30*time.Second)
	defer cancel()
	s0, w0 := cpuSeconds(p.PID()), cpuSeconds(b.msd.PID())
	out, err := exec.CommandContext(rctx, args[0], args[1:]...).CombinedOutput()
	s1, w1 := cpuSeconds(p.PID()), cpuSeconds(b.msd.PID())
	if err != nil {
		return Sample{}, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return Sample{}, err
	}
	return Sample{Server: server, Workload: w, Round: round, Wrk: r, ServerCPU: s1 - s0, SwitchCPU: w1 - w0}, nil
}

func durArg(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

// down ends the processes and removes the devices and the directory.
func (b *bed) down() {
	for _, p := range []*proc.Proc{b.user, b.kern} {
		if p != nil {
			p.Stop(syscall.SIGTERM, 5*time.Second)
		}
	}
	if b.msd != nil {
		b.msd.Stop(syscall.SIGTERM, 10*time.Second)
	}
	sweep(b.o.Prefix)
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// sweep removes every link and namespace named prefix-*.
func sweep(prefix string) {
	prefix += "-"
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
			if strings.HasPrefix(name, prefix) {
				exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
	out, _ = exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
}

func sh(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// cpuSeconds is a process's utime+stime, from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func machine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func version(args ...string) string {
	out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

func gitRev() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "–"
	}
	return strings.TrimSpace(string(out))
}
