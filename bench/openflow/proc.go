package ofbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	procs "github.com/mswitch/mswitch/bench/internal/proc"
)

// proc is a process the set started (bench/internal/proc).
type proc = procs.Proc

var tail = procs.Tail

// runTime returns the time the threads of process pid now alive have run,
// from /proc/PID/task/*/schedstat (nanoseconds; utime+stime's 10-ms ticks
// are too coarse for a window of a second or two).
func runTime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("read schedstat of pid %d: no threads", pid)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		ns, err := parseSchedstat(string(b))
		if err != nil {
			return 0, err
		}
		sum += ns
	}
	return sum, nil
}

// parseSchedstat reads the run time, the first field of a schedstat file.
func parseSchedstat(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, errors.New("parse schedstat: empty")
	}
	ns, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse schedstat: %w", err)
	}
	return time.Duration(ns), nil
}

// cpuMeter measures a process's CPU over a window.
type cpuMeter struct {
	pid int
	t0  time.Time
	r0  time.Duration
}

func startMeter(pid int) (*cpuMeter, error) {
	r, err := runTime(pid)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{pid: pid, t0: time.Now(), r0: r}, nil
}

// read returns the CPU used since the start and the wall time elapsed.
func (m *cpuMeter) read() (cpu, wall time.Duration, err error) {
	r, err := runTime(m.pid)
	if err != nil {
		return 0, 0, err
	}
	return max(r-m.r0, 0), time.Since(m.t0), nil
}

// pct is CPU over wall time, in percent of one core.
func pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// run runs a command to completion with env added to the environment and
// returns its output.
func run(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, tail(string(out)))
	}
	return string(out), nil
}

// median of vs; 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func pick[T any](xs []T, f func(T) float64) []float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return v
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

// startProc runs argv in the background, with env added to the
// environment.
func startProc(env []string, argv ...string) (*proc, error) { return procs.Start(env, argv...) }

// machineTimes returns the busy and total jiffies of all CPUs, from the
// first line of /proc/stat.
func machineTimes() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseStat(line)
}

// parseStat reads the "cpu" line of /proc/stat: user nice system idle
// iowait irq softirq steal.
func parseStat(line string) (busy, total uint64, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("parse /proc/stat: %q", line)
	}
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("parse /proc/stat: %w", err)
		}
		total += v[i]
	}
	return total - v[3] - v[4], total, nil
}

// loadMeter measures, over a window, the CPU the machine spent on anything
// but the given processes.
type loadMeter struct {
	pids          []int
	run0          []time.Duration
	busy0, total0 uint64
	t0            time.Time
}

func startLoad(pids ...int) *loadMeter {
	m := &loadMeter{pids: pids, t0: time.Now()}
	for _, p := range pids {
		r, _ := runTime(p)
		m.run0 = append(m.run0, r)
	}
	m.busy0, m.total0, _ = machineTimes()
	return m
}

// read returns the others' CPU since the start in percent of one core, or
// -1.
func (m *loadMeter) read() float64 {
	busy, total, err := machineTimes()
	if err != nil || total <= m.total0 {
		return -1
	}
	var ours time.Duration
	for i, p := range m.pids {
		if r, err := runTime(p); err == nil { // else it exited: count what it ran as others'
			ours += max(r-m.run0[i], 0)
		}
	}
	all := 100 * float64(runtime.NumCPU()) * float64(busy-m.busy0) / float64(total-m.total0)
	return max(all-pct(ours, time.Since(m.t0)), 0)
}
