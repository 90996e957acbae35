package gateway

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Behind a load balancer every client's socket comes from the balancer, so
// limits keyed on the socket address would put all customers in one
// bucket. A trusted proxy names the client it forwards for in
// X-Forwarded-For (or RFC 7239's Forwarded); anyone else could write
// those headers too, so they are read only from trusted peers, and walked
// from the right: each trusted proxy appends the address it received the
// request from, so the rightmost address that is not a trusted proxy is
// the one no client can forge.

// ParseTrustedProxies parses CIDR prefixes ("10.0.0.0/8", "fd00::/8") or
// single addresses ("192.0.2.7") of trusted reverse proxies.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix or an address: %w", s, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: an address with a zone cannot be matched", s)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8: peers are compared unmapped.
			if p.Bits() < 96 {
				return nil, fmt.Errorf("trusted proxy %q: an IPv4-mapped prefix needs at least 96 bits", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// trustedProxies are the peers whose forwarding headers are believed.
type trustedProxies []netip.Prefix

func (tp trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client is the address of the client behind peer: peer itself unless it
// is a trusted proxy, else the rightmost address of X-Forwarded-For (or,
// without that header, of Forwarded's for= parameters) that is not a
// trusted proxy. When every address is trusted, the leftmost is the
// client; an unreadable entry ends the walk at the last address read.
func (tp trustedProxies) client(peer netip.Addr, xff, forwarded [][]byte) netip.Addr {
	peer = peer.Unmap()
	if len(tp) == 0 || !tp.contains(peer) {
		return peer
	}
	var hops []string
	switch {
	case len(xff) > 0:
		for _, v := range xff {
			hops = append(hops, strings.Split(string(v), ",")...)
		}
	case len(forwarded) > 0:
		for _, v := range forwarded {
			hops = append(hops, forwardedFor(string(v))...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !tp.contains(a) {
			break
		}
	}
	return client
}

// parseHop reads one forwarded address: "192.0.2.1", "192.0.2.1:4711",
// "2001:db8::1" or "[2001:db8::1]:4711".
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor lists the for= values of a Forwarded header (RFC 7239),
// one per element, in order; an element without for= is an unreadable hop
// (""), as "unknown" and obfuscated identifiers are.
func forwardedFor(v string) []string {
	var out []string
	for _, elem := range splitQuoted(v, ',') {
		hop := ""
		for _, pair := range splitQuoted(elem, ';') {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
				hop = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
		out = append(out, hop)
	}
	return out
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// clientAddr is the client address that per-address limits key on.
func (s *Server) clientAddr(ctx *fasthttp.RequestCtx) string {
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return ctx.RemoteAddr().String()
	}
	if len(s.trusted) == 0 {
		return peer.Unmap().String()
	}
	h := &ctx.Request.Header
	return s.trusted.client(peer, h.PeekAll("X-Forwarded-For"), h.PeekAll("Forwarded")).String()
}
