//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"net"
	"syscall"
)

// hasUnreadInput reports whether bytes have arrived on c that nobody has read yet: a request on its way to a
// server goroutine that has not run. It peeks without consuming and without blocking, and does not take the
// connection's read lock, so it is safe while the server is blocked in a Read on c. A connection it cannot
// inspect reports false.
func hasUnreadInput(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	unread := false
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		unread = err == nil && n > 0
	})
	return unread
}
