package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"30", 30 * time.Second},
		{" 30 ", 30 * time.Second},
		{"-5", 0},
		{"+5", 0},
		{"1.5", 0},
		{"99999999999999999999", Max},
		{"86401", Max},
		{"Sun, 01 Mar 2026 12:01:30 GMT", 90 * time.Second},
		{"Sunday, 01-Mar-26 12:01:30 GMT", 90 * time.Second}, // RFC 850
		{"Sun Mar  1 12:01:30 2026", 90 * time.Second},       // asctime
		{"Sat, 28 Feb 2026 12:00:00 GMT", 0},                 // past
		{"Sun, 01 Mar 2027 12:00:00 GMT", Max},
		{"soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Parse(tt.in, now); got != tt.want {
				t.Fatalf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "30", "Sun, 01 Mar 2026 12:01:30 GMT", "-1", "18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := Parse(v, now); d < 0 || d > Max {
			t.Fatalf("Parse(%q) = %s, outside [0, %s]", v, d, Max)
		}
	})
}
