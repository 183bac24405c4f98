package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// fig12Ring is the receiver's ring size in Figure 12: with batches of 512,
// only two senders' reservations fit at once.
const fig12Ring = 1024

// BenchmarkFig12 makes N senders, each forwarding from its own goroutine,
// converge on one receiver (paper Figure 12, destination port
// parallelism). Mpps counts delivered packets; loss% the share of forwarded
// packets dropped because the receiver's ring was reserved by other
// senders.
func BenchmarkFig12(b *testing.B) {
	for _, batch := range []int{64, 512} {
		for _, size := range []int{60, 1514} {
			for senders := 1; senders <= 4; senders++ {
				name := fmt.Sprintf("batch=%d/size=%d/senders=%d", batch, size, senders)
				b.Run(name, func(b *testing.B) { benchConverge(b, batch, size, senders) })
			}
		}
	}
}

func benchConverge(b *testing.B, batch, size, senders int) {
	x := xconnect.New()
	sw := newSwitch(b, fabric.Options{Batch: batch, Logic: x})
	dst := attachSink(b, sw, "dst", fig12Ring)
	srcs := make([]source, senders)
	for i := range srcs {
		srcs[i] = attachSource(b, sw, fmt.Sprintf("src%d", i), udpFrame(size))
		if err := x.Connect(srcs[i].id, dst); err != nil {
			b.Fatal(err)
		}
		warmUp(b, srcs[i], batch)
	}
	b.ReportAllocs()
	before := txPackets(b, sw, dst)
	// The senders claim the b.N packets a batch at a time, so that all of
	// them run until the end even if one is slowed down.
	var claimed, taken atomic.Int64
	errs := make([]error, senders)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, src := range srcs {
		wg.Go(func() {
			for claimed.Add(int64(batch)) <= int64(b.N)+int64(batch)-1 {
				k, err := src.forward(batch, batch)
				taken.Add(int64(k))
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	total := taken.Load()
	got := txPackets(b, sw, dst) - before
	report(b, got, size)
	b.ReportMetric(100*float64(uint64(total)-got)/float64(total), "loss%")
}
