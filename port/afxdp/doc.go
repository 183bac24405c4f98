// Package afxdp connects a kernel network interface to the switch over
// AF_XDP sockets.
package afxdp
