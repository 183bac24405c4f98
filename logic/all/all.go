// Package all links every built-in switching logic into a program. A module
// registers itself with logic.Register from its init function, so it can be
// instantiated by name (logic.New("l4filter")) only if something imports
// it; a program that wants the whole set, such as mswitchd, imports this
// package for its side effects:
//
//	import _ "github.com/mswitch/mswitch/logic/all"
//
// A program that wants fewer modules (a smaller binary, an embedded switch)
// imports the ones it needs instead. A new built-in module adds its import
// here, in the manner of CoreDNS's core/plugin/zplugin.go.
package all

import (
	_ "github.com/mswitch/mswitch/logic/l4filter"   // paper §5.2 middlebox filter
	_ "github.com/mswitch/mswitch/logic/learning"   // L2 learning bridge (the default)
	_ "github.com/mswitch/mswitch/logic/multistack" // paper §5.3 user-level stacks' 3-tuple demultiplexer
	_ "github.com/mswitch/mswitch/logic/xconnect"   // static port-to-port patch
)
