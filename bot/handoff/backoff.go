package handoff

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait before retry number attempt (1 for the first retry):
// min doubled per attempt, capped at max, with equal jitter (half the wait
// fixed, half random) so that tickets failing together do not retry in
// lockstep, and never shorter than the receiver's Retry-After.
func backoff(attempt int, min, max, retryAfter time.Duration) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = retryAfter
	}
	return d
}
