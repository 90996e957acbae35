// Package retryafter reads HTTP's Retry-After header (RFC 9110 §10.2.3),
// for the clients that retry what a server refused: the cloud upstreams
// and the handoff targets.
package retryafter

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max caps a delay: no server means a wait longer than a day, and the
// callers have their own give-up times.
const Max = 24 * time.Hour

// Parse reads one Retry-After value, delay seconds or an HTTP date
// (measured from now). It returns 0 for an absent, unparsable or past
// value, and caps the delay at Max.
func Parse(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err == nil && n <= uint64(Max/time.Second):
		return time.Duration(n) * time.Second
	case err == nil || errors.Is(err, strconv.ErrRange):
		return Max // delay seconds beyond the cap, or beyond uint64
	}
	when, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(when.Sub(now), 0), Max)
}
