package identity

import (
	"errors"
	"testing"
	"time"
)

func newTestVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mint(t *testing.T, secret []byte, kid string, c Claims) string {
	t.Helper()
	tok, err := MintJWT(secret, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifierVerify(t *testing.T) {
	hmacSecret := []byte("user-hash-secret")
	full := Config{
		HMACSecret:     hmacSecret,
		JWTSecret:      testSecret,
		JWTKeys:        map[string][]byte{"2026-03": []byte("rotated-secret")},
		AllowAnonymous: true,
	}
	strict := Config{HMACSecret: hmacSecret, JWTSecret: testSecret}
	hashOnly := Config{HMACSecret: hmacSecret}
	anonOnly := Config{AllowAnonymous: true}

	short := Claims{Subject: "user-9", Email: "u9@example.com", IssuedAt: testNow, ExpiresAt: testNow.Add(10 * time.Minute), Extra: map[string]any{"plan": "pro"}}
	yearLong := Claims{Subject: "user-9", IssuedAt: testNow, ExpiresAt: testNow.Add(365 * 24 * time.Hour)}

	tests := []struct {
		name     string
		cfg      Config
		creds    Credentials
		wantErr  error
		wantUser User
	}{
		{"user hash", full, Credentials{UserID: "u1", UserHash: UserHash(hmacSecret, "u1")}, nil, User{ID: "u1", Verified: true}},
		{"forged user hash", full, Credentials{UserID: "u1", UserHash: UserHash([]byte("guess"), "u1")}, ErrForged, User{}},
		{"user id without hash, anonymous allowed", full, Credentials{UserID: "u1"}, ErrMissingCredentials, User{}},
		{"user id without hash", strict, Credentials{UserID: "u1"}, ErrMissingCredentials, User{}},
		{"hash without user id", strict, Credentials{UserHash: UserHash(hmacSecret, "")}, ErrMalformed, User{}},
		{"jwt", full, Credentials{Bearer: mint(t, testSecret, "", short)}, nil, User{ID: "user-9", Verified: true, Email: "u9@example.com", Claims: map[string]any{"plan": "pro"}}},
		{"jwt with rotated kid", full, Credentials{Bearer: mint(t, []byte("rotated-secret"), "2026-03", short)}, nil, User{ID: "user-9", Verified: true, Email: "u9@example.com", Claims: map[string]any{"plan": "pro"}}},
		{"jwt valid for a year", full, Credentials{Bearer: mint(t, testSecret, "", yearLong)}, ErrTooLongLived, User{}},
		{"jwt signed with the user-hash secret", full, Credentials{Bearer: mint(t, hmacSecret, "", short)}, ErrForged, User{}},
		{"jwt when the bot has none", hashOnly, Credentials{Bearer: mint(t, testSecret, "", short)}, ErrMethodDisabled, User{}},
		{"user hash when the bot has none", anonOnly, Credentials{UserID: "u1", UserHash: UserHash(hmacSecret, "u1")}, ErrMethodDisabled, User{}},
		{"both methods at once", full, Credentials{UserID: "u1", UserHash: UserHash(hmacSecret, "u1"), Bearer: mint(t, testSecret, "", short)}, ErrMalformed, User{}},
		{"nothing, anonymous allowed", full, Credentials{}, nil, User{}},
		{"nothing, anonymous refused", strict, Credentials{}, ErrMissingCredentials, User{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := newTestVerifier(t, tt.cfg).Verify(tt.creds)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				var te *TokenError
				if !errors.As(err, &te) {
					t.Fatalf("error %T is not a *TokenError", err)
				}
				return
			}
			if u.ID != tt.wantUser.ID || u.Verified != tt.wantUser.Verified || u.Email != tt.wantUser.Email ||
				len(u.Claims) != len(tt.wantUser.Claims) || u.Claims["plan"] != tt.wantUser.Claims["plan"] {
				t.Fatalf("user = %+v, want %+v", u, tt.wantUser)
			}
			if u.Anonymous() != (tt.wantUser.ID == "") {
				t.Fatalf("Anonymous() = %v", u.Anonymous())
			}
		})
	}
}

func TestVerifierDefaultsAndClock(t *testing.T) {
	now := testNow
	v := newTestVerifier(t, Config{JWTSecret: testSecret, Now: func() time.Time { return now }})
	tok := mint(t, testSecret, "", Claims{Subject: "u", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Minute)})
	if _, err := v.Verify(Credentials{Bearer: tok}); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	now = testNow.Add(time.Minute + DefaultLeeway - time.Second)
	if _, err := v.Verify(Credentials{Bearer: tok}); err != nil {
		t.Fatalf("within the default leeway: %v", err)
	}
	now = testNow.Add(time.Minute + DefaultLeeway + time.Second)
	if _, err := v.Verify(Credentials{Bearer: tok}); !errors.Is(err, ErrExpired) {
		t.Fatalf("past the default leeway: %v, want ErrExpired", err)
	}
	long := mint(t, testSecret, "", Claims{Subject: "u", IssuedAt: testNow, ExpiresAt: testNow.Add(DefaultMaxLifetime + time.Hour)})
	now = testNow
	if _, err := v.Verify(Credentials{Bearer: long}); !errors.Is(err, ErrTooLongLived) {
		t.Fatalf("beyond the default max lifetime: %v, want ErrTooLongLived", err)
	}
}

func TestVerifierCopiesSecrets(t *testing.T) {
	secret := []byte("user-hash-secret")
	v := newTestVerifier(t, Config{HMACSecret: secret})
	hash := UserHash(secret, "u1")
	secret[0] ^= 0xff
	if _, err := v.Verify(Credentials{UserID: "u1", UserHash: hash}); err != nil {
		t.Fatalf("changing the caller's slice changed the verifier: %v", err)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no method", Config{}, ErrNoMethod},
		{"empty kid", Config{JWTKeys: map[string][]byte{"": []byte("k")}}, ErrMalformed},
		{"empty key", Config{JWTKeys: map[string][]byte{"k1": nil}}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("NewVerifier = %v, want %v", err, tt.want)
			}
		})
	}
}
