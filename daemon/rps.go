package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RPS (receive packet steering) of a kernel port's interface: with
// KernelSpec.RPSCPUs set, the kernel queues every packet the interface
// receives on the backlog of one CPU of the list, chosen by its flow's
// hash, instead of the backlog of the CPU that sent it. A veth receives on
// the sender's CPU, so a TCP sender that transmits from two CPUs (its
// application's and the one where the ACKs arrive) would otherwise reach
// the switch's socket with the two CPUs' packets interleaved, and the
// receiver would take the reordering for loss.

// maxRPSCPU bounds the CPU numbers of an RPS list.
const maxRPSCPU = 4095

// ParseCPUList reads a CPU list such as "0", "0-3" or "0,2-3", the
// kernel's notation (cpuset, taskset -c), into CPU numbers in the order
// given, ranges expanded.
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, f := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(strings.TrimSpace(f), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a > maxRPSCPU {
			return nil, fmt.Errorf("%q is not a CPU number", lo)
		}
		b := a
		if rng {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > maxRPSCPU {
				return nil, fmt.Errorf("%q is not a CPU range", f)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// cpuMask renders cpus as the kernel's rps_cpus takes it: 32-bit groups of
// hex digits, the most significant first, separated by commas.
func cpuMask(cpus []int) string {
	top := 0
	for _, c := range cpus {
		top = max(top, c)
	}
	groups := make([]uint32, top/32+1)
	for _, c := range cpus {
		groups[c/32] |= 1 << (c % 32)
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[len(groups)-1-i] = fmt.Sprintf("%08x", g)
	}
	return strings.Join(parts, ",")
}

// rpsSaved is what an interface's receive queues steered to before setRPS.
type rpsSaved struct {
	files []string
	old   []string
}

// sysClassNet is where the interfaces' sysfs directories are (tests).
var sysClassNet = "/sys/class/net"

// setRPS steers every receive queue of interface ifname to the CPUs of
// mask and returns what to restore.
func setRPS(ifname, mask string) (*rpsSaved, error) {
	files, err := filepath.Glob(filepath.Join(sysClassNet, ifname, "queues", "rx-*", "rps_cpus"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("set RPS of %s: no %s/%s/queues/rx-*/rps_cpus (a kernel without RPS, or an interface of another network namespace)", ifname, sysClassNet, ifname)
	}
	s := &rpsSaved{}
	for _, f := range files {
		old, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(f, []byte(mask+"\n"), 0)
		}
		if err != nil {
			s.restore()
			return nil, fmt.Errorf("set RPS of %s: %w", ifname, err)
		}
		s.files, s.old = append(s.files, f), append(s.old, strings.TrimSpace(string(old)))
	}
	return s, nil
}

// restore puts back what setRPS found. An interface that has gone meanwhile
// is no error.
func (s *rpsSaved) restore() error {
	var errs []error
	for i, f := range s.files {
		if err := os.WriteFile(f, []byte(s.old[i]+"\n"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("restore RPS: %w", err))
		}
	}
	return errors.Join(errs...)
}
