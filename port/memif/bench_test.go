package memif

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
)

// BenchmarkForward measures memif in, switch, memif out: a client replays a
// prefilled frame into one port (no copy on the client side), the switch
// cross-connects it to a second port (one copy, input buffer to output
// buffer), and a second client discards it (no copy). The sender keeps at
// most 1024 frames in flight, one ring's worth, so the receiver's ring
// never overflows: the rate is the lossless throughput of the path.
func BenchmarkForward(b *testing.B) {
	for _, mode := range []Mode{Interrupt, Poll} {
		for _, size := range []int{60, 1514} {
			b.Run(fmt.Sprintf("%v/%d", mode, size), func(b *testing.B) { benchForward(b, mode, size) })
		}
	}
}

func benchForward(b *testing.B, mode Mode, size int) {
	tb := newTestbed(b)
	_, ida := tb.port(PortConfig{ID: 1, Mode: mode})
	_, idb := tb.port(PortConfig{ID: 2, Mode: mode})
	if err := tb.x.Pair(ida, idb); err != nil {
		b.Fatal(err)
	}
	tx, err := Dial(tb.path, ClientConfig{ID: 1, Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	rx, err := Dial(tb.path, ClientConfig{ID: 2, Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	if err := tx.Prefill(0, ethFrame(0, size)); err != nil {
		b.Fatal(err)
	}
	drops := func() uint64 {
		st, _ := tb.sw.PortStats(idb)
		return st.Drops[fabric.DropQueueFull]
	}
	drops0 := drops()
	n := uint64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var done atomic.Uint64 // received or dropped
	const window = 1024
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sent := uint64(0); sent < n; {
			room := window - int(sent-done.Load())
			if room <= 0 {
				runtime.Gosched()
				continue
			}
			k, err := tx.Replay(0, int(min(uint64(min(256, room)), n-sent)))
			if err != nil {
				b.Error(err)
				return
			}
			sent += uint64(k)
			if k == 0 {
				runtime.Gosched()
			}
		}
	}()
	var received, bytes uint64
	deadline := time.Now().Add(time.Minute)
	for received+drops()-drops0 < n && time.Now().Before(deadline) {
		k, nb, err := rx.Discard(0)
		if err != nil {
			b.Fatal(err)
		}
		received += uint64(k)
		bytes += nb
		if k == 0 {
			done.Store(received + drops() - drops0)
			rx.Wait(0, time.Millisecond)
		} else {
			done.Store(received)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	wg.Wait()
	lost := drops() - drops0
	b.ReportMetric(float64(received)/el.Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(bytes)*8/el.Seconds()/1e9, "Gb/s")
	b.ReportMetric(100*float64(lost)/float64(n), "loss%")
}
