package gateway

import (
	"net"
	"syscall"
)

// peerClosed reports whether the client has closed its end of conn,
// without consuming anything it sent: a non-blocking MSG_PEEK read returns
// 0 bytes only at end of stream. fasthttp offers no close notification,
// and a non-streamed generation writes nothing until it ends, so this is
// how such a request notices that nobody waits for it any more.
func peerClosed(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err == syscall.ECONNRESET
		return true // never wait for readability
	})
	return closed
}
