package hnsw

import "math"

// The kernels below are the portable fallback. On amd64 the assembly
// versions in distance_amd64.s replace them at init (see distance_amd64.go);
// the fallback is kept honest by tests that compare both on random inputs.

// dotGo is unrolled four ways so that the compiler keeps four independent
// accumulators; a single running sum serialises on the add latency.
func dotGo(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func l2Go(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < n; i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// dotI8Go is the asymmetric product of a float query with an int8 code; the
// query is never quantised, which keeps most of the precision for free.
func dotI8Go(a []float32, b []int8) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * float32(b[i])
		s1 += a[i+1] * float32(b[i+1])
		s2 += a[i+2] * float32(b[i+2])
		s3 += a[i+3] * float32(b[i+3])
	}
	for ; i < n; i++ {
		s0 += a[i] * float32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// Kernel variables are chosen once at init; calls through them cost an
// indirect call, which is noise next to a 384-dimension product.
var (
	dotKernel   = dotGo
	l2Kernel    = l2Go
	dotI8Kernel = dotI8Go
	kernelName  = "go"
)

// KernelName reports which distance kernels the running process uses
// ("avx512", "avx2" or "go"), so that benchmark output says what it measured.
func KernelName() string { return kernelName }

// normalize scales v to unit length in place; a zero vector stays zero so
// that it has cosine distance 1 to everything instead of NaN.
func normalize(v []float32) {
	n := dotKernel(v, v)
	if n == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(float64(n)))
	for i := range v {
		v[i] *= inv
	}
}
