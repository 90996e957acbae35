package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	var b bytes.Buffer
	l := NewLine(&b)
	now := time.Now()
	if !l.Due(now) {
		t.Fatal("a new line is not due")
	}
	if l.Due(now.Add(Interval / 2)) {
		t.Fatal("due again within the interval")
	}
	if !l.Due(now.Add(Interval)) {
		t.Fatal("not due after the interval")
	}
	l.Draw("long text")
	l.Draw("short")
	l.Clear()
	l.Done("end")
	if got, want := b.String(), "\rlong text\rshort    \r     \r\rend\n"; got != want {
		t.Errorf("drew %q, want %q", got, want)
	}
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		frac float64
		want string
	}{{0, "[    ]"}, {0.5, "[==  ]"}, {1, "[====]"}, {2, "[====]"}, {-1, "[    ]"}} {
		if got := Bar(tc.frac, 4); got != tc.want {
			t.Errorf("Bar(%g) = %q, want %q", tc.frac, got, tc.want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	var b bytes.Buffer
	if IsTerminal(&b) || IsTerminal(nil) {
		t.Error("a buffer or nil is a terminal")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}
