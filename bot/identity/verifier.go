package identity

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for a Config that leaves them zero.
const (
	// DefaultLeeway absorbs ordinary clock skew without stretching a
	// token's life noticeably.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxLifetime is a working day: a host site mints a token per
	// page load or session, so a longer one is a mistake or a leak.
	DefaultMaxLifetime = 24 * time.Hour
)

// Config is one bot's identity settings.
type Config struct {
	// HMACSecret enables user hashes; nil disables them.
	HMACSecret []byte
	// JWTSecret is the key for tokens without a kid; nil refuses them.
	JWTSecret []byte
	// JWTKeys are keys by kid, so that a host site can rotate secrets:
	// a token naming a kid not listed here is refused.
	JWTKeys map[string][]byte
	// AllowAnonymous lets a request that presents nothing through as an
	// anonymous user (bound to a conversation secret by the caller).
	AllowAnonymous bool
	// Leeway and MaxLifetime for JWTs; zero means the default. A negative
	// MaxLifetime means no limit (not recommended).
	Leeway      time.Duration
	MaxLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Credentials are what a request presented. At most one method may be
// used: a user id with its hash, or a bearer token.
type Credentials struct {
	UserID   string
	UserHash string
	// Bearer is the JWT without the "Bearer " prefix.
	Bearer string
}

// User is a verified end user.
type User struct {
	// ID is empty for an anonymous user.
	ID string
	// Verified says the id was signed by the host site. It is false only
	// for anonymous users: an unsigned id is refused, never returned.
	Verified bool
	Name     string
	Email    string
	// Claims are the JWT's other claims, nil for a user hash.
	Claims map[string]any
}

// Anonymous reports whether u is an anonymous user.
func (u User) Anonymous() bool { return u.ID == "" }

// Verifier checks the credentials presented to one bot. It is safe for
// concurrent use.
type Verifier struct {
	cfg    Config
	policy JWTPolicy
}

// ErrNoMethod is returned by NewVerifier for a bot that enables no
// identity method at all: every request would be refused.
var ErrNoMethod = errors.New("identity: no identity method enabled (set a user-hash secret, a JWT secret or allow_anonymous)")

// NewVerifier returns a verifier for cfg. The secrets are copied, so the
// caller may reuse its slices.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.HMACSecret) == 0 && len(cfg.JWTSecret) == 0 && len(cfg.JWTKeys) == 0 && !cfg.AllowAnonymous {
		return nil, ErrNoMethod
	}
	for kid, k := range cfg.JWTKeys {
		if kid == "" || len(k) == 0 {
			return nil, fmt.Errorf("identity: JWT key %q: %w: kid and key must be non-empty", kid, ErrMalformed)
		}
	}
	v := &Verifier{cfg: cfg, policy: JWTPolicy{Leeway: cfg.Leeway, MaxLifetime: cfg.MaxLifetime}}
	v.cfg.HMACSecret = clone(cfg.HMACSecret)
	v.cfg.JWTSecret = clone(cfg.JWTSecret)
	v.cfg.JWTKeys = make(map[string][]byte, len(cfg.JWTKeys))
	for kid, k := range cfg.JWTKeys {
		v.cfg.JWTKeys[kid] = clone(k)
	}
	if v.policy.Leeway == 0 {
		v.policy.Leeway = DefaultLeeway
	}
	switch {
	case v.policy.MaxLifetime == 0:
		v.policy.MaxLifetime = DefaultMaxLifetime
	case v.policy.MaxLifetime < 0:
		v.policy.MaxLifetime = 0
	}
	if v.cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	return v, nil
}

// Verify returns the user the credentials prove, or a *TokenError. Nothing
// presented is an anonymous user when the bot allows that. A user id
// without its hash is refused even then: an unsigned id must never pass
// for someone's identity, and silently dropping it would surprise a host
// site that forgot to sign.
func (v *Verifier) Verify(c Credentials) (User, error) {
	hasHash := c.UserID != "" || c.UserHash != ""
	switch {
	case hasHash && c.Bearer != "":
		return User{}, refuse(ReasonMalformed, "both a user hash and a bearer token presented")
	case c.Bearer != "":
		return v.verifyJWT(c.Bearer)
	case c.UserHash != "":
		return v.verifyUserHash(c.UserID, c.UserHash)
	case c.UserID != "":
		return User{}, refuse(ReasonMissingCredentials, "user id presented without user hash")
	case v.cfg.AllowAnonymous:
		return User{}, nil
	default:
		return User{}, refuse(ReasonMissingCredentials, "this bot requires an identity")
	}
}

func (v *Verifier) verifyUserHash(id, hash string) (User, error) {
	if len(v.cfg.HMACSecret) == 0 {
		return User{}, refuse(ReasonMethodDisabled, "user hashes are not enabled")
	}
	if err := VerifyUserHash(v.cfg.HMACSecret, id, hash); err != nil {
		return User{}, err
	}
	return User{ID: id, Verified: true}, nil
}

func (v *Verifier) verifyJWT(token string) (User, error) {
	if len(v.cfg.JWTSecret) == 0 && len(v.cfg.JWTKeys) == 0 {
		return User{}, refuse(ReasonMethodDisabled, "JWTs are not enabled")
	}
	c, err := ParseJWT(token, v.key, v.policy, v.cfg.Now())
	if err != nil {
		return User{}, err
	}
	return User{ID: c.Subject, Verified: true, Name: c.Name, Email: c.Email, Claims: c.Extra}, nil
}

// key is the verifier's KeyFunc: a kid must be one of JWTKeys; no kid
// means JWTSecret.
func (v *Verifier) key(kid string) ([]byte, bool) {
	if kid == "" {
		return v.cfg.JWTSecret, len(v.cfg.JWTSecret) > 0
	}
	k, ok := v.cfg.JWTKeys[kid]
	return k, ok
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
