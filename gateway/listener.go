package gateway

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
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
	// trusted proxies carry many clients each: maxPerIP does not apply.
	trusted trustedProxies
	// refused is called for each refused connection with the error sent;
	// dropped for each one closed without a reply.
	refused func(e *APIError)
	dropped func()
	// refusing holds a token per refusal being written: a flood of
	// connections over the limits costs at most cap(refusing) goroutines
	// and buffers, and beyond them connections are closed unanswered.
	refusing chan struct{}

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	perIP map[string]int
}

// Refusals are written by at most maxRefusing goroutines at a time, each
// for at most refuseReadTime+refuseWriteTime: enough to answer a client
// that merely came at a busy moment, and bounded under a flood.
const (
	maxRefusing     = 32
	refuseReadTime  = 100 * time.Millisecond
	refuseWriteTime = 250 * time.Millisecond
)

func newConnListener(ln net.Listener, max, maxPerIP int) *connListener {
	return &connListener{Listener: ln, max: max, maxPerIP: maxPerIP,
		refusing: make(chan struct{}, maxRefusing),
		conns:    map[*trackedConn]struct{}{}, perIP: map[string]int{}}
}

// Accept returns the next connection within the limits; connections over
// them are answered 503 (or 429) and closed in the background.
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
		case l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP && !l.fromTrusted(c):
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

// SyscallConn exposes the socket for peerClosed: under TLS (a listener
// from tls.NewListener) the one beneath the *tls.Conn, whose end of
// stream is the client's departure just the same.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	conn := c.Conn
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if sc, ok := conn.(syscall.Conn); ok {
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

// fromTrusted reports whether c comes from a trusted proxy.
func (l *connListener) fromTrusted(c net.Conn) bool {
	if len(l.trusted) == 0 {
		return false
	}
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	a, ok := netip.AddrFromSlice(ta.IP)
	return ok && l.trusted.contains(a)
}

// refuse answers c with e in the background when a refusal slot is free,
// and otherwise closes it at once without a reply.
func (l *connListener) refuse(c net.Conn, e *APIError) {
	select {
	case l.refusing <- struct{}{}:
	default:
		if l.dropped != nil {
			l.dropped()
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// A reset: the kernel keeps no TIME_WAIT state for it.
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		return
	}
	if l.refused != nil {
		l.refused(e)
	}
	go func() {
		defer func() { <-l.refusing }()
		refuseConn(c, e)
	}()
}

// refuseConn answers one request on c with an error and closes it. The
// request is read first (briefly), because closing a socket with unread
// data makes the client see a reset instead of the answer.
func refuseConn(c net.Conn, e *APIError) {
	defer c.Close()
	var buf [2048]byte
	_ = c.SetReadDeadline(time.Now().Add(refuseReadTime))
	_, _ = c.Read(buf[:])
	body := e.appendJSON(nil)
	resp := "HTTP/1.1 " + strconv.Itoa(e.Status) + " " + fasthttp.StatusMessage(e.Status) + "\r\n" +
		"Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTime))
	_, _ = c.Write([]byte(resp))
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
