package daemon

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
)

// The tap never blocks: a full queue, in packets or in bytes, drops and
// counts; chained buffers are joined; directions are filtered.
func TestTapBounded(t *testing.T) {
	tp := &tap{}
	both := &capture{in: true, out: true, ch: make(chan capturedPacket, 3)}
	in := &capture{in: true, ch: make(chan capturedPacket, 100)}
	tp.add(both)
	tp.add(in)

	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 4 { // concurrent forwarding goroutines
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					dir := fabric.In
					if i%2 == 1 {
						dir = fabric.Out
					}
					tp.Packet(dir, 0, []byte{byte(g), byte(i)}, []fabric.Slot{{Buf: []byte{0xee}}})
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the tap blocked on a full capture")
	}
	if len(both.ch) != 3 || both.dropped.Load() != 20-3 || both.bytes.Load() != 9 {
		t.Fatalf("capture of both directions: %d queued, %d dropped, %d bytes", len(both.ch), both.dropped.Load(), both.bytes.Load())
	}
	if len(in.ch) != 12 || in.dropped.Load() != 0 { // i = 0, 2, 4 of each goroutine
		t.Fatalf("capture of input: %d queued, %d dropped", len(in.ch), in.dropped.Load())
	}
	p := <-in.ch
	if len(p.data) != 3 || p.data[1]%2 != 0 || !bytes.Equal(p.data[2:], []byte{0xee}) {
		t.Fatalf("captured %x", p.data)
	}

	big := &capture{in: true, ch: make(chan capturedPacket, 1000)}
	tp.remove(both)
	tp.remove(in)
	tp.add(big)
	frame := make([]byte, 60000)
	for range 200 {
		tp.Packet(fabric.In, 0, frame, nil)
	}
	if q := big.bytes.Load(); q > captureMaxBytes || big.dropped.Load() != 200-uint64(len(big.ch)) || len(big.ch) != captureMaxBytes/60000 {
		t.Fatalf("byte bound: %d queued (%d bytes), %d dropped", len(big.ch), q, big.dropped.Load())
	}
	if tp.remove(big) != 0 {
		t.Fatal("captures left")
	}
	tp.Packet(fabric.In, 0, frame, nil) // no capture: nothing happens
}
