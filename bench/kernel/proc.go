package kernelbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	procs "github.com/mswitch/mswitch/bench/internal/proc"
	"golang.org/x/sys/unix"
)

// The processes the set starts must not inherit the descriptors the test
// process was given: under flock(1) the measurement lock is one, and a
// switch left running after a failed or killed test held it, and so stopped
// every later measurement, until someone killed it.
func init() { unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) }

// clockTick is the unit of the times in /proc/PID/stat and /proc/stat:
// USER_HZ, 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// proc is a long-running process the set started (bench/internal/proc).
type proc = procs.Proc

var (
	start = procs.Start
	tail  = procs.Tail
)

// cmdTimeout bounds every short command (ip, ethtool, nft, ovs-vsctl...).
const cmdTimeout = 30 * time.Second

// run runs a short command and returns its output; the error carries the
// output.
func run(ctx context.Context, env []string, argv ...string) (string, error) {
	return runIn(ctx, env, "", argv...)
}

// runStdin is run with stdin as the command's standard input.
func runStdin(ctx context.Context, stdin string, argv ...string) (string, error) {
	return runIn(ctx, nil, stdin, argv...)
}

func runIn(ctx context.Context, env []string, stdin string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(tail(string(out))))
	}
	return string(out), nil
}

// procStat holds the fields of /proc/PID/stat the set reads.
type procStat struct {
	ppid         int
	flags        uint64
	utime, stime uint64 // clock ticks
	cutime       uint64 // waited-for children's utime+stime, clock ticks
}

// pfKthread is PF_KTHREAD in /proc/PID/stat's flags.
const pfKthread = 0x00200000

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is 4, flags 9, utime 14, stime 15,
	// cutime 16, cstime 17.
	if len(f) < 15 {
		return procStat{}, errors.New("short /proc/PID/stat")
	}
	u := func(k int) uint64 { v, _ := strconv.ParseUint(f[k], 10, 64); return v }
	ppid, _ := strconv.Atoi(f[1])
	return procStat{ppid: ppid, flags: u(6), utime: u(11), stime: u(12), cutime: u(13) + u(14)}, nil
}

// cpuTime returns utime+stime of process pid (all its threads).
func cpuTime(pid int) (time.Duration, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return time.Duration(s.utime+s.stime) * clockTick, nil
}

// cpuStat is one line of /proc/stat, in clock ticks.
type cpuStat struct {
	busy, softirq, irq, total uint64
}

// machineStat returns the "cpu" line (all CPUs) and the per-CPU lines of
// /proc/stat.
func machineStat() (all cpuStat, per []cpuStat, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return all, nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		var v [8]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		}
		// user nice system idle iowait irq softirq steal
		var s cpuStat
		for _, x := range v {
			s.total += x
		}
		s.busy, s.softirq, s.irq = s.total-v[3]-v[4], v[6], v[5]
		if f[0] == "cpu" {
			all = s
		} else {
			per = append(per, s)
		}
	}
	if all.total == 0 {
		return all, nil, errors.New("malformed /proc/stat")
	}
	return all, per, nil
}

// snapshot is what the set reads to tell the CPU that other work used on
// the machine from its own: every process's utime+stime, by kind, and the
// machine's /proc/stat.
type snapshot struct {
	procs map[int]procTicks
	m     cpuStat
	t     time.Time
}

type procTicks struct {
	kind  byte   // kindOthers, kindOurs, kindKernel
	ticks uint64 // utime+stime; for this process, its reaped children's too
}

const (
	kindOthers = iota
	kindOurs   // this process and its descendants
	kindKernel // kernel threads (ksoftirqd runs our traffic too)
)

func takeSnapshot() snapshot {
	s := snapshot{t: time.Now()}
	s.m, _, _ = machineStat()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return s
	}
	stats := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			stats[pid] = st
		}
	}
	self := os.Getpid()
	ours := func(pid int) bool {
		for range 64 {
			if pid == self {
				return true
			}
			st, ok := stats[pid]
			if !ok || pid <= 1 {
				return false
			}
			pid = st.ppid
		}
		return false
	}
	s.procs = make(map[int]procTicks, len(stats))
	for pid, st := range stats {
		pt := procTicks{ticks: st.utime + st.stime}
		switch {
		case st.flags&pfKthread != 0 || pid == 2 || st.ppid == 2:
			pt.kind = kindKernel
		case ours(pid):
			pt.kind = kindOurs
			if pid == self {
				// The short commands it ran and waited for.
				pt.ticks += st.cutime
			}
		}
		s.procs[pid] = pt
	}
	return s
}

// othersSince returns the CPU other work used from s0 to s, in percent of
// one core, or -1 if unknown. Two estimates, the larger kept: the
// utime+stime of the other processes that lived through the window (and
// all of it for those that started in it), which misses the ones that
// both started and ended in it; and the machine's busy time less
// interrupts, softirqs, kernel threads and the set's own processes, which
// counts those too.
func (s snapshot) othersSince(s0 snapshot) float64 {
	wall := s.t.Sub(s0.t)
	if s.procs == nil || s0.procs == nil || wall <= 0 {
		return -1
	}
	var direct, ours, kernel uint64
	for pid, pt := range s.procs {
		p0, ok := s0.procs[pid]
		var d uint64
		switch {
		case !ok:
			d = pt.ticks
		case pt.ticks >= p0.ticks && p0.kind == pt.kind:
			d = pt.ticks - p0.ticks
		}
		switch pt.kind {
		case kindOthers:
			direct += d
		case kindOurs:
			ours += d
		case kindKernel:
			kernel += d
		}
	}
	pct := func(ticks float64) float64 { return 100 * ticks * clockTick.Seconds() / wall.Seconds() }
	a := pct(float64(direct))
	b := -1.0
	if s.m.total > s0.m.total {
		// The ticks of /proc/stat and of the processes are the same unit.
		busy := float64(s.m.busy-s0.m.busy) - float64(s.m.softirq-s0.m.softirq) - float64(s.m.irq-s0.m.irq)
		b = pct(max(busy-float64(ours)-float64(kernel), 0))
	}
	return max(a, b)
}
