package conversation

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Owner is who asks for a conversation: the end user, identified by the
// caller (bot/identity verifies the token), or an anonymous holder of the
// conversation's secret. Every end-user method takes one, and a
// conversation that belongs to someone else is ErrNotFound.
type Owner struct {
	// UserID is the end user's id; empty for an anonymous user.
	UserID string
	// Verified says UserID came from a signed identity token.
	Verified bool
	// Secret is an anonymous conversation's secret, as Create returned it.
	Secret string
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// owns reports whether o may read and write c. A conversation of a
// verified user needs a verified owner with that id (an unverified claim
// of the same id is not enough); an anonymous one needs its secret,
// compared in constant time.
func (o Owner) owns(c *Conversation) bool {
	if c.UserID != "" {
		return o.UserID == c.UserID && (o.Verified || !c.UserVerified)
	}
	if o.UserID != "" || o.Secret == "" || len(c.SecretHash) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(hashSecret(o.Secret), c.SecretHash) == 1
}
