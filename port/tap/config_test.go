package tap

import (
	"testing"
	"time"
)

// TestCoalesceConfig: the default pause, "never", and the bound.
func TestCoalesceConfig(t *testing.T) {
	c := Config{Name: "x"}
	if err := c.setDefaults(); err != nil || c.Coalesce != DefaultCoalesce {
		t.Fatalf("default: %v %v", c.Coalesce, err)
	}
	c = Config{Name: "x", Coalesce: -1}
	if err := c.setDefaults(); err != nil || c.Coalesce != -1 {
		t.Fatalf("never: %v %v", c.Coalesce, err)
	}
	c = Config{Name: "x", Coalesce: MaxCoalesce + time.Microsecond}
	if err := c.setDefaults(); err == nil {
		t.Fatalf("pause %v: no error", c.Coalesce)
	}
}
