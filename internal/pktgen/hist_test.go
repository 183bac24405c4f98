package pktgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBuckets(t *testing.T) {
	// Buckets are contiguous, in order, and each holds its own range.
	next := int64(0)
	for i := 0; i < histBuckets; i++ {
		low, width := bucketRange(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		if bucket(low) != i || bucket(low+width-1) != i {
			t.Fatalf("bucket %d [%d, +%d): bucket() = %d, %d", i, low, width, bucket(low), bucket(low+width-1))
		}
		if low >= 2*histSub && float64(width)/float64(low) > 1.0/histSub {
			t.Fatalf("bucket %d: width %d too wide for %d", i, width, low)
		}
		next = low + width
		if next < 0 { // past MaxInt64: the last bucket
			if i != histBuckets-1 {
				t.Fatalf("bucket %d overflows before the last one", i)
			}
			break
		}
	}
	if bucket(math.MaxInt64) != histBuckets-1 {
		t.Errorf("MaxInt64 in bucket %d", bucket(math.MaxInt64))
	}
}

// refQuantile is the nearest-rank percentile of sorted samples.
func refQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform small": func() int64 { return rng.Int64N(300) },
		"lognormal":     func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5 + 10)) },
		"bimodal": func() int64 {
			if rng.IntN(100) == 0 {
				return 5_000_000 + rng.Int64N(1_000_000)
			}
			return 20_000 + rng.Int64N(3_000)
		},
		"exponential": func() int64 { return int64(rng.ExpFloat64() * 50_000) },
	}
	for name, gen := range dists {
		for _, n := range []int{1, 2, 10, 999, 100_000} {
			var h Histogram
			samples := make([]int64, n)
			sum := 0.0
			for i := range samples {
				samples[i] = gen()
				h.Record(samples[i])
				sum += float64(samples[i])
			}
			slices.Sort(samples)
			if h.Count() != uint64(n) || h.Min() != samples[0] || h.Max() != samples[n-1] {
				t.Fatalf("%s n=%d: count/min/max %d %d %d", name, n, h.Count(), h.Min(), h.Max())
			}
			if math.Abs(h.Mean()-sum/float64(n)) > 1e-6*sum/float64(n)+1e-9 {
				t.Errorf("%s n=%d: mean %g, want %g", name, n, h.Mean(), sum/float64(n))
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), refQuantile(samples, q)
				if tol := want/histSub + 1; got < want-tol || got > want+tol {
					t.Errorf("%s n=%d: q%g = %d, want %d ± %d", name, n, q, got, want, tol)
				}
			}
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := int64(0); i < 10_000; i++ {
		v := i * i
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	for _, q := range []float64{0.1, 0.5, 0.99, 0.999} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%g: merged %d, direct %d", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Errorf("merged %d %d %d %g, direct %d %d %d %g", m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Errorf("empty histogram: %d %g", empty.Quantile(0.5), empty.Mean())
	}
}
