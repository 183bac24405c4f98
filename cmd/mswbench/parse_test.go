package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/mswitch/mswitch/bench
cpu: Intel(R) Xeon(R) Processor
BenchmarkFig6/xconnect/size=60-2   	 3850141	        99.74 ns/op	         4.813 Gbps	        10.03 Mpps	       0 B/op	       0 allocs/op
BenchmarkFig6/xconnect/size=60-2   	 3850141	        90.00 ns/op	         5.000 Gbps	        12.00 Mpps	       0 B/op	       0 allocs/op
BenchmarkFig6/xconnect/size=60-2   	 3850141	        95.00 ns/op	         4.900 Gbps	        11.00 Mpps	       0 B/op	       0 allocs/op
BenchmarkFig11/ports=256/vale      	  160028	      2232 ns/op	         0.2150 Gbps	         0.4479 Mpps	       0 B/op	       0 allocs/op
BenchmarkFig12/batch=64/size=60/senders=2-2 	 6567105	        74.07 ns/op	         4.056 Gbps	         8.451 Mpps	        37.40 loss%	       0 B/op	       0 allocs/op
--- BENCH: BenchmarkFig16/module=learning-1000macs-2
    fig16_test.go:40: 3 MACs not learned
PASS
ok  	github.com/mswitch/mswitch/bench	15.287s
`

func TestParse(t *testing.T) {
	rs, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.list) != 3 {
		t.Fatalf("parsed %d benchmarks, want 3", len(rs.list))
	}
	r := rs.get("Fig6/xconnect/size=60")
	if r == nil || r.Figure != "Fig6" || r.Params != "xconnect/size=60" || r.Count != 3 {
		t.Fatalf("Fig6 result = %+v", r)
	}
	if got := r.Median["Mpps"]; got != 11 {
		t.Errorf("median Mpps = %v, want 11", got)
	}
	if got := r.param("size"); got != "60" {
		t.Errorf("size = %q", got)
	}
	if !r.has("xconnect") || r.has("size") {
		t.Errorf("has: wrong elements")
	}
	// Without a GOMAXPROCS suffix (GOMAXPROCS=1) the name is kept whole.
	if rs.get("Fig11/ports=256/vale") == nil {
		t.Errorf("Fig11 result missing: %v", rs.byName)
	}
	if v, _ := rs.value("Fig12/batch=64/size=60/senders=2", "loss%"); v != 37.40 {
		t.Errorf("loss%% = %v", v)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{4, 1}, 2.5},
		{[]float64{5, 1, 3}, 3},
		{[]float64{9, 1, 2, 8}, 5},
	} {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}

func TestSplice(t *testing.T) {
	doc := "# B\n\nintro\n" + markStart + "\nold\n" + markEnd + "\n\n## Where the time goes\n\nmine\n"
	got := splice(doc, "new\n")
	want := "# B\n\nintro\n" + markStart + "\nnew\n" + markEnd + "\n\n## Where the time goes\n\nmine\n"
	if got != want {
		t.Errorf("splice:\n%s\nwant:\n%s", got, want)
	}
	if got := splice("", "new\n"); !strings.Contains(got, markStart+"\nnew\n"+markEnd) || !strings.Contains(got, "## Where the time goes") {
		t.Errorf("splice into nothing:\n%s", got)
	}
	if got := splice("# Mine\n", "new\n"); !strings.HasPrefix(got, "# Mine\n\n"+markStart+"\nnew\n"+markEnd) {
		t.Errorf("splice without markers:\n%s", got)
	}
}
