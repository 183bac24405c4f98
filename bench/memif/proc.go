package memifbench

import (
	"bytes"
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

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// proc is a process the runner started (bench/internal/proc).
type proc = procs.Proc

var tail = procs.Tail

// start runs path with args in the background.
func start(path string, args ...string) (*proc, error) { return startEnv(path, nil, args...) }

// startEnv is start with env added to the environment.
func startEnv(path string, env []string, args ...string) (*proc, error) {
	return procs.Start(env, append([]string{path}, args...)...)
}

// cpuTime returns utime+stime of process pid (all its threads, including
// those that exited) from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc/PID/stat times")
	}
	return time.Duration(ut+st) * clockTick, nil
}

// runTime returns the time the threads of process pid now alive have run,
// in nanoseconds, from /proc/PID/task/*/schedstat: finer than utime+stime's
// 10-ms ticks, for the idle measurement.
func runTime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d", pid)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, errors.New("malformed schedstat")
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// machineTimes returns the busy and total jiffies of all CPUs, from the
// first line of /proc/stat.
func machineTimes() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("malformed /proc/stat")
	}
	var v [8]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	for _, x := range v {
		total += x
	}
	return total - v[3] - v[4], total, nil
}

// cpuMeter measures a process's CPU over a window, two ways: utime+stime
// from /proc/PID/stat (10-ms ticks, every thread the process ever had) and
// the run time of its threads from schedstat (nanoseconds, the threads
// alive at both ends; Go's threads rarely exit).
type cpuMeter struct {
	pid    int
	t0     time.Time
	c0, r0 time.Duration
}

func startMeter(pid int) (*cpuMeter, error) {
	c, err := cpuTime(pid)
	if err != nil {
		return nil, err
	}
	r, err := runTime(pid)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{pid: pid, t0: time.Now(), c0: c, r0: r}, nil
}

// read returns the CPU used since start, from schedstat, and the wall
// time elapsed.
func (m *cpuMeter) read() (cpu, wall time.Duration, err error) {
	r, err := runTime(m.pid)
	if err != nil {
		return 0, 0, err
	}
	return max(r-m.r0, 0), time.Since(m.t0), nil
}

// readStat returns the CPU used since start, from utime+stime, and the wall
// time elapsed.
func (m *cpuMeter) readStat() (cpu, wall time.Duration, err error) {
	c, err := cpuTime(m.pid)
	if err != nil {
		return 0, 0, err
	}
	return c - m.c0, time.Since(m.t0), nil
}

// pct is CPU over wall time, in percent of one core.
func pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// procCPU returns the process's utime+stime so far: from /proc while it runs,
// from its rusage once it has exited.
func procCPU(p *proc) (time.Duration, error) {
	if p.Exited() {
		ru, ok := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			return 0, errors.New("no rusage")
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	c, err := cpuTime(p.PID())
	if err != nil && p.Exited() { // it exited meanwhile
		return procCPU(p)
	}
	return c, err
}

// loadMeter measures, over a window, the CPU the machine spent on anything
// but this process and the given ones: busy time from /proc/stat minus
// their utime+stime.
type loadMeter struct {
	procs         []*proc
	cores         int
	cpu0          []time.Duration
	self0         time.Duration
	busy0, total0 uint64
	t0            time.Time
}

func startLoad(cores int, procs ...*proc) *loadMeter {
	m := &loadMeter{procs: procs, cores: cores, t0: time.Now()}
	for _, p := range procs {
		c, _ := procCPU(p)
		m.cpu0 = append(m.cpu0, c)
	}
	m.self0, _ = cpuTime(os.Getpid())
	m.busy0, m.total0, _ = machineTimes()
	return m
}

// read returns the others' CPU since start in percent of one core, or -1.
func (m *loadMeter) read() float64 {
	busy, total, err := machineTimes()
	if err != nil || total <= m.total0 {
		return -1
	}
	ours, err := cpuTime(os.Getpid())
	if err != nil {
		return -1
	}
	ours -= m.self0
	for i, p := range m.procs {
		c, err := procCPU(p)
		if err != nil {
			return -1
		}
		ours += c - m.cpu0[i]
	}
	all := 100 * float64(m.cores) * float64(busy-m.busy0) / float64(total-m.total0)
	return max(all-pct(ours, time.Since(m.t0)), 0)
}
