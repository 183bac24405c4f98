package all_test

import (
	"testing"

	"github.com/mswitch/mswitch/logic"
	_ "github.com/mswitch/mswitch/logic/all"
)

// TestRegistered checks that importing all makes the built-in modules
// available by name.
func TestRegistered(t *testing.T) {
	for _, name := range []string{"learning", "l4filter", "multistack", "xconnect"} {
		if _, err := logic.New(name); err != nil {
			t.Errorf("logic.New(%q): %v", name, err)
		}
	}
}
