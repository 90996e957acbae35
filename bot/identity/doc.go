// Package identity verifies who the end user of a support bot is.
//
// A host site that embeds the widget, or a backend that calls the
// conversation API, proves the user's identity in one of two ways, both
// signed with a per-bot secret that only the host site and infergate know:
//
//   - a user hash, the format Chatwoot and Intercom use for identity
//     validation: hex(HMAC-SHA256(secret, user_id)), presented beside the
//     user id;
//   - an HS256 JSON Web Token whose sub is the user id, with a short
//     expiry and optional name, email and custom claims.
//
// A bot may also allow anonymous conversations. Those are bound to a
// random conversation secret instead of a user: the secret is returned
// once when the conversation is created and only its SHA-256 digest is
// stored, so a leaked store does not let anyone write into a conversation.
//
// Invariants:
//   - every secret comparison is constant time (hmac.Equal or
//     subtle.ConstantTimeCompare), so timing reveals nothing about a
//     signature or a secret;
//   - a JWT is accepted only with alg exactly "HS256": "none", every other
//     HMAC size and every asymmetric alg (the classic RS256-with-HMAC
//     confusion) are refused before any signature is computed;
//   - a JWT must carry exp, and exp may not lie further from the token's
//     start than the bot's maximum lifetime: a host site cannot hand out
//     year-long tokens by mistake;
//   - the signature is checked before the payload is parsed, so claims of
//     a forged token are never looked at;
//   - an unsigned user id is never accepted as a verified identity.
//
// Every refusal is a *TokenError whose Reason is a low-cardinality label
// for logs and metrics and which unwraps to one of the Err… sentinels; the
// gateway answers all of them with 401.
package identity
