package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// writeCSV writes one row per benchmark with its median metrics.
func writeCSV(path string, rs *results) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"name", "figure", "parameters", "mpps", "gbps", "ns_per_op", "allocs_per_op", "loss_pct",
		"count", "mpps_min", "mpps_max"})
	for _, r := range rs.list {
		w.Write([]string{r.Name, r.Figure, r.Params,
			num(r.Median, "Mpps"), num(r.Median, "Gbps"), num(r.Median, "ns/op"), num(r.Median, "allocs/op"),
			num(r.Median, "loss%"), strconv.Itoa(r.Count), num(r.Min, "Mpps"), num(r.Max, "Mpps")})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// num formats a metric for the CSV file, or "" if the benchmark lacks it.
func num(m map[string]float64, unit string) string {
	v, ok := m[unit]
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// machine describes where the benchmarks ran.
type machine struct {
	CPU    string
	Cores  int
	Kernel string
	Go     string
}

func describeMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), Kernel: "unknown", Go: runtime.Version()}
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
	// The benchmarks were built by the go command, which may differ from
	// the toolchain that built mswbench.
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	return m
}

// A target is one of the goals of docs/BENCHMARKS.md, checked against the
// medians.
type target struct {
	What, Want, Got string
	Status          string // "met", "not met" or "not measured"
}

func check(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// relative returns the Mpps of fig/ports=p/alg over that of P = 1.
func relative(rs *results, fig, alg string, p int) (float64, bool) {
	base, ok1 := rs.value(fmt.Sprintf("%s/ports=1/%s", fig, alg), "Mpps")
	v, ok2 := rs.value(fmt.Sprintf("%s/ports=%d/%s", fig, p, alg), "Mpps")
	if !ok1 || !ok2 || base == 0 {
		return 0, false
	}
	return v / base, true
}

// spread describes the Mpps samples of benchmark name: "16.6-21.6".
func spread(rs *results, name string) string {
	r := rs.get(name)
	if r == nil || r.Count < 2 {
		return ""
	}
	return fmt.Sprintf("%.1f-%.1f", r.Min["Mpps"], r.Max["Mpps"])
}

// targets evaluates the goals. allocsTest is nil if TestZeroAllocs passed.
func targets(rs *results, allocsTest error) []target {
	var ts []target
	missing := func(what, want string) {
		ts = append(ts, target{What: what, Want: want, Got: "-", Status: "not measured"})
	}

	const wantX = 25.0
	if v, ok := rs.value("Fig6/xconnect/size=60", "Mpps"); ok {
		ts = append(ts, target{"60-byte frames, xconnect (Fig. 6)", fmt.Sprintf(">= %.0f Mp/s", wantX),
			fmt.Sprintf("%.1f Mp/s (runs: %s)", v, spread(rs, "Fig6/xconnect/size=60")), check(v >= wantX)})
	} else {
		missing("60-byte frames, xconnect (Fig. 6)", fmt.Sprintf(">= %.0f Mp/s", wantX))
	}

	x, okx := rs.value("Fig16/module=xconnect", "Mpps")
	for _, m := range []string{"learning-1mac", "learning-1000macs"} {
		what := fmt.Sprintf("%s vs xconnect (Fig. 16)", m)
		v, ok := rs.value("Fig16/module="+m, "Mpps")
		if !ok || !okx || x == 0 {
			missing(what, ">= 70%")
			continue
		}
		ts = append(ts, target{what, ">= 70%",
			fmt.Sprintf("%.0f%% (%.1f / %.1f Mp/s; runs: %s / %s)", 100*v/x, v, x,
				spread(rs, "Fig16/module="+m), spread(rs, "Fig16/module=xconnect")), check(v >= 0.7*x)})
	}

	ms, okm := relative(rs, "Fig11", "mswitch", 256)
	vale, okv := relative(rs, "Fig11", "vale", 256)
	if okm {
		ts = append(ts, target{"mSwitch, round-robin to 256 ports (Fig. 11)", ">= 50% of P=1",
			fmt.Sprintf("%.0f%% (runs, Mp/s: P=1 %s, P=256 %s)", 100*ms,
				spread(rs, "Fig11/ports=1/mswitch"), spread(rs, "Fig11/ports=256/mswitch")), check(ms >= 0.5)})
	} else {
		missing("mSwitch, round-robin to 256 ports (Fig. 11)", ">= 50% of P=1")
	}
	if okm && okv {
		ts = append(ts, target{"VALE, round-robin to 256 ports (Fig. 11)", "clearly below mSwitch (< half its share)",
			fmt.Sprintf("%.0f%% of P=1 (mSwitch %.0f%%)", 100*vale, 100*ms), check(vale < ms/2)})
	} else {
		missing("VALE, round-robin to 256 ports (Fig. 11)", "clearly below mSwitch (< half its share)")
	}

	if v, ok := relative(rs, "Fig10", "mswitch", 1024); ok {
		ts = append(ts, target{"mSwitch, 1 busy + 1023 idle ports (Fig. 10)", "< 5% below P=1",
			fmt.Sprintf("%+.1f%% (runs, Mp/s: P=1 %s, P=1024 %s)", 100*(v-1),
				spread(rs, "Fig10/ports=1/mswitch"), spread(rs, "Fig10/ports=1024/mswitch")), check(v > 0.95)})
	} else {
		missing("mSwitch, 1 busy + 1023 idle ports (Fig. 10)", "< 5% below P=1")
	}

	worst, n := 0.0, 0
	for _, r := range rs.list {
		if a, ok := r.Median["allocs/op"]; ok {
			worst = math.Max(worst, a)
			n++
		}
	}
	got := fmt.Sprintf("max %g allocs/op over %d benchmarks; TestZeroAllocs ", worst, n)
	if allocsTest == nil {
		got += "passed"
	} else {
		got += "failed"
	}
	ts = append(ts, target{"allocations on the forwarding path", "0 per packet everywhere", got,
		check(n > 0 && worst == 0 && allocsTest == nil)})
	return ts
}
