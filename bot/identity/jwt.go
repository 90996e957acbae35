package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// MaxTokenLen bounds the size of a presented JWT. Identity tokens carry a
// handful of claims; anything this large is an attack on the parser.
const MaxTokenLen = 8 << 10

// algHS256 is the only alg this package accepts.
const algHS256 = "HS256"

// b64 is base64url without padding in strict mode: strict refuses
// non-zero trailing bits, so one token has one encoding and a signature
// cannot be made to verify over a re-encoded header or payload.
var b64 = base64.RawURLEncoding.Strict()

// Claims are the claims of an identity token.
type Claims struct {
	Subject   string    // sub: the user id
	Name      string    // name, optional
	Email     string    // email, optional
	IssuedAt  time.Time // iat, zero when absent
	NotBefore time.Time // nbf, zero when absent
	ExpiresAt time.Time // exp, required
	// Extra are the other claims, as encoding/json decodes them (numbers
	// as json.Number), for the bot's actions to read.
	Extra map[string]any
}

// registered are the claims Claims has fields for; Extra holds the rest.
var registered = map[string]bool{"sub": true, "name": true, "email": true, "iat": true, "nbf": true, "exp": true}

// JWTPolicy is how a bot checks the time claims of a token.
type JWTPolicy struct {
	// Leeway absorbs clock skew between the host site and infergate when
	// checking exp, nbf and iat.
	Leeway time.Duration
	// MaxLifetime is the longest a token may be valid, measured from its
	// iat (or nbf, or the time of verification when it has neither) to
	// its exp. Zero means no limit.
	MaxLifetime time.Duration
}

type jwtHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ,omitempty"`
	Kid  string          `json:"kid,omitempty"`
	Crit json.RawMessage `json:"crit,omitempty"`
}

// KeyFunc returns the secret for a kid ("" when the header has none), or
// false when there is none.
type KeyFunc func(kid string) ([]byte, bool)

// ParseJWT verifies an HS256 token and returns its claims: shape, alg,
// key, signature (constant time), then exp, nbf, iat and the maximum
// lifetime against now. The payload is decoded only after the signature
// matched.
func ParseJWT(token string, key KeyFunc, policy JWTPolicy, now time.Time) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, refuse(ReasonMalformed, "token too long")
	}
	h64, rest, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, refuse(ReasonMalformed, "not a JWT")
	}
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s64, ".") {
		return Claims{}, refuse(ReasonMalformed, "not a JWT")
	}
	hdr, err := decodeHeader(h64)
	if err != nil {
		return Claims{}, err
	}
	secret, ok := key(hdr.Kid)
	if !ok {
		return Claims{}, refuse(ReasonUnknownKey, fmt.Sprintf("no key for kid %q", hdr.Kid))
	}
	sig, err := b64.DecodeString(s64)
	if err != nil {
		return Claims{}, refuse(ReasonMalformed, "signature is not base64url")
	}
	if !hmac.Equal(sig, sign(secret, token[:len(h64)+1+len(p64)])) {
		return Claims{}, refuse(ReasonBadSignature, "token signature does not match")
	}
	c, err := decodeClaims(p64)
	if err != nil {
		return Claims{}, err
	}
	if err := checkTimes(c, policy, now); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func decodeHeader(h64 string) (jwtHeader, error) {
	raw, err := b64.DecodeString(h64)
	if err != nil {
		return jwtHeader{}, refuse(ReasonMalformed, "header is not base64url")
	}
	var h jwtHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return jwtHeader{}, refuse(ReasonMalformed, "header is not a JSON object")
	}
	// Exactly HS256: "none", "hs256", HS384/HS512 and asymmetric algs are
	// all refused, so a public key can never be used as an HMAC secret.
	if h.Alg != algHS256 {
		return jwtHeader{}, refuse(ReasonUnsupportedAlg, fmt.Sprintf("alg %q", h.Alg))
	}
	// RFC 7515 §4.1.11: a recipient must refuse critical extensions it
	// does not understand, and this one understands none.
	if len(h.Crit) > 0 {
		return jwtHeader{}, refuse(ReasonUnsupportedAlg, "crit header present")
	}
	if h.Typ != "" && !strings.EqualFold(h.Typ, "JWT") {
		return jwtHeader{}, refuse(ReasonMalformed, fmt.Sprintf("typ %q", h.Typ))
	}
	return h, nil
}

func decodeClaims(p64 string) (Claims, error) {
	raw, err := b64.DecodeString(p64)
	if err != nil {
		return Claims{}, refuse(ReasonMalformed, "payload is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return Claims{}, refuse(ReasonMalformed, "payload is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Claims{}, refuse(ReasonMalformed, "data after the payload object")
	}
	var c Claims
	if c.Subject, err = stringClaim(m, "sub", true); err != nil {
		return Claims{}, err
	}
	if c.Name, err = stringClaim(m, "name", false); err != nil {
		return Claims{}, err
	}
	if c.Email, err = stringClaim(m, "email", false); err != nil {
		return Claims{}, err
	}
	if c.ExpiresAt, err = dateClaim(m, "exp", true); err != nil {
		return Claims{}, err
	}
	if c.NotBefore, err = dateClaim(m, "nbf", false); err != nil {
		return Claims{}, err
	}
	if c.IssuedAt, err = dateClaim(m, "iat", false); err != nil {
		return Claims{}, err
	}
	for k, v := range m {
		if registered[k] {
			continue
		}
		if c.Extra == nil {
			c.Extra = make(map[string]any, len(m))
		}
		c.Extra[k] = v
	}
	return c, nil
}

func stringClaim(m map[string]any, name string, required bool) (string, error) {
	v, ok := m[name]
	if !ok {
		if required {
			return "", refuse(ReasonMalformed, name+" is required")
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok || (required && s == "") {
		return "", refuse(ReasonMalformed, name+" is not a non-empty string")
	}
	return s, nil
}

// maxNumericDate keeps NumericDates where float64 seconds are exact and
// far from time.Time's limits (about year 285 million).
const maxNumericDate = 1 << 53

// dateClaim reads a NumericDate (RFC 7519 §2: seconds since the epoch,
// possibly fractional).
func dateClaim(m map[string]any, name string, required bool) (time.Time, error) {
	v, ok := m[name]
	if !ok {
		if required {
			return time.Time{}, refuse(ReasonMalformed, name+" is required")
		}
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, refuse(ReasonMalformed, name+" is not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return time.Time{}, refuse(ReasonMalformed, name+" is not a valid NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func checkTimes(c Claims, p JWTPolicy, now time.Time) error {
	if now.After(c.ExpiresAt.Add(p.Leeway)) {
		return refuse(ReasonExpired, "exp "+c.ExpiresAt.Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Add(p.Leeway).Before(c.NotBefore) {
		return refuse(ReasonNotYetValid, "nbf "+c.NotBefore.Format(time.RFC3339))
	}
	// A token issued in the future was minted by a clock that is wrong or
	// by someone stretching its lifetime; either way, not yet.
	if !c.IssuedAt.IsZero() && now.Add(p.Leeway).Before(c.IssuedAt) {
		return refuse(ReasonNotYetValid, "iat "+c.IssuedAt.Format(time.RFC3339))
	}
	if p.MaxLifetime > 0 {
		start := now
		switch {
		case !c.IssuedAt.IsZero():
			start = c.IssuedAt
		case !c.NotBefore.IsZero():
			start = c.NotBefore
		}
		if c.ExpiresAt.Sub(start) > p.MaxLifetime {
			return refuse(ReasonTooLongLived, fmt.Sprintf("lifetime %s exceeds %s", c.ExpiresAt.Sub(start), p.MaxLifetime))
		}
	}
	return nil
}

func sign(secret []byte, signingInput string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signingInput))
	return m.Sum(nil)
}

// MintJWT returns an HS256 token for c, with kid in the header when it is
// not empty. It is what a host site's server does (and what the docs and
// tests use); infergate itself never needs to mint. Extra claims may not
// shadow the registered ones, so that a token's meaning is not ambiguous.
func MintJWT(secret []byte, kid string, c Claims) (string, error) {
	if c.Subject == "" {
		return "", fmt.Errorf("identity: mint: %w: sub is required", ErrMalformed)
	}
	if c.ExpiresAt.IsZero() {
		return "", fmt.Errorf("identity: mint: %w: exp is required", ErrMalformed)
	}
	payload := make(map[string]any, len(c.Extra)+6)
	for k, v := range c.Extra {
		if registered[k] {
			return "", fmt.Errorf("identity: mint: %w: extra claim %q shadows a registered claim", ErrMalformed, k)
		}
		payload[k] = v
	}
	payload["sub"] = c.Subject
	payload["exp"] = c.ExpiresAt.Unix()
	if c.Name != "" {
		payload["name"] = c.Name
	}
	if c.Email != "" {
		payload["email"] = c.Email
	}
	if !c.IssuedAt.IsZero() {
		payload["iat"] = c.IssuedAt.Unix()
	}
	if !c.NotBefore.IsZero() {
		payload["nbf"] = c.NotBefore.Unix()
	}
	h, err := json.Marshal(jwtHeader{Alg: algHS256, Typ: "JWT", Kid: kid})
	if err != nil {
		return "", fmt.Errorf("identity: mint: header: %w", err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("identity: mint: payload: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return input + "." + b64.EncodeToString(sign(secret, input)), nil
}
