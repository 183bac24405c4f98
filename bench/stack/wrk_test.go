package stackbench

import (
	"math"
	"testing"
	"time"
)

const wrkOut = `Running 10s test @ http://10.213.0.1:8080/bytes/64
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.00us  12.34ms   78.90%
    Req/Sec    26.12k     1.23k   28.00k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.40ms
     90%    1.80ms
     99%    3.20ms
  260123 requests in 10.00s, 33.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:  26012.30
Transfer/sec:      3.31MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{Requests: 260123, RPS: 26012.30, P50: 812 * time.Microsecond, P99: 3200 * time.Microsecond,
		SocketErrs: 14, Non2xx: 5, TransferBPS: 3.31 * (1 << 20)}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if _, err := parseWrk("unable to connect to 10.213.0.1:8080 Connection refused\n"); err == nil {
		t.Error("wrk's connection error parsed")
	}
}

func TestParseUnits(t *testing.T) {
	for s, want := range map[string]time.Duration{"812.00us": 812 * time.Microsecond, "1.50ms": 1500 * time.Microsecond,
		"2.00s": 2 * time.Second, "1.00m": time.Minute} {
		if d, err := parseLatency(s); err != nil || d != want {
			t.Errorf("parseLatency(%q) = %v, %v", s, d, err)
		}
	}
	for _, s := range []string{"", "ms", "-1ms", "3h"} {
		if _, err := parseLatency(s); err == nil {
			t.Errorf("parseLatency(%q) accepted", s)
		}
	}
	if v, err := parseSize("1.20GB"); err != nil || v != 1.2*(1<<30) {
		t.Errorf("parseSize: %v, %v", v, err)
	}
	if _, err := parseSize("12XB"); err == nil {
		t.Error("parseSize(12XB) accepted")
	}
}

func TestMedians(t *testing.T) {
	w := Workloads[0]
	var ss []Sample
	for i, rps := range []float64{300, 100, 200} {
		ss = append(ss, Sample{Server: ServerUser, Workload: w, Round: i + 1,
			Wrk: WrkResult{Requests: uint64(rps * 10), RPS: rps, P50: time.Duration(rps), P99: time.Duration(2 * rps)}, ServerCPU: 1})
	}
	rows := medians(ss)
	if len(rows) != 1 || rows[0].RPS != 200 || rows[0].P99 != 400 || rows[0].Gbps != 200*64*8/1e9 {
		t.Fatalf("rows %+v", rows)
	}
	// CPU per request: 1 s over 2,000 requests is 500 µs.
	if rows[0].ServerUS != 500 {
		t.Errorf("server CPU per request %v µs, want 500", rows[0].ServerUS)
	}
}

// FuzzParseWrk: wrk's output is parsed without panicking, whatever it is.
func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOut)
	f.Add("  Socket errors: connect 1, read\nRequests/sec: x\n")
	f.Add("Requests/sec: -5\n     50%  NaNms\n     99%  1ms\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseWrk(s)
		if err == nil && (r.RPS < 0 || r.P50 < 0 || r.P99 < 0 || math.IsNaN(r.RPS) || math.IsInf(r.RPS, 0)) {
			t.Errorf("negative figures from %q: %+v", s, r)
		}
	})
}
