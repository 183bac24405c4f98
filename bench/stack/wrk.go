package stackbench

import (
	"bufio"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what wrk printed of one run.
type WrkResult struct {
	Requests    uint64  // completed requests
	RPS         float64 // Requests/sec
	P50, P99    time.Duration
	SocketErrs  uint64 // connect + read + write + timeout
	Non2xx      uint64
	TransferBPS float64 // Transfer/sec, bytes (headers included)
}

// parseWrk reads wrk's text output (run with --latency).
func parseWrk(out string) (WrkResult, error) {
	var r WrkResult
	var haveRPS, haveP50, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return r, fmt.Errorf("parse wrk: bad rate in %q", sc.Text())
			}
			r.RPS, haveRPS = v, true
		case len(f) == 2 && f[0] == "Transfer/sec:":
			v, err := parseSize(f[1])
			if err != nil {
				return r, fmt.Errorf("parse wrk: %q: %w", sc.Text(), err)
			}
			r.TransferBPS = v
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseLatency(f[1])
			if err != nil {
				return r, fmt.Errorf("parse wrk: %q: %w", sc.Text(), err)
			}
			if f[0] == "50%" {
				r.P50, haveP50 = d, true
			} else {
				r.P99, haveP99 = d, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("parse wrk: %q: %w", sc.Text(), err)
			}
			r.Requests = v
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				v, err := strconv.ParseUint(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("parse wrk: %q: %w", sc.Text(), err)
				}
				r.SocketErrs += v
			}
		case len(f) == 5 && f[0] == "Non-2xx":
			v, err := strconv.ParseUint(f[4], 10, 64)
			if err != nil {
				return r, fmt.Errorf("parse wrk: %q: %w", sc.Text(), err)
			}
			r.Non2xx = v
		}
	}
	if !haveRPS || !haveP50 || !haveP99 {
		return r, fmt.Errorf("parse wrk: no Requests/sec or latency distribution in %q", out)
	}
	return r, nil
}

// parseLatency parses wrk's durations: 812.00us, 1.23ms, 2.00s, 1.00m.
func parseLatency(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(math.Round(f * float64(u.unit))), nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// parseSize parses wrk's byte counts: 3.31MB, 512.00KB, 1.20GB, 100.00B.
func parseSize(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		unit   float64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, fmt.Errorf("bad size %q", s)
			}
			return f * u.unit, nil
		}
	}
	return 0, fmt.Errorf("bad size %q", s)
}
