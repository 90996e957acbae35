package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// maxLength bounds any requested token count so that a typo such as
// --input-tokens 1000000000 cannot make the harness build gigabyte prompts.
const maxLength = 1 << 20

// LengthDist is a distribution of token counts, used for synthetic prompt
// and output lengths. Its textual forms, accepted by ParseLengthDist and
// produced by String, are:
//
//	128              fixed
//	64-256           uniform over the closed interval
//	normal:128,32    normal with mean 128 and standard deviation 32,
//	                 clipped to [1, maxLength]
type LengthDist struct {
	Kind string  // "fixed", "uniform" or "normal"
	A, B float64 // fixed: A; uniform: [A, B]; normal: mean A, sd B
}

// ParseLengthDist parses one of the forms documented on LengthDist.
func ParseLengthDist(s string) (LengthDist, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (LengthDist, error) {
		return LengthDist{}, fmt.Errorf("length distribution %q: %s (want N, A-B or normal:MEAN,SD)", s, why)
	}
	positive := func(v string) (float64, bool) {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil && f >= 1 && f <= maxLength && !math.IsNaN(f)
	}
	switch {
	case strings.HasPrefix(s, "normal:"):
		mean, sd, ok := strings.Cut(strings.TrimPrefix(s, "normal:"), ",")
		if !ok {
			return bad("normal needs a mean and a standard deviation")
		}
		m, ok1 := positive(mean)
		d, err := strconv.ParseFloat(strings.TrimSpace(sd), 64)
		if !ok1 || err != nil || d < 0 || d > maxLength {
			return bad("mean must be in [1, 1048576] and sd in [0, 1048576]")
		}
		return LengthDist{Kind: "normal", A: m, B: d}, nil
	case strings.Contains(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		a, ok1 := positive(lo)
		b, ok2 := positive(hi)
		if !ok1 || !ok2 || a > b {
			return bad("bounds must satisfy 1 <= A <= B <= 1048576")
		}
		return LengthDist{Kind: "uniform", A: math.Round(a), B: math.Round(b)}, nil
	default:
		a, ok := positive(s)
		if !ok {
			return bad("must be a number in [1, 1048576]")
		}
		return LengthDist{Kind: "fixed", A: math.Round(a)}, nil
	}
}

// String returns the form ParseLengthDist accepts, so parameters written to
// a JSON report can be fed back to the command line.
func (d LengthDist) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch d.Kind {
	case "uniform":
		return f(d.A) + "-" + f(d.B)
	case "normal":
		return "normal:" + f(d.A) + "," + f(d.B)
	default:
		return f(d.A)
	}
}

// Mean is the distribution's expected value before clipping and rounding.
func (d LengthDist) Mean() float64 {
	if d.Kind == "uniform" {
		return (d.A + d.B) / 2
	}
	return d.A
}

// Sample draws one length, always in [1, maxLength].
func (d LengthDist) Sample(r *rand.Rand) int {
	var v float64
	switch d.Kind {
	case "uniform":
		v = d.A + float64(r.IntN(int(d.B-d.A)+1))
	case "normal":
		v = math.Round(d.A + d.B*r.NormFloat64())
	default:
		v = d.A
	}
	return int(min(max(v, 1), maxLength))
}

// arrivals produces the gaps between request starts of an open-loop level.
// Gaps are gamma-distributed with shape k (the burstiness) and mean 1/rate:
// k = 1 is a Poisson process (exponential gaps); k < 1 is burstier than
// Poisson, k > 1 more regular. The coefficient of variation is 1/sqrt(k).
type arrivals struct {
	rng   *rand.Rand
	rate  float64 // requests per second
	shape float64 // burstiness
}

// next returns the gap before the following arrival.
func (a *arrivals) next() time.Duration {
	secs := sampleGamma(a.rng, a.shape) / (a.shape * a.rate)
	// Clamp so that an absurd draw cannot overflow time.Duration.
	return time.Duration(min(secs, 24*3600) * float64(time.Second))
}

// sampleGamma draws from Gamma(shape, 1) with Marsaglia and Tsang's
// squeeze method (ACM TOMS 26(3), 2000), boosted for shape < 1 by the
// identity Gamma(k) = Gamma(k+1) * U^(1/k). math/rand has no gamma sampler.
func sampleGamma(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := r.Float64()
		return sampleGamma(r, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		x2 := x * x
		if u < 1-0.0331*x2*x2 {
			return d * v
		}
		if math.Log(u) < 0.5*x2+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// newRand returns a deterministic generator for one purpose (a stream of
// conversations, a level's arrivals), so that runs with the same --seed
// send the same prompts at the same offsets whatever the scheduling.
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}
