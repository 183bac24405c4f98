package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A result is one benchmark's metrics, the median of each over its runs.
type result struct {
	Name   string // "Fig6/xconnect/size=60": no "Benchmark", no -GOMAXPROCS
	Figure string // "Fig6"
	Params string // "xconnect/size=60"
	Count  int    // runs
	Median map[string]float64
	Min    map[string]float64
	Max    map[string]float64

	samples map[string][]float64 // unit -> one value per run
}

// param returns the value of element key=value of the name, or "".
func (r *result) param(key string) string {
	for _, e := range strings.Split(r.Params, "/") {
		if k, v, ok := strings.Cut(e, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// has reports whether the name has the element e ("mswitch", "xconnect").
func (r *result) has(e string) bool {
	return slices.Contains(strings.Split(r.Params, "/"), e)
}

// results are the parsed benchmarks, in the order they first appeared.
type results struct {
	list   []*result
	byName map[string]*result
}

// get returns the result named name ("Fig6/xconnect/size=60").
func (rs *results) get(name string) *result { return rs.byName[name] }

// value returns the median of unit for benchmark name.
func (rs *results) value(name, unit string) (float64, bool) {
	r := rs.byName[name]
	if r == nil {
		return 0, false
	}
	v, ok := r.Median[unit]
	return v, ok
}

// figure returns the results of one figure, in order.
func (rs *results) figure(fig string) []*result {
	var out []*result
	for _, r := range rs.list {
		if r.Figure == fig {
			out = append(out, r)
		}
	}
	return out
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseLine parses one benchmark result line,
//
//	BenchmarkFig6/xconnect/size=60-2  3850141  99.74 ns/op  10.03 Mpps ...
//
// into the benchmark's name (as in result.Name) and its metrics by unit.
// ok is false for any other line.
func parseLine(s string) (name string, metrics map[string]float64, ok bool) {
	f := strings.Fields(s)
	if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", nil, false
	}
	if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
		return "", nil, false
	}
	metrics = make(map[string]float64)
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", nil, false
		}
		metrics[f[i+1]] = v
	}
	name = procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
	return name, metrics, true
}

// parse reads go test -bench output and returns each benchmark's medians.
func parse(r io.Reader) (*results, error) {
	rs := &results{byName: make(map[string]*result)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		name, m, ok := parseLine(sc.Text())
		if !ok {
			continue
		}
		res := rs.byName[name]
		if res == nil {
			fig, params, _ := strings.Cut(name, "/")
			res = &result{Name: name, Figure: fig, Params: params, samples: make(map[string][]float64)}
			rs.byName[name] = res
			rs.list = append(rs.list, res)
		}
		res.Count++
		for unit, v := range m {
			res.samples[unit] = append(res.samples[unit], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	for _, res := range rs.list {
		res.Median = make(map[string]float64, len(res.samples))
		res.Min = make(map[string]float64, len(res.samples))
		res.Max = make(map[string]float64, len(res.samples))
		for unit, vs := range res.samples {
			res.Median[unit] = median(vs) // sorts vs
			res.Min[unit], res.Max[unit] = vs[0], vs[len(vs)-1]
		}
	}
	return rs, nil
}

// median returns the median of xs (the mean of the middle two for an even
// count). xs is reordered.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
