package hnsw

import "math"

// quantize encodes v as int8 codes with one symmetric scale, returning the
// scale and the squared norm of the decoded vector. A per-vector scale needs
// no training pass, so vectors can be quantised as they arrive, and the
// stored norm turns L2 into a dot product: |q-x|^2 = |q|^2 - 2q.x + |x|^2.
func quantize(v []float32, codes []int8) (scale, norm2 float32) {
	var maxAbs float32
	for _, f := range v {
		if a := float32(math.Abs(float64(f))); a > maxAbs {
			maxAbs = a
		}
	}
	if maxAbs == 0 {
		clear(codes)
		return 0, 0
	}
	scale = maxAbs / 127
	inv := 1 / scale
	var sum float32
	for i, f := range v {
		c := float32(math.Round(float64(f * inv)))
		c = min(max(c, -127), 127)
		codes[i] = int8(c)
		sum += c * c
	}
	return scale, sum * scale * scale
}
