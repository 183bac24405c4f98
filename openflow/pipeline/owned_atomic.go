//go:build race || !(amd64 || arm64)

package pipeline

import "sync/atomic"

// add adds n. Only the owning goroutine may call it.
func (c *ownedCount) add(n uint64) { atomic.StoreUint64(&c.v, atomic.LoadUint64(&c.v)+n) }
