package bench

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	u := []string{"--url", "http://127.0.0.1:1"}
	with := func(extra ...string) []string { return append(append([]string{}, u...), extra...) }
	tests := []struct {
		name    string
		args    []string
		code    int    // when the parse stops
		errText string // in stderr
		check   func(*config) bool
	}{
		{name: "defaults", args: u, check: func(c *config) bool {
			return c.API == "chat" && c.Stream && len(c.Concurrency) == 1 && c.Concurrency[0] == 1 &&
				c.InputTokens.String() == "256" && c.Turns == 1 && c.Timeout == 120*time.Second && !c.OutputFromDataset
		}},
		{name: "sweep", args: with("--concurrency", "1,4,16,64"), check: func(c *config) bool {
			return len(c.levels()) == 4 && c.levels()[3].concurrency == 64
		}},
		{name: "open loop", args: with("--rate", "2.5,5", "--burstiness", "0.5"), check: func(c *config) bool {
			return len(c.Concurrency) == 0 && len(c.Rates) == 2 && c.levels()[0].label() == "rate=2.5"
		}},
		{name: "header", args: with("--header", "x-tenant: acme"), check: func(c *config) bool {
			return c.Headers.Get("X-Tenant") == "acme"
		}},
		{name: "dataset output lengths", args: with("--dataset", "d.jsonl"), check: func(c *config) bool { return c.OutputFromDataset }},
		{name: "dataset explicit output", args: with("--dataset", "d.jsonl", "--output-tokens", "9"), check: func(c *config) bool { return !c.OutputFromDataset }},
		{name: "help", args: []string{"--help"}, code: ExitOK, errText: "Usage: infergate bench"},
		{name: "no url", args: nil, code: ExitUsage, errText: "--url is required"},
		{name: "unknown flag", args: with("--frobnicate"), code: ExitUsage, errText: "not defined"},
		{name: "both loops", args: with("--rate", "1", "--concurrency", "2"), code: ExitUsage, errText: "exclude each other"},
		{name: "bad concurrency", args: with("--concurrency", "1,x"), code: ExitUsage, errText: "--concurrency"},
		{name: "duplicate level", args: with("--concurrency", "4,4"), code: ExitUsage, errText: "twice"},
		{name: "zero concurrency", args: with("--concurrency", "0"), code: ExitUsage, errText: "--concurrency"},
		{name: "bad rate", args: with("--rate", "-1"), code: ExitUsage, errText: "--rate"},
		{name: "bad api", args: with("--api", "responses"), code: ExitUsage, errText: "--api"},
		{name: "bad lengths", args: with("--input-tokens", "10-1"), code: ExitUsage, errText: "--input-tokens"},
		{name: "bad slo", args: with("--slo", "ttft"), code: ExitUsage, errText: "--slo"},
		{name: "batch without embed", args: with("--batch", "8"), code: ExitUsage, errText: "--embed"},
		{name: "turns with embed", args: with("--embed", "--turns", "3"), code: ExitUsage, errText: "--turns"},
		{name: "stray argument", args: with("extra"), code: ExitUsage, errText: "unexpected argument"},
		{name: "compare needs two", args: []string{"--compare", "a.json"}, code: ExitUsage, errText: "two report files"},
		{name: "compare", args: []string{"--compare", "a.json", "b.json"}, check: func(c *config) bool {
			return c.Compare && len(c.CompareFiles) == 2
		}},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		cfg, code := parseArgs(tt.args, &stderr)
		if tt.check != nil {
			if cfg == nil {
				t.Errorf("%s: stopped with %d: %s", tt.name, code, stderr.String())
			} else if !tt.check(cfg) {
				t.Errorf("%s: unexpected config %+v", tt.name, cfg)
			}
			continue
		}
		if cfg != nil || code != tt.code || !strings.Contains(stderr.String(), tt.errText) {
			t.Errorf("%s: cfg=%v code=%d stderr=%q; want code %d and %q", tt.name, cfg != nil, code, stderr.String(), tt.code, tt.errText)
		}
	}
}

func TestAPIBase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"},
		{"http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"},
		{"http://localhost:11434/proxy/v1?x=1", "http://localhost:11434/proxy/v1"},
		{"https://[::1]:8000", "https://[::1]:8000/v1"},
		{"ftp://127.0.0.1", ""},
		{"127.0.0.1:8080", ""},
		{"http://user:pw@127.0.0.1", ""},
	}
	for _, tt := range tests {
		u, err := apiBase(tt.in)
		got := ""
		if err == nil {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("apiBase(%q) = %q (%v), want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]net.IPAddr, error) {
		switch host {
		case "localhost":
			return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("::1")}}, nil
		case "mixed.test":
			return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("10.0.0.1")}}, nil
		case "remote.test":
			return []net.IPAddr{{IP: net.ParseIP("203.0.113.5")}}, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		host   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1", false, true},
		{"127.3.2.1", false, true},
		{"::1", false, true},
		{"localhost", false, true},
		{"10.0.0.1", false, false},
		{"0.0.0.0", false, false},
		{"mixed.test", false, false},
		{"remote.test", false, false},
		{"nowhere.test", false, false},
		{"remote.test", true, true},
		{"10.0.0.1", true, true},
	}
	for _, tt := range tests {
		err := checkTarget(context.Background(), tt.host, tt.remote, lookup)
		if (err == nil) != tt.ok {
			t.Errorf("checkTarget(%q, remote=%v) = %v, want ok=%v", tt.host, tt.remote, err, tt.ok)
		}
	}
	for addr, ok := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "192.168.1.1:80": false, "[2001:db8::1]:443": false} {
		if err := loopbackOnly("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("loopbackOnly(%s) = %v", addr, err)
		}
	}
}

func TestMainRefusesRemote(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// An IP literal: no DNS lookup, no connection attempted.
	code := Main(context.Background(), []string{"--url", "http://192.0.2.10:8080"}, &stdout, &stderr)
	if code != ExitUsage || !strings.Contains(stderr.String(), "--allow-remote") {
		t.Errorf("code %d, stderr %q", code, stderr.String())
	}
}
