package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCPUList(t *testing.T) {
	for _, c := range []struct {
		in   string
		cpus []int
		mask string
	}{
		{"0", []int{0}, "00000001"},
		{"0-1", []int{0, 1}, "00000003"},
		{"1,4-5", []int{1, 4, 5}, "00000032"},
		{"0,33", []int{0, 33}, "00000002,00000001"},
	} {
		cpus, err := ParseCPUList(c.in)
		if err != nil || !slices.Equal(cpus, c.cpus) || cpuMask(cpus) != c.mask {
			t.Errorf("%q: %v %v %q; want %v %q", c.in, cpus, err, cpuMask(cpus), c.cpus, c.mask)
		}
	}
	for _, bad := range []string{"", "a", "-1", "2-1", "0-", "4096", "0,,1"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestSetRPS sets and restores the rps_cpus of every receive queue of an
// interface in a fake sysfs.
func TestSetRPS(t *testing.T) {
	dir := t.TempDir()
	old := sysClassNet
	sysClassNet = dir
	t.Cleanup(func() { sysClassNet = old })
	var files []string
	for _, q := range []string{"rx-0", "rx-1"} {
		d := filepath.Join(dir, "veth0", "queues", q)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(d, "rps_cpus")
		if err := os.WriteFile(f, []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	read := func() []string {
		var v []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			v = append(v, string(b))
		}
		return v
	}
	s, err := setRPS("veth0", "00000003")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []string{"00000003\n", "00000003\n"}) {
		t.Fatalf("after setRPS: %q", got)
	}
	if err := s.restore(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []string{"0\n", "0\n"}) {
		t.Fatalf("after restore: %q", got)
	}
	if _, err := setRPS("nope0", "1"); err == nil {
		t.Fatal("setRPS of a missing interface")
	}
}
