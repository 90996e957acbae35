package gateway

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// connListener enforces the connection limits itself, rather than through
// fasthttp's, so that a refused client gets an OpenAI error body it can
// parse and a Retry-After, and so that Shutdown can close connections that
// outlive its deadline.
type connListener struct {
	net.Listener
	max, maxPerIP int
	// refused is called for each refused connection with the error sent.
	refused func(e *APIError)

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	perIP map[string]int
}

func newConnListener(ln net.Listener, max, maxPerIP int) *connListener {
	return &connListener{Listener: ln, max: max, maxPerIP: maxPerIP,
		conns: map[*trackedConn]struct{}{}, perIP: map[string]int{}}
}

// Accept returns the next connection within the limits; connections over
// them are answered 503 and closed in the background.
func (l *connListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		switch {
		case l.max > 0 && len(l.conns) >= l.max:
			l.mu.Unlock()
			l.refuse(c, &APIError{Status: 503, Type: TypeUnavailable, Code: "too_many_connections",
				Message: "The server has reached its connection limit; retry shortly."})
			continue
		case l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP:
			l.mu.Unlock()
			l.refuse(c, &APIError{Status: 429, Type: TypeRateLimit, Code: "too_many_connections",
				Message: "Too many open connections from your address; reuse connections or retry shortly."})
			continue
		}
		tc := &trackedConn{Conn: c, l: l, ip: ip}
		l.conns[tc] = struct{}{}
		l.perIP[ip]++
		l.mu.Unlock()
		return tc, nil
	}
}

// open is the number of connections being served.
func (l *connListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// closeAll closes every connection being served.
func (l *connListener) closeAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type trackedConn struct {
	net.Conn
	l    *connListener
	ip   string
	once sync.Once
}

// SyscallConn exposes the socket for peerClosed.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		if c.l.perIP[c.ip]--; c.l.perIP[c.ip] <= 0 {
			delete(c.l.perIP, c.ip)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func (l *connListener) refuse(c net.Conn, e *APIError) {
	if l.refused != nil {
		l.refused(e)
	}
	go refuseConn(c, e)
}

// refuseConn answers one request on c with an error and closes it. The
// request is read first (briefly), because closing a socket with unread
// data makes the client see a reset instead of the answer.
func refuseConn(c net.Conn, e *APIError) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Read(buf)
	body := e.appendJSON(nil)
	resp := "HTTP/1.1 " + strconv.Itoa(e.Status) + " " + fasthttp.StatusMessage(e.Status) + "\r\n" +
		"Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(resp))
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
