package tap

import "github.com/mswitch/mswitch/fabric"

var _ fabric.PolledQueue = (*inQueue)(nil)

// Polled implements fabric.PolledQueue: a device in ModePoll may be drained
// by a poll thread.
func (r *inQueue) Polled() bool { return r.poll }

// Idle implements fabric.PolledQueue; there is nothing to do.
func (r *inQueue) Idle() {}
