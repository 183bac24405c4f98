package afpacket

import (
	"testing"
	"time"
)

// TestCoalesceConfig: the default pause, "never", and the bound.
func TestCoalesceConfig(t *testing.T) {
	c := Config{Interface: "x"}
	if err := c.setDefaults(1500); err != nil || c.Coalesce != DefaultCoalesce {
		t.Fatalf("default: %v %v", c.Coalesce, err)
	}
	c = Config{Interface: "x", Coalesce: -1}
	if err := c.setDefaults(1500); err != nil || c.Coalesce != -1 {
		t.Fatalf("never: %v %v", c.Coalesce, err)
	}
	c = Config{Interface: "x", Coalesce: MaxCoalesce + time.Microsecond}
	if err := c.setDefaults(1500); err == nil {
		t.Fatalf("pause %v: no error", c.Coalesce)
	}
}
