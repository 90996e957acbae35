package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// userHashLen is the length of a hex-encoded HMAC-SHA256.
const userHashLen = 2 * sha256.Size

// UserHash returns hex(HMAC-SHA256(secret, userID)), the identity hash a
// host site computes on its server and hands to the widget beside the
// user id (the format Chatwoot and Intercom use).
func UserHash(secret []byte, userID string) string {
	return hex.EncodeToString(userHMAC(secret, userID))
}

// VerifyUserHash checks a presented user hash in constant time. Upper-case
// hex is accepted since some host-site libraries produce it; anything that
// is not 64 hex digits is malformed. An empty user id is refused: it would
// make every anonymous caller the same user.
func VerifyUserHash(secret []byte, userID, hash string) error {
	if userID == "" {
		return refuse(ReasonMalformed, "empty user id")
	}
	got, err := parseUserHash(hash)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, userHMAC(secret, userID)) {
		return refuse(ReasonBadSignature, "user hash does not match")
	}
	return nil
}

// parseUserHash decodes a presented user hash, refusing any other length
// before decoding so that the work is bounded by 64 bytes.
func parseUserHash(hash string) ([]byte, error) {
	if len(hash) != userHashLen {
		return nil, refuse(ReasonMalformed, "user hash is not 64 hex digits")
	}
	b, err := hex.DecodeString(hash)
	if err != nil {
		return nil, refuse(ReasonMalformed, "user hash is not hex")
	}
	return b, nil
}

func userHMAC(secret []byte, userID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(userID))
	return m.Sum(nil)
}
