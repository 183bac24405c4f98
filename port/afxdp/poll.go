package afxdp

import "github.com/mswitch/mswitch/fabric"

var _ fabric.PolledQueue = (*inQueue)(nil)

// Polled implements fabric.PolledQueue: a socket in Poll mode may be drained
// by a poll thread.
func (q *inQueue) Polled() bool { return q.poll }

// Idle implements fabric.PolledQueue: it kicks the socket's TX ring if the
// kernel left transmissions pending, as Wait does in Poll mode.
func (q *inQueue) Idle() {
	if q.out.stalled.Load() {
		q.out.Notify()
	}
}
