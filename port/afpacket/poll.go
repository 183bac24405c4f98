package afpacket

import "github.com/mswitch/mswitch/fabric"

var _ fabric.PolledQueue = (*inQueue)(nil)

// Polled implements fabric.PolledQueue: a socket in ModePoll may be drained
// by a poll thread.
func (q *inQueue) Polled() bool { return q.poll }

// Idle implements fabric.PolledQueue; there is nothing to do.
func (q *inQueue) Idle() {}
