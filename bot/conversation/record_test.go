package conversation

import (
	"errors"
	"testing"
)

func TestDecodeRejects(t *testing.T) {
	for name, b := range map[string]string{
		"not JSON":       `{`,
		"newer version":  `{"v":2,"rec":{"id":"c","status":"bot"}}`,
		"no version":     `{"rec":{"id":"c","status":"bot"}}`,
		"unknown status": `{"v":1,"rec":{"id":"c","status":"closed"}}`,
		"no id":          `{"v":1,"rec":{"status":"bot"}}`,
	} {
		if _, err := decodeConversation([]byte(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeConversation = %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := decodeTurn([]byte(`{"v":1,"rec":{"n":1,"role":"system"}}`)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("turn with an unknown role: %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeRecords: arbitrary bytes never panic the decoders, and what
// they accept re-encodes to bytes that decode to the same encoding.
func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte(`{"v":1,"rec":{"id":"c","bot":"acme","status":"handed_off","turns":3}}`))
	f.Add([]byte(`{"v":1,"rec":{"n":2,"role":"bot","user":"q","answer":"a","citations":[{"document":"d","chunk":1}],"ttft_ns":5}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeConversation(b); err == nil {
			e, err := encode(c)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := decodeConversation(e)
			if err != nil {
				t.Fatalf("re-encoded conversation does not decode: %v", err)
			}
			if e2, _ := encode(c2); string(e2) != string(e) {
				t.Fatalf("conversation encoding not stable:\n%s\n%s", e, e2)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if tr, err := decodeTurn(b); err == nil {
			e, err := encode(tr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeTurn(e); err != nil {
				t.Fatalf("re-encoded turn does not decode: %v", err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}
