package gateway

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string // prefixes, canonical; nil: an error
	}{
		{in: []string{"10.0.0.0/8", " 192.168.1.7 ", "fd00::/8", "::1"}, want: []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128"}},
		{in: []string{"10.1.2.3/8"}, want: []string{"10.0.0.0/8"}},
		{in: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1"}, want: []string{"10.0.0.0/8", "192.0.2.1/32"}},
		{in: nil, want: []string{}},
		{in: []string{"10.0.0.0/33"}},
		{in: []string{"proxy.internal"}},
		{in: []string{""}},
		{in: []string{"::ffff:0:0/64"}},
		{in: []string{"fe80::1%eth0"}},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: accepted as %v", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		strs := make([]string, len(got))
		for i, p := range got {
			strs[i] = p.String()
		}
		if strings.Join(strs, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q: got %v, want %v", tc.in, strs, tc.want)
		}
	}
}

func TestClientBehindProxies(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(vs ...string) [][]byte {
		out := make([][]byte, len(vs))
		for i, v := range vs {
			out[i] = []byte(v)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		peer      string
		xff, fwd  [][]byte
		want      string
		noTrusted bool
	}{
		{name: "direct client, no headers", peer: "203.0.113.5", want: "203.0.113.5"},
		{name: "untrusted peer's header is ignored", peer: "203.0.113.5", xff: h("198.51.100.1"), want: "203.0.113.5"},
		{name: "untrusted peer's Forwarded is ignored", peer: "203.0.113.5", fwd: h("for=198.51.100.1"), want: "203.0.113.5"},
		{name: "no trusted proxies configured", peer: "10.0.0.1", xff: h("198.51.100.1"), want: "10.0.0.1", noTrusted: true},
		{name: "trusted proxy names the client", peer: "10.0.0.1", xff: h("198.51.100.1"), want: "198.51.100.1"},
		{name: "trusted proxy without a header", peer: "10.0.0.1", want: "10.0.0.1"},
		{name: "forged entries left of the real client", peer: "10.0.0.1", xff: h("6.6.6.6, 7.7.7.7, 198.51.100.1"), want: "198.51.100.1"},
		{name: "two proxies", peer: "10.0.0.1", xff: h("198.51.100.1, 10.2.3.4"), want: "198.51.100.1"},
		{name: "several header lines", peer: "10.0.0.1", xff: h("6.6.6.6", "198.51.100.1"), want: "198.51.100.1"},
		{name: "every hop trusted: the leftmost", peer: "10.0.0.1", xff: h("10.9.9.9, 10.2.3.4"), want: "10.9.9.9"},
		{name: "unreadable entry left of the client", peer: "10.0.0.1", xff: h("garbage, 198.51.100.1"), want: "198.51.100.1"},
		{name: "unreadable entry right of the client", peer: "10.0.0.1", xff: h("198.51.100.1, garbage"), want: "10.0.0.1"},
		{name: "unreadable after a trusted hop", peer: "10.0.0.1", xff: h("garbage, 10.2.3.4"), want: "10.2.3.4"},
		{name: "empty header", peer: "10.0.0.1", xff: h(""), want: "10.0.0.1"},
		{name: "address with port", peer: "10.0.0.1", xff: h("198.51.100.1:4711"), want: "198.51.100.1"},
		{name: "IPv6 client", peer: "10.0.0.1", xff: h("2001:db8::17"), want: "2001:db8::17"},
		{name: "IPv6 client with port", peer: "10.0.0.1", xff: h("[2001:db8::17]:4711"), want: "2001:db8::17"},
		{name: "IPv6 proxy", peer: "2001:db8:ffff::2", xff: h("198.51.100.1"), want: "198.51.100.1"},
		{name: "IPv4-mapped peer", peer: "::ffff:10.0.0.1", xff: h("::ffff:198.51.100.1"), want: "198.51.100.1"},
		{name: "zone is not an address", peer: "10.0.0.1", xff: h("fe80::1%eth0"), want: "10.0.0.1"},
		{name: "Forwarded", peer: "10.0.0.1", fwd: h("for=198.51.100.1;proto=https;by=10.0.0.1"), want: "198.51.100.1"},
		{name: "Forwarded, quoted IPv6 with port", peer: "10.0.0.1", fwd: h(`for="[2001:db8:cafe::17]:4711"`), want: "2001:db8:cafe::17"},
		{name: "Forwarded, forged first element", peer: "10.0.0.1", fwd: h("for=6.6.6.6, For=198.51.100.1"), want: "198.51.100.1"},
		{name: "Forwarded, quoted comma", peer: "10.0.0.1", fwd: h(`for=198.51.100.1;x="a,b", for=10.2.3.4`), want: "198.51.100.1"},
		{name: "Forwarded, unknown", peer: "10.0.0.1", fwd: h("for=unknown"), want: "10.0.0.1"},
		{name: "Forwarded, obfuscated after the client", peer: "10.0.0.1", fwd: h("for=198.51.100.1, for=_hidden"), want: "10.0.0.1"},
		{name: "Forwarded without for", peer: "10.0.0.1", fwd: h("proto=https"), want: "10.0.0.1"},
		{name: "X-Forwarded-For wins over Forwarded", peer: "10.0.0.1", xff: h("198.51.100.1"), fwd: h("for=6.6.6.6"), want: "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := trustedProxies(trusted)
			if tc.noTrusted {
				tp = nil
			}
			got := tp.client(netip.MustParseAddr(tc.peer), tc.xff, tc.fwd)
			if got.String() != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestTrustedProxyRateLimits: without API keys, limits apply per client;
// behind a trusted proxy (here the loopback test client) that is the
// address it forwards for, and from any other peer a forged header does
// not move the caller to a fresh bucket.
func TestTrustedProxyRateLimits(t *testing.T) {
	embed := func(t *testing.T, base, xff string) int {
		t.Helper()
		resp, _ := do(t, "POST", base+"/v1/embeddings", "", `{"input":"a"}`, "X-Forwarded-For", xff)
		return resp.StatusCode
	}
	t.Run("trusted", func(t *testing.T) {
		cfg := testConfig(helloGen())
		cfg.Limits.RequestsPerMinute = 1
		var err error
		if cfg.TrustedProxies, err = ParseTrustedProxies([]string{"127.0.0.0/8", "::1"}); err != nil {
			t.Fatal(err)
		}
		_, base := startServer(t, cfg)
		for _, step := range []struct {
			xff  string
			want int
		}{
			{"198.51.100.1", 200},
			{"198.51.100.2", 200},            // another client behind the same proxy
			{"198.51.100.1", 429},            // the first one's bucket is empty
			{"6.6.6.6, 198.51.100.1", 429},   // a forged hop on the left changes nothing
			{"198.51.100.1, 127.0.0.9", 429}, // nor a second trusted proxy
			{"203.0.113.9, 127.0.0.9", 200},  // a new client through two proxies
		} {
			if got := embed(t, base, step.xff); got != step.want {
				t.Errorf("X-Forwarded-For %q: %d, want %d", step.xff, got, step.want)
			}
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		cfg := testConfig(helloGen())
		cfg.Limits.RequestsPerMinute = 1
		var err error
		if cfg.TrustedProxies, err = ParseTrustedProxies([]string{"10.0.0.0/8"}); err != nil {
			t.Fatal(err)
		}
		_, base := startServer(t, cfg)
		if got := embed(t, base, "198.51.100.1"); got != 200 {
			t.Fatalf("first request: %d", got)
		}
		if got := embed(t, base, "198.51.100.2"); got != 429 {
			t.Errorf("a forged X-Forwarded-For from an untrusted peer got a fresh bucket: %d", got)
		}
	})
}

// TestTrustedProxyConnsPerIP: a trusted proxy holds connections for many
// clients, so --max-conns-per-ip does not apply to it.
func TestTrustedProxyConnsPerIP(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			cfg := testConfig(helloGen())
			cfg.Limits.MaxConnsPerIP = 1
			if trusted {
				cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			_, base := startServer(t, cfg)
			var statuses []int
			for range 2 {
				_, status := healthzConn(t, base)
				statuses = append(statuses, status)
			}
			want := []int{200, 429}
			if trusted {
				want = []int{200, 200}
			}
			if fmt.Sprint(statuses) != fmt.Sprint(want) {
				t.Errorf("two open connections: %v, want %v", statuses, want)
			}
		})
	}
}
