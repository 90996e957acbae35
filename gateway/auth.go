package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/router"
)

// KeyHash is the SHA-256 of an API key. The gateway keeps only hashes, so a
// configuration dump, a heap dump or a log line never holds a usable key.
// API keys are long random strings, so an unsalted fast hash is enough: the
// point is not to store the secret, not to slow down guessing a password.
type KeyHash [32]byte

// HashKey hashes an API key.
func HashKey(key string) KeyHash { return sha256.Sum256([]byte(key)) }

// String renders the hash in the form ParseKey accepts: "sha256:<hex>".
func (h KeyHash) String() string { return "sha256:" + hex.EncodeToString(h[:]) }

// ParseKey reads a key as written in configuration: "sha256:<64 hex
// digits>" is an already hashed key, anything else is the key itself and is
// hashed here.
func ParseKey(s string) (KeyHash, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return KeyHash{}, errors.New("empty API key")
	}
	if hexPart, ok := strings.CutPrefix(s, "sha256:"); ok {
		var h KeyHash
		b, err := hex.DecodeString(hexPart)
		if err != nil || len(b) != len(h) {
			return KeyHash{}, fmt.Errorf("invalid key hash %q: want sha256: and 64 hex digits", s)
		}
		copy(h[:], b)
		return h, nil
	}
	return HashKey(s), nil
}

// APIKey is one client key with its limits.
type APIKey struct {
	// Name identifies the key in logs and metrics; never the key itself.
	Name string
	Hash KeyHash
	// RequestsPerMinute and TokensPerMinute override the server's default
	// limits for this key: 0 takes the default, a negative value means
	// unlimited.
	RequestsPerMinute int
	TokensPerMinute   int
	// MonthlyBudgetUSD caps the cloud spend of this key's requests per
	// calendar month (UTC); 0: no cap of its own (the server's overall
	// budget still applies). The router enforces it, keyed by Name.
	MonthlyBudgetUSD float64
	// LocalOnly keeps this key's requests off cloud APIs whatever they
	// ask (X-Infergate-Route-Policy cannot lift it): for a client whose
	// data must stay on the premises.
	LocalOnly bool
}

// ParseKeysFile reads an API keys file: one key per line,
//
//	<key or sha256:HEX> [name=NAME] [rpm=N] [tpm=N]
//
// Blank lines and lines starting with # are ignored. Keys without a name
// are named after the first 8 hex digits of their hash.
func ParseKeysFile(r io.Reader) ([]APIKey, error) {
	var keys []APIKey
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		h, err := ParseKey(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		k := APIKey{Hash: h}
		for _, f := range fields[1:] {
			name, val, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not name=value", line, f)
			}
			switch name {
			case "name":
				k.Name = val
			case "rpm", "tpm":
				n, err := strconv.Atoi(val)
				if err != nil {
					return nil, fmt.Errorf("line %d: %s: %w", line, name, err)
				}
				if name == "rpm" {
					k.RequestsPerMinute = n
				} else {
					k.TokensPerMinute = n
				}
			default:
				return nil, fmt.Errorf("line %d: unknown field %q (want name, rpm or tpm)", line, name)
			}
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	return keys, nil
}

// principal is an authenticated caller: a key, or an address when the
// server runs without keys.
type principal struct {
	name   string
	limits *limiter
	// key is the API key as the router's budget sees it; nil for a caller
	// without one (a server without keys, or an admin).
	key       *router.Key
	localOnly bool
}

// routeContext returns ctx carrying the caller's key for the router's
// per-key budget.
func (p *principal) routeContext(ctx context.Context) context.Context {
	if p == nil || p.key == nil {
		return ctx
	}
	return router.WithKey(ctx, *p.key)
}

// presentedKey extracts the API key from Authorization: Bearer, or from
// x-api-key / api-key as Anthropic and Azure clients send it.
func presentedKey(h *fasthttp.RequestHeader) ([]byte, bool) {
	if auth := h.Peek("Authorization"); len(auth) > 0 {
		const prefix = "bearer "
		if len(auth) > len(prefix) && bytes.EqualFold(auth[:len(prefix)], []byte(prefix)) {
			return bytes.TrimSpace(auth[len(prefix):]), true
		}
		return nil, false
	}
	for _, name := range []string{"x-api-key", "api-key"} {
		if v := h.Peek(name); len(v) > 0 {
			return bytes.TrimSpace(v), true
		}
	}
	return nil, false
}

func errNoKey() *APIError {
	return &APIError{
		Status:  fasthttp.StatusUnauthorized,
		Type:    TypeInvalidRequest,
		Code:    "missing_api_key",
		Message: "You didn't provide an API key. Send it in an Authorization header: Authorization: Bearer YOUR_KEY.",
	}
}

func errBadKey() *APIError {
	return &APIError{
		Status:  fasthttp.StatusUnauthorized,
		Type:    TypeInvalidRequest,
		Code:    "invalid_api_key",
		Message: "Incorrect API key provided.",
	}
}

// matchAdmin reports whether key hashes to one of the admin hashes, in
// time independent of which one (or how much of one) matches.
func matchAdmin(admin []KeyHash, key []byte) bool {
	h := sha256.Sum256(key)
	ok := 0
	for i := range admin {
		ok |= subtle.ConstantTimeCompare(h[:], admin[i][:])
	}
	return ok == 1
}
