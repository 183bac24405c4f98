package memif

import "github.com/mswitch/mswitch/fabric"

var _ fabric.LinkQueue = (*inQueue)(nil)

// Polled implements fabric.PolledQueue: a port in Poll mode may be drained
// by a poll thread. While its link is down the thread finds the queue empty.
func (q *inQueue) Polled() bool { return q.p.cfg.Mode == Poll }

// Idle implements fabric.PolledQueue. A polled ring has no eventfd to
// follow, so there is nothing to do.
func (q *inQueue) Idle() {}

// Down implements fabric.LinkQueue: no client is connected, or it did not
// connect this queue.
func (q *inQueue) Down() bool { return q.cur.Load() == nil }
