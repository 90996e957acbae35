package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("host-site-jwt-secret")
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testPolicy = JWTPolicy{Leeway: 30 * time.Second, MaxLifetime: 24 * time.Hour}
)

// craft builds a token from any header and payload, signed with the given
// hash and secret, so that tests can produce what no honest minter would.
func craft(t testing.TB, header, payload any, h func() hash.Hash, secret []byte) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(payload)
	var sig []byte
	if h != nil {
		m := hmac.New(h, secret)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hs256Header() map[string]any { return map[string]any{"alg": "HS256", "typ": "JWT"} }

func validPayload() map[string]any {
	return map[string]any{
		"sub":   "user-42",
		"name":  "Ada",
		"email": "ada@example.com",
		"iat":   testNow.Add(-time.Minute).Unix(),
		"exp":   testNow.Add(time.Hour).Unix(),
		"plan":  "pro",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func defaultKey(kid string) ([]byte, bool) {
	switch kid {
	case "":
		return testSecret, true
	case "2026-03":
		return []byte("rotated-secret"), true
	}
	return nil, false
}

func TestParseJWTValid(t *testing.T) {
	tok := craft(t, hs256Header(), validPayload(), sha256.New, testSecret)
	c, err := ParseJWT(tok, defaultKey, testPolicy, testNow)
	if err != nil {
		t.Fatalf("ParseJWT: %v", err)
	}
	if c.Subject != "user-42" || c.Name != "Ada" || c.Email != "ada@example.com" {
		t.Fatalf("claims = %+v", c)
	}
	if !c.ExpiresAt.Equal(testNow.Add(time.Hour)) || !c.IssuedAt.Equal(testNow.Add(-time.Minute)) {
		t.Fatalf("times: exp %v iat %v", c.ExpiresAt, c.IssuedAt)
	}
	if len(c.Extra) != 1 || c.Extra["plan"] != "pro" {
		t.Fatalf("extra = %v, want only plan=pro", c.Extra)
	}
}

func TestParseJWTRefusals(t *testing.T) {
	valid := craft(t, hs256Header(), validPayload(), sha256.New, testSecret)
	parts := strings.Split(valid, ".")
	tampered := craft(t, hs256Header(), with(validPayload(), "sub", "admin"), sha256.New, testSecret)
	tamperedParts := strings.Split(tampered, ".")

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"signed with another secret", craft(t, hs256Header(), validPayload(), sha256.New, []byte("guess")), ErrForged},
		{"payload swapped after signing", parts[0] + "." + tamperedParts[1] + "." + parts[2], ErrForged},
		{"signature truncated", valid[:len(valid)-3], ErrForged},
		{"signature cut to an invalid length", valid[:len(valid)-2], ErrMalformed},
		{"signature removed", parts[0] + "." + parts[1] + ".", ErrForged},
		{"alg none, no signature", craft(t, map[string]any{"alg": "none"}, validPayload(), nil, nil), ErrUnsupportedAlg},
		{"alg None", craft(t, map[string]any{"alg": "None"}, validPayload(), nil, nil), ErrUnsupportedAlg},
		{"alg lower-case hs256", craft(t, map[string]any{"alg": "hs256"}, validPayload(), sha256.New, testSecret), ErrUnsupportedAlg},
		{"alg HS512 signed with HS512", craft(t, map[string]any{"alg": "HS512"}, validPayload(), sha512.New, testSecret), ErrUnsupportedAlg},
		// The classic confusion: an RS256 header over an HMAC signature
		// whose key is the verifier's (public) key material.
		{"RS256 header with HMAC signature", craft(t, map[string]any{"alg": "RS256"}, validPayload(), sha256.New, testSecret), ErrUnsupportedAlg},
		{"alg missing", craft(t, map[string]any{"typ": "JWT"}, validPayload(), sha256.New, testSecret), ErrUnsupportedAlg},
		{"crit extension", craft(t, map[string]any{"alg": "HS256", "crit": []string{"b64"}, "b64": false}, validPayload(), sha256.New, testSecret), ErrUnsupportedAlg},
		{"unknown kid", craft(t, map[string]any{"alg": "HS256", "kid": "2019"}, validPayload(), sha256.New, testSecret), ErrUnknownKey},
		{"known kid, signed with the default key", craft(t, map[string]any{"alg": "HS256", "kid": "2026-03"}, validPayload(), sha256.New, testSecret), ErrForged},
		{"typ not JWT", craft(t, map[string]any{"alg": "HS256", "typ": "at+jwt+xml"}, validPayload(), sha256.New, testSecret), ErrMalformed},
		{"missing exp", craft(t, hs256Header(), with(validPayload(), "exp", nil), sha256.New, testSecret), ErrMalformed},
		{"exp as string", craft(t, hs256Header(), with(validPayload(), "exp", "tomorrow"), sha256.New, testSecret), ErrMalformed},
		{"exp absurd", craft(t, hs256Header(), with(validPayload(), "exp", 1e300), sha256.New, testSecret), ErrMalformed},
		{"missing sub", craft(t, hs256Header(), with(validPayload(), "sub", nil), sha256.New, testSecret), ErrMalformed},
		{"empty sub", craft(t, hs256Header(), with(validPayload(), "sub", ""), sha256.New, testSecret), ErrMalformed},
		{"numeric sub", craft(t, hs256Header(), with(validPayload(), "sub", 42), sha256.New, testSecret), ErrMalformed},
		{"email not a string", craft(t, hs256Header(), with(validPayload(), "email", true), sha256.New, testSecret), ErrMalformed},
		{"payload an array", craft(t, hs256Header(), []int{1}, sha256.New, testSecret), ErrMalformed},
		{"payload not JSON", craft(t, hs256Header(), "{", sha256.New, testSecret), ErrMalformed},
		{"payload with trailing data", craft(t, hs256Header(), `{"sub":"a","exp":9999999999}}`, sha256.New, testSecret), ErrMalformed},
		{"expired", craft(t, hs256Header(), with(validPayload(), "exp", testNow.Add(-time.Minute).Unix()), sha256.New, testSecret), ErrExpired},
		{"nbf in the future", craft(t, hs256Header(), with(validPayload(), "nbf", testNow.Add(5*time.Minute).Unix()), sha256.New, testSecret), ErrNotYetValid},
		{"iat in the future", craft(t, hs256Header(), with(validPayload(), "iat", testNow.Add(5*time.Minute).Unix()), sha256.New, testSecret), ErrNotYetValid},
		{"valid for a year", craft(t, hs256Header(), with(validPayload(), "exp", testNow.Add(365*24*time.Hour).Unix()), sha256.New, testSecret), ErrTooLongLived},
		{"valid for two days, no iat", craft(t, hs256Header(), with(validPayload(), "iat", nil, "exp", testNow.Add(48*time.Hour).Unix()), sha256.New, testSecret), ErrTooLongLived},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", valid + ".x", ErrMalformed},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not base64url", "!!!." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("HS256")) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"empty", "", ErrMalformed},
		{"huge", strings.Repeat("a", MaxTokenLen+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJWT(tt.token, defaultKey, testPolicy, testNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseJWT = %v, want %v", err, tt.want)
			}
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TokenError", err)
			}
		})
	}
}

func TestParseJWTTimeBoundaries(t *testing.T) {
	tests := []struct {
		name    string
		payload map[string]any
		want    error
	}{
		{"expired within leeway", with(validPayload(), "exp", testNow.Add(-20*time.Second).Unix()), nil},
		{"expired just past leeway", with(validPayload(), "exp", testNow.Add(-31*time.Second).Unix()), ErrExpired},
		{"nbf within leeway", with(validPayload(), "nbf", testNow.Add(20*time.Second).Unix()), nil},
		{"exactly the max lifetime", with(validPayload(), "iat", testNow.Unix(), "exp", testNow.Add(24*time.Hour).Unix()), nil},
		{"one second over the max lifetime", with(validPayload(), "iat", testNow.Unix(), "exp", testNow.Add(24*time.Hour+time.Second).Unix()), ErrTooLongLived},
		{"lifetime measured from nbf", with(validPayload(), "iat", nil, "nbf", testNow.Add(-time.Hour).Unix(), "exp", testNow.Add(23*time.Hour+time.Minute).Unix()), ErrTooLongLived},
		{"fractional exp", with(validPayload(), "exp", float64(testNow.Unix())+0.5), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := craft(t, hs256Header(), tt.payload, sha256.New, testSecret)
			_, err := ParseJWT(tok, defaultKey, testPolicy, testNow)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ParseJWT = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMintJWTRoundTrip(t *testing.T) {
	in := Claims{
		Subject:   "user-7",
		Name:      "Grace",
		Email:     "grace@example.com",
		IssuedAt:  testNow,
		NotBefore: testNow,
		ExpiresAt: testNow.Add(15 * time.Minute),
		Extra:     map[string]any{"tier": "gold", "orders": 3},
	}
	tests := []struct {
		name   string
		kid    string
		secret []byte
	}{
		{"default key", "", testSecret},
		{"rotated key", "2026-03", []byte("rotated-secret")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := MintJWT(tt.secret, tt.kid, in)
			if err != nil {
				t.Fatalf("MintJWT: %v", err)
			}
			out, err := ParseJWT(tok, defaultKey, testPolicy, testNow)
			if err != nil {
				t.Fatalf("ParseJWT(minted): %v", err)
			}
			if out.Subject != in.Subject || out.Name != in.Name || out.Email != in.Email ||
				!out.ExpiresAt.Equal(in.ExpiresAt) || !out.IssuedAt.Equal(in.IssuedAt) || !out.NotBefore.Equal(in.NotBefore) {
				t.Fatalf("round trip: got %+v, want %+v", out, in)
			}
			if out.Extra["tier"] != "gold" || out.Extra["orders"] != json.Number("3") {
				t.Fatalf("extra = %#v", out.Extra)
			}
		})
	}
}

func TestMintJWTRefuses(t *testing.T) {
	tests := []struct {
		name string
		c    Claims
	}{
		{"no sub", Claims{ExpiresAt: testNow}},
		{"no exp", Claims{Subject: "u"}},
		{"extra shadows sub", Claims{Subject: "u", ExpiresAt: testNow, Extra: map[string]any{"sub": "admin"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := MintJWT(testSecret, "", tt.c); !errors.Is(err, ErrMalformed) {
				t.Fatalf("MintJWT = %v, want ErrMalformed", err)
			}
		})
	}
}

func FuzzParseJWT(f *testing.F) {
	valid := craft(f, hs256Header(), validPayload(), sha256.New, testSecret)
	minted, err := MintJWT([]byte("rotated-secret"), "2026-03", Claims{Subject: "u", ExpiresAt: testNow.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	accepted := map[string]bool{valid: true, minted: true}
	for tok := range accepted {
		f.Add(tok)
	}
	f.Add(craft(f, map[string]any{"alg": "none"}, validPayload(), nil, nil))
	f.Add(craft(f, map[string]any{"alg": "RS256"}, validPayload(), sha256.New, testSecret))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ParseJWT(token, defaultKey, testPolicy, testNow)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || te.Unwrap() == nil {
				t.Fatalf("error %v (%T) is not a *TokenError with a sentinel", err, err)
			}
			return
		}
		// Strict base64 gives every token one encoding, so any change the
		// fuzzer makes to a valid token changes the signed bytes or the
		// signature: only the seeds themselves may be accepted.
		if !accepted[token] {
			t.Fatalf("accepted a token that was never signed: %q", token)
		}
		if c.Subject == "" || c.ExpiresAt.IsZero() {
			t.Fatalf("accepted claims without sub or exp: %+v", c)
		}
	})
}
