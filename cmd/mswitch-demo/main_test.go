package main

import (
	"testing"
	"time"
)

// TestDemo runs the main job briefly: traffic must cross the switch and
// reach only the hosts it is addressed to.
func TestDemo(t *testing.T) {
	for _, module := range []string{"learning", "xconnect"} {
		err := run(4, 500*time.Millisecond, 60, module, 64, 1e6)
		if module == "learning" && err != nil {
			t.Fatalf("module %s: %v", module, err)
		}
		// xconnect with no mapping drops everything: the demo says so.
		if module == "xconnect" && err == nil {
			t.Fatalf("module %s: no error although nothing is mapped", module)
		}
	}
}
