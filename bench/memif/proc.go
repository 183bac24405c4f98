package memifbench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// syncBuffer is a bytes.Buffer safe for a process's stdout and stderr.
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

// proc is a process the runner started. It is ended by its PID, never by
// name, and never outlives the runner (Pdeathsig).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, after done
}

// start runs path with args in the background.
func start(path string, args ...string) (*proc, error) { return startEnv(path, nil, args...) }

// startEnv is start with env added to the environment.
func startEnv(path string, env []string, args ...string) (*proc, error) {
	p := &proc{name: filepath.Base(path), cmd: exec.Command(path, args...), done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits at most d for the process to exit by itself, then kills it.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s (pid %d) still running after %v: killed\n%s", p.name, p.pid(), d, tail(p.out.String()))
	}
}

// stop sends sig and waits at most d before SIGKILL.
func (p *proc) stop(sig syscall.Signal, d time.Duration) error {
	if p.exited() {
		return p.err
	}
	p.cmd.Process.Signal(sig)
	return p.wait(d)
}

// kill ends the process now, if it still runs.
func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last lines of a process's output, for error messages.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// jsonOut decodes the first JSON object in the process's output.
func (p *proc) jsonOut(v any) error {
	out := p.out.String()
	i := strings.IndexByte(out, '{')
	if i < 0 {
		return fmt.Errorf("no JSON summary from %s:\n%s", p.name, tail(out))
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(v); err != nil {
		return fmt.Errorf("summary of %s: %w\n%s", p.name, err, tail(out))
	}
	return nil
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

// cpu returns the process's utime+stime so far: from /proc while it runs,
// from its rusage once it has exited.
func (p *proc) cpu() (time.Duration, error) {
	if p.exited() {
		ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			return 0, errors.New("no rusage")
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	c, err := cpuTime(p.pid())
	if err != nil && p.exited() { // it exited meanwhile
		return p.cpu()
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
		c, _ := p.cpu()
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
		c, err := p.cpu()
		if err != nil {
			return -1
		}
		ours += c - m.cpu0[i]
	}
	all := 100 * float64(m.cores) * float64(busy-m.busy0) / float64(total-m.total0)
	return max(all-pct(ours, time.Since(m.t0)), 0)
}
