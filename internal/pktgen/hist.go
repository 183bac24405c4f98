package pktgen

import (
	"math"
	"math/bits"
)

// histBits is the number of mantissa bits of a histogram bucket: values up
// to 2^histBits are counted exactly, larger ones in buckets whose width is
// at most 1/2^histBits of their value (0.8 %), as in HdrHistogram.
const histBits = 7

const histSub = 1 << histBits

// histBuckets covers every non-negative int64.
const histBuckets = (64 - histBits) * histSub

// Histogram counts non-negative values (nanoseconds) in log-linear buckets;
// the minimum, maximum and mean are exact. The zero value is empty and
// ready; a Histogram is not safe for concurrent use.
type Histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max int64
}

func bucket(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histBits - 1
	return (shift+1)<<histBits + int(v>>shift) - histSub
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	shift := i>>histBits - 1
	return int64(i&(histSub-1)+histSub) << shift, 1 << shift
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[bucket(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value (0 if empty).
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest value (0 if empty).
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the mean value (0 if empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value of rank ceil(q*n) (the nearest-rank
// percentile, q in [0, 1]) to within its bucket's width: the middle of the
// bucket, kept within [Min, Max]. It returns 0 if the histogram is empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			low, width := bucketRange(i)
			return min(max(low+(width-1)/2, h.min), h.max)
		}
	}
	return h.max
}
