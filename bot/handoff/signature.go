package handoff

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the webhook signature, in the scheme Stripe uses
// for its webhooks: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
// Signing the timestamp with the body lets a receiver refuse replays of an
// old, validly signed request.
const SignatureHeader = "X-Infergate-Signature"

// DefaultSignatureTolerance is how far a signature's timestamp may be from
// the receiver's clock. Stripe's default; it also bounds how long a
// captured request can be replayed.
const DefaultSignatureTolerance = 5 * time.Minute

// maxSignatureHeader bounds the work spent on a presented header: one
// timestamp and a few v1 values (several during a secret rotation).
const maxSignatureHeader = 1024

// Signature verification failures. VerifySignature's errors wrap one of
// these.
var (
	ErrSignatureMalformed = errors.New("handoff: malformed signature header")
	ErrSignatureMismatch  = errors.New("handoff: no signature matches the body")
	ErrSignatureExpired   = errors.New("handoff: signature timestamp outside the tolerance")
)

// Sign returns the signature header value for body at time t.
func Sign(body, secret []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signatureMAC(secret, ts, body))
}

// VerifySignature checks a SignatureHeader value against the raw request
// body, as a receiver must before trusting a ticket. It accepts the header
// if any v1 value matches (a sender rotating secrets may send several) and
// the timestamp is within tolerance of now, in either direction; other
// schemes in the header are ignored, as Stripe's libraries do. A tolerance
// of zero or less means DefaultSignatureTolerance: there is no way to turn
// the replay check off.
func VerifySignature(header string, body []byte, secret []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	ts, sigs, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}
	want := signatureMAC(secret, strconv.FormatInt(ts, 10), body)
	matched := false
	for _, s := range sigs {
		// Every candidate is compared, so the time taken does not say
		// which one matched.
		if hmac.Equal(s, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	// Checked after the MAC, so that a forger learns nothing from which
	// check failed; the timestamp is only meaningful once it is signed.
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp is %s from now, tolerance %s", ErrSignatureExpired, d.Round(time.Second), tolerance)
	}
	return nil
}

// parseSignatureHeader reads "t=<int>,v1=<hex>[,v1=<hex>…][,<scheme>=…]".
// Exactly one t is required and at least one well-formed v1.
func parseSignatureHeader(header string) (ts int64, sigs [][]byte, err error) {
	if len(header) > maxSignatureHeader {
		return 0, nil, fmt.Errorf("%w: header longer than %d bytes", ErrSignatureMalformed, maxSignatureHeader)
	}
	haveT := false
	for item := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: item %q is not key=value", ErrSignatureMalformed, item)
		}
		switch k {
		case "t":
			if haveT {
				return 0, nil, fmt.Errorf("%w: more than one timestamp", ErrSignatureMalformed)
			}
			ts, err = strconv.ParseInt(v, 10, 64)
			// Far outside any tolerance, and outside what time.Unix and
			// Duration arithmetic handle without overflow.
			if err != nil || ts < 0 || ts > 1<<40 {
				return 0, nil, fmt.Errorf("%w: timestamp %q", ErrSignatureMalformed, v)
			}
			haveT = true
		case "v1":
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				continue // not a v1 we could have produced; it cannot match
			}
			sigs = append(sigs, s)
		}
	}
	if !haveT {
		return 0, nil, fmt.Errorf("%w: no timestamp", ErrSignatureMalformed)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1 signature", ErrSignatureMalformed)
	}
	return ts, sigs, nil
}

func signatureMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
