package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// conversationSecretBytes is the entropy of a conversation secret: 256
// bits, beyond any guessing.
const conversationSecretBytes = 32

// SecretDigest is the SHA-256 of a conversation secret: what the
// conversation store keeps instead of the secret itself. A plain hash is
// enough (no salt, no slow KDF) because the secret is 256 random bits, not
// a password.
type SecretDigest [sha256.Size]byte

// NewConversationSecret returns a fresh secret for an anonymous
// conversation, base64url without padding, and the digest to store. The
// secret is shown to the client once, at creation, and never again.
func NewConversationSecret() (secret string, digest SecretDigest) {
	b := make([]byte, conversationSecretBytes)
	// crypto/rand.Read never returns an error (it aborts the process if
	// the system's generator fails), so there is nothing to handle here.
	_, _ = rand.Read(b)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, HashConversationSecret(secret)
}

// HashConversationSecret returns the digest of a conversation secret.
func HashConversationSecret(secret string) SecretDigest {
	return sha256.Sum256([]byte(secret))
}

// VerifyConversationSecret checks a presented secret against the stored
// digest in constant time. A presented value of the wrong shape is
// malformed; one of the right shape that does not match is forged.
func VerifyConversationSecret(stored SecretDigest, presented string) error {
	if base64.RawURLEncoding.DecodedLen(len(presented)) != conversationSecretBytes {
		return refuse(ReasonMalformed, "conversation secret has the wrong length")
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(presented); err != nil {
		return refuse(ReasonMalformed, "conversation secret is not base64url")
	}
	got := HashConversationSecret(presented)
	if subtle.ConstantTimeCompare(got[:], stored[:]) != 1 {
		return refuse(ReasonBadSignature, "conversation secret does not match")
	}
	return nil
}
