package identity

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestNewConversationSecret(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		s, d := NewConversationSecret()
		if len(s) != 43 {
			t.Fatalf("secret %q has length %d, want 43 (32 bytes, base64url, no padding)", s, len(s))
		}
		if strings.ContainsAny(s, "+/=") {
			t.Fatalf("secret %q is not base64url without padding", s)
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
		if err := VerifyConversationSecret(d, s); err != nil {
			t.Fatalf("fresh secret refused: %v", err)
		}
	}
}

func TestHashConversationSecretIsSHA256(t *testing.T) {
	d := HashConversationSecret("abc")
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := hex.EncodeToString(d[:]); got != want {
		t.Fatalf("digest = %s, want %s", got, want)
	}
}

func TestVerifyConversationSecret(t *testing.T) {
	secret, digest := NewConversationSecret()
	other, _ := NewConversationSecret()
	tests := []struct {
		name      string
		presented string
		want      error
	}{
		{"right secret", secret, nil},
		{"another conversation's secret", other, ErrForged},
		{"empty", "", ErrMalformed},
		{"truncated", secret[:42], ErrMalformed},
		{"padded", secret + "=", ErrMalformed},
		{"standard base64 alphabet", strings.Repeat("+", 43), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyConversationSecret(digest, tt.presented)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyConversationSecret = %v, want %v", err, tt.want)
			}
		})
	}
}
