package kernelbench

import (
	"path/filepath"
	"strings"
)

// bin is one mswitchd binary of a same-run comparison.
type bin struct{ label, path string }

// parseBins reads a comparison's binaries, "label=path,...": a path alone is
// labelled by its directory's name.
func parseBins(spec string) []bin {
	var bins []bin
	for _, f := range strings.Split(spec, ",") {
		l, p, ok := strings.Cut(f, "=")
		if !ok {
			l, p = filepath.Base(filepath.Dir(f)), f
		}
		bins = append(bins, bin{l, p})
	}
	return bins
}
