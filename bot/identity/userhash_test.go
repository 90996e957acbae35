package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestUserHashKnownVector(t *testing.T) {
	// Computed independently (Python's hmac module), as a host site would.
	const want = "455f2f3f090b7720a9d0e5f798b1a5a207ac19fa78bcc8549270ced9149660e8"
	if got := UserHash([]byte("chatwoot-identity-secret"), "user-42"); got != want {
		t.Fatalf("UserHash = %s, want %s", got, want)
	}
}

func TestVerifyUserHash(t *testing.T) {
	secret := []byte("chatwoot-identity-secret")
	good := UserHash(secret, "user-42")
	tests := []struct {
		name   string
		secret []byte
		userID string
		hash   string
		want   error
	}{
		{"valid", secret, "user-42", good, nil},
		{"upper-case hex", secret, "user-42", strings.ToUpper(good), nil},
		{"other user's hash", secret, "user-43", good, ErrForged},
		{"other secret", []byte("another secret"), "user-42", good, ErrForged},
		{"one digit flipped", secret, "user-42", flipLastHex(good), ErrForged},
		{"truncated", secret, "user-42", good[:63], ErrMalformed},
		{"too long", secret, "user-42", good + "0", ErrMalformed},
		{"not hex", secret, "user-42", strings.Repeat("zz", 32), ErrMalformed},
		{"empty hash", secret, "user-42", "", ErrMalformed},
		{"empty user id", secret, "", UserHash(secret, ""), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyUserHash(tt.secret, tt.userID, tt.hash)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyUserHash = %v, want %v", err, tt.want)
			}
			var te *TokenError
			if err != nil && !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TokenError", err)
			}
		})
	}
}

func flipLastHex(h string) string {
	last := h[len(h)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return h[:len(h)-1] + string(repl)
}

func FuzzVerifyUserHash(f *testing.F) {
	secret := []byte("fuzz-secret")
	f.Add("user-42", UserHash(secret, "user-42"))
	f.Add("user-42", strings.ToUpper(UserHash(secret, "user-42")))
	f.Add("", UserHash(secret, ""))
	f.Add("user-42", "not a hash")
	f.Fuzz(func(t *testing.T, userID, hash string) {
		err := VerifyUserHash(secret, userID, hash)
		// The oracle: accepted exactly when the hash is the right one,
		// in either case, for a non-empty user id.
		want := userID != "" && strings.EqualFold(hash, UserHash(secret, userID))
		if (err == nil) != want {
			t.Fatalf("VerifyUserHash(%q, %q) = %v, want accepted=%v", userID, hash, err, want)
		}
		var te *TokenError
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("error %T is not a *TokenError", err)
		}
	})
}
