package handoff

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignatureRoundTrip(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"t1"}`)
	at := time.Unix(1767225600, 0)
	h := Sign(body, secret, at)
	if !strings.HasPrefix(h, "t=1767225600,v1=") || len(h) != len("t=1767225600,v1=")+64 {
		t.Fatalf("Sign = %q, want t=1767225600,v1=<64 hex>", h)
	}
	if err := VerifySignature(h, body, secret, time.Minute, at.Add(30*time.Second)); err != nil {
		t.Fatalf("VerifySignature(own signature) = %v", err)
	}
}

func TestSignatureKnownVector(t *testing.T) {
	// hex(HMAC-SHA256("whsec_test", `1767225600.{"id":"t1"}`)), computed
	// with Python's hmac module, as a receiver in another language would.
	const want = "t=1767225600,v1=5b4d4eb084ac34d97f7a0f5363e994722f91bd6e75bffbbf3118b3089e3e801d"
	if got := Sign([]byte(`{"id":"t1"}`), []byte("whsec_test"), time.Unix(1767225600, 0)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"t1","reason":"unanswerable"}`)
	at := time.Unix(1767225600, 0)
	good := Sign(body, secret, at)
	goodV1 := strings.TrimPrefix(good, "t=1767225600,")
	other := strings.TrimPrefix(Sign(body, []byte("old secret"), at), "t=1767225600,")
	ts := "t=" + strconv.FormatInt(at.Unix(), 10)

	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, at, nil},
		{"valid, spaces after commas", ts + ", " + goodV1, body, at, nil},
		{"rotation: second v1 matches", ts + "," + other + "," + goodV1, body, at, nil},
		{"other schemes ignored", ts + ",v0=abc," + goodV1, body, at, nil},
		{"at the edge of the tolerance", good, body, at.Add(5 * time.Minute), nil},
		{"replayed after the tolerance", good, body, at.Add(5*time.Minute + time.Second), ErrSignatureExpired},
		{"timestamp in the future", good, body, at.Add(-6 * time.Minute), ErrSignatureExpired},
		{"body tampered", good, []byte(`{"id":"t1","reason":"asked_for_human"}`), at, ErrSignatureMismatch},
		{"signed with another secret", ts + "," + other, body, at, ErrSignatureMismatch},
		{"timestamp changed", "t=1767225601," + goodV1, body, at, ErrSignatureMismatch},
		{"no timestamp", goodV1, body, at, ErrSignatureMalformed},
		{"two timestamps", ts + "," + ts + "," + goodV1, body, at, ErrSignatureMalformed},
		{"timestamp not a number", "t=soon," + goodV1, body, at, ErrSignatureMalformed},
		{"negative timestamp", "t=-1," + goodV1, body, at, ErrSignatureMalformed},
		{"no v1", ts + ",v0=" + strings.Repeat("0", 64), body, at, ErrSignatureMalformed},
		{"v1 not hex", ts + ",v1=" + strings.Repeat("z", 64), body, at, ErrSignatureMalformed},
		{"item without =", ts + ",v1", body, at, ErrSignatureMalformed},
		{"empty", "", body, at, ErrSignatureMalformed},
		{"too long", ts + strings.Repeat(",v1="+strings.Repeat("0", 64), 20), body, at, ErrSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.header, tt.body, secret, 5*time.Minute, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifySignatureZeroToleranceIsDefault(t *testing.T) {
	secret := []byte("s")
	at := time.Unix(1767225600, 0)
	h := Sign(nil, secret, at)
	if err := VerifySignature(h, nil, secret, 0, at.Add(DefaultSignatureTolerance-time.Second)); err != nil {
		t.Fatalf("within the default tolerance: %v", err)
	}
	if err := VerifySignature(h, nil, secret, 0, at.Add(DefaultSignatureTolerance+time.Second)); !errors.Is(err, ErrSignatureExpired) {
		t.Fatalf("zero tolerance must not disable the replay check: %v", err)
	}
}

func FuzzSignatureHeader(f *testing.F) {
	secret := []byte("whsec_fuzz")
	body := []byte(`{"id":"t1"}`)
	at := time.Unix(1767225600, 0)
	good := Sign(body, secret, at)
	f.Add(good)
	f.Add(good + ",v1=00")
	f.Add("t=1767225600")
	f.Add("t=,v1=")
	f.Add("v1=" + strings.Repeat("a", 64) + ",t=1")
	f.Fuzz(func(t *testing.T, header string) {
		err := VerifySignature(header, body, secret, time.Minute, at)
		if err == nil {
			// Only a header carrying the real MAC for this timestamp can
			// pass; the fuzzer cannot compute one, so it must have kept it.
			ts, _, perr := parseSignatureHeader(header)
			if perr != nil {
				t.Fatalf("accepted a header the parser refuses: %q", header)
			}
			want := Sign(body, secret, time.Unix(ts, 0))
			if !strings.Contains(strings.ToLower(header), strings.TrimPrefix(want, "t="+strconv.FormatInt(ts, 10)+",")) {
				t.Fatalf("accepted %q without the real signature %q", header, want)
			}
			return
		}
		if !errors.Is(err, ErrSignatureMalformed) && !errors.Is(err, ErrSignatureMismatch) && !errors.Is(err, ErrSignatureExpired) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}
