package bench

import (
	"math"
	"testing"
	"time"
)

func TestParseLengthDist(t *testing.T) {
	tests := []struct {
		in      string
		want    LengthDist
		wantErr bool
	}{
		{"128", LengthDist{Kind: "fixed", A: 128}, false},
		{" 64-256 ", LengthDist{Kind: "uniform", A: 64, B: 256}, false},
		{"normal:128,32", LengthDist{Kind: "normal", A: 128, B: 32}, false},
		{"normal:128,0", LengthDist{Kind: "normal", A: 128, B: 0}, false},
		{"0", LengthDist{}, true},
		{"-5", LengthDist{}, true},
		{"256-64", LengthDist{}, true},
		{"abc", LengthDist{}, true},
		{"normal:128", LengthDist{}, true},
		{"normal:128,-1", LengthDist{}, true},
		{"2000000", LengthDist{}, true},
		{"NaN", LengthDist{}, true},
	}
	for _, tt := range tests {
		got, err := ParseLengthDist(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseLengthDist(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got != tt.want {
			t.Errorf("ParseLengthDist(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if back, err := ParseLengthDist(got.String()); err != nil || back != got {
			t.Errorf("%q: String() = %q does not round-trip", tt.in, got.String())
		}
	}
}

func TestLengthSample(t *testing.T) {
	r := newRand(1, 1)
	tests := []struct {
		dist     string
		lo, hi   int
		wantMean float64
	}{
		{"100", 100, 100, 100},
		{"10-20", 10, 20, 15},
		{"normal:50,10", 1, maxLength, 50},
		{"normal:2,10", 1, maxLength, -1}, // clipped at 1: mean not checked
	}
	for _, tt := range tests {
		d, err := ParseLengthDist(tt.dist)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		const n = 20000
		for range n {
			v := d.Sample(r)
			if v < tt.lo || v > tt.hi {
				t.Fatalf("%s: sample %d outside [%d, %d]", tt.dist, v, tt.lo, tt.hi)
			}
			sum += v
		}
		if mean := float64(sum) / n; tt.wantMean > 0 && math.Abs(mean-tt.wantMean) > 0.02*tt.wantMean {
			t.Errorf("%s: mean %v, want about %v", tt.dist, mean, tt.wantMean)
		}
	}
}

// TestArrivals checks the open-loop schedule's statistics: gaps have mean
// 1/rate and coefficient of variation 1/sqrt(burstiness) — 1 for Poisson —
// and for burstiness 1 the exponential's P(gap > mean) = 1/e.
func TestArrivals(t *testing.T) {
	const n = 200000
	for _, tt := range []struct{ rate, shape float64 }{
		{10, 1}, {10, 0.5}, {10, 0.1}, {250, 4}, {2, 1},
	} {
		a := &arrivals{rng: newRand(42, 7), rate: tt.rate, shape: tt.shape}
		var sum, sumsq float64
		above := 0
		mean := 1 / tt.rate
		for range n {
			g := a.next().Seconds()
			if g < 0 {
				t.Fatalf("negative gap %v", g)
			}
			sum += g
			sumsq += g * g
			if g > mean {
				above++
			}
		}
		m := sum / n
		sd := math.Sqrt(sumsq/n - m*m)
		cv, wantCV := sd/m, 1/math.Sqrt(tt.shape)
		if math.Abs(m-mean)/mean > 0.02 {
			t.Errorf("rate %v shape %v: mean gap %v, want %v", tt.rate, tt.shape, m, mean)
		}
		// The CV of a heavy-tailed gamma (small shape) converges slowly.
		if math.Abs(cv-wantCV)/wantCV > 0.04 {
			t.Errorf("rate %v shape %v: CV %v, want %v", tt.rate, tt.shape, cv, wantCV)
		}
		if tt.shape == 1 {
			if p := float64(above) / n; math.Abs(p-math.Exp(-1)) > 0.01 {
				t.Errorf("rate %v: P(gap > mean) = %v, want 1/e", tt.rate, p)
			}
		}
	}
}

func TestArrivalsDeterministic(t *testing.T) {
	a := &arrivals{rng: newRand(3, 9), rate: 5, shape: 0.7}
	b := &arrivals{rng: newRand(3, 9), rate: 5, shape: 0.7}
	for range 100 {
		if x, y := a.next(), b.next(); x != y {
			t.Fatalf("same seed, different gaps: %v vs %v", x, y)
		}
	}
	if g := (&arrivals{rng: newRand(1, 1), rate: 1e-9, shape: 1}).next(); g > 24*time.Hour {
		t.Errorf("gap %v exceeds the clamp", g)
	}
}
