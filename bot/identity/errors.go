package identity

import "errors"

// Reason says why a presented identity was refused. The values are stable,
// low-cardinality labels for logs and metrics.
type Reason string

// The reasons a credential is refused.
const (
	// ReasonMalformed: not a token or hash of the expected shape, or a
	// required claim (exp, sub) is missing or of the wrong type.
	ReasonMalformed Reason = "malformed"
	// ReasonBadSignature: well formed but not signed with the bot's secret.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonExpired: exp (plus leeway) has passed.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: nbf, or iat, lies in the future beyond the leeway.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonTooLongLived: exp lies further from the token's start than the
	// bot's maximum lifetime allows.
	ReasonTooLongLived Reason = "too_long_lived"
	// ReasonUnsupportedAlg: the JWT header names an alg other than HS256,
	// or a critical extension this verifier does not implement.
	ReasonUnsupportedAlg Reason = "unsupported_alg"
	// ReasonUnknownKey: the JWT header names a kid the bot has no key for.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonMissingCredentials: nothing was presented (or a user id without
	// its hash) and the bot does not allow anonymous conversations.
	ReasonMissingCredentials Reason = "missing_credentials"
	// ReasonMethodDisabled: the request used a method (user hash, JWT) the
	// bot has no secret for.
	ReasonMethodDisabled Reason = "method_disabled"
)

// Sentinels, one per Reason, so that callers can use errors.Is without
// looking at the reason string.
var (
	ErrMalformed          = errors.New("identity: malformed credential")
	ErrForged             = errors.New("identity: signature does not match")
	ErrExpired            = errors.New("identity: token expired")
	ErrNotYetValid        = errors.New("identity: token not yet valid")
	ErrTooLongLived       = errors.New("identity: token lifetime exceeds the maximum")
	ErrUnsupportedAlg     = errors.New("identity: unsupported token algorithm")
	ErrUnknownKey         = errors.New("identity: unknown key id")
	ErrMissingCredentials = errors.New("identity: no credentials presented")
	ErrMethodDisabled     = errors.New("identity: identity method not enabled for this bot")
)

var sentinels = map[Reason]error{
	ReasonMalformed:          ErrMalformed,
	ReasonBadSignature:       ErrForged,
	ReasonExpired:            ErrExpired,
	ReasonNotYetValid:        ErrNotYetValid,
	ReasonTooLongLived:       ErrTooLongLived,
	ReasonUnsupportedAlg:     ErrUnsupportedAlg,
	ReasonUnknownKey:         ErrUnknownKey,
	ReasonMissingCredentials: ErrMissingCredentials,
	ReasonMethodDisabled:     ErrMethodDisabled,
}

// TokenError is a refused credential: a user hash, a JWT or a conversation
// secret. Detail is for logs, never for the client: telling a forger which
// check failed helps the forger.
type TokenError struct {
	Reason Reason
	Detail string
}

func (e *TokenError) Error() string {
	msg := "identity: " + string(e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel for the reason, so errors.Is(err, ErrExpired)
// holds for an expired token.
func (e *TokenError) Unwrap() error { return sentinels[e.Reason] }

func refuse(r Reason, detail string) *TokenError {
	return &TokenError{Reason: r, Detail: detail}
}
