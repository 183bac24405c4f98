//go:build !race && (amd64 || arm64)

package pipeline

// add adds n. Only the owning goroutine may call it.
func (c *ownedCount) add(n uint64) { c.v += n }
