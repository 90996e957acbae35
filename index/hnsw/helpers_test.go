package hnsw

import (
	"math"
	"math/rand/v2"
	"slices"
)

// dataset is generated test data with its exact answers.
type dataset struct {
	dim     int
	vecs    [][]float32
	queries [][]float32
}

// distribution names a way of generating vectors.
type distribution int

const (
	distUniform  distribution = iota // uniform in [-1, 1]^d
	distGaussian                     // isotropic N(0, 1)
	distMixture                      // Gaussian mixture: clustered, like embeddings
	distNormalizedMixture
)

func (d distribution) String() string {
	return [...]string{"uniform", "gaussian", "mixture", "normalized-mixture"}[d]
}

func genVec(rng *rand.Rand, dist distribution, dim int, centres [][]float32) []float32 {
	v := make([]float32, dim)
	switch dist {
	case distUniform:
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
		}
	case distGaussian:
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
	case distMixture, distNormalizedMixture:
		c := centres[rng.IntN(len(centres))]
		for i := range v {
			v[i] = c[i] + float32(rng.NormFloat64()*0.6)
		}
		if dist == distNormalizedMixture {
			var n float64
			for _, f := range v {
				n += float64(f * f)
			}
			n = math.Sqrt(n)
			for i := range v {
				v[i] = float32(float64(v[i]) / n)
			}
		}
	}
	return v
}

func genData(seed uint64, dist distribution, n, nq, dim int) *dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	centres := make([][]float32, max(1, n/100))
	for i := range centres {
		centres[i] = genVec(rng, distGaussian, dim, nil)
	}
	ds := &dataset{dim: dim}
	for range n {
		ds.vecs = append(ds.vecs, genVec(rng, dist, dim, centres))
	}
	for range nq {
		ds.queries = append(ds.queries, genVec(rng, dist, dim, centres))
	}
	return ds
}

// refDist is a float64 reference distance, independent of the kernels.
func refDist(m Metric, a, b []float32) float64 {
	var dot, na, nb, l2 float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
		l2 += (x - y) * (x - y)
	}
	switch m {
	case Cosine:
		if na == 0 || nb == 0 {
			return 1
		}
		return 1 - dot/math.Sqrt(na*nb)
	case Dot:
		return -dot
	}
	return l2
}

// bruteForce returns the keys (indexes into vecs) of the k nearest live
// vectors that pass keep.
func bruteForce(m Metric, vecs [][]float32, q []float32, k int, keep func(uint64) bool) []uint64 {
	type kd struct {
		k uint64
		d float64
	}
	var all []kd
	for i, v := range vecs {
		if v == nil || (keep != nil && !keep(uint64(i))) {
			continue
		}
		all = append(all, kd{uint64(i), refDist(m, q, v)})
	}
	slices.SortFunc(all, func(a, b kd) int {
		switch {
		case a.d < b.d:
			return -1
		case a.d > b.d:
			return 1
		}
		return int(a.k) - int(b.k)
	})
	out := make([]uint64, 0, k)
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].k)
	}
	return out
}

func recallOf(got []Result, want []uint64) float64 {
	if len(want) == 0 {
		return 1
	}
	hit := 0
	for _, w := range want {
		for _, g := range got {
			if g.Key == w {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(len(want))
}

// kernelInputs draws two float vectors and an int8 one of length n for the
// distance kernel tests.
func kernelInputs(rng *rand.Rand, n int) (a, b []float32, c []int8) {
	a, b, c = make([]float32, n), make([]float32, n), make([]int8, n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
		b[i] = float32(rng.NormFloat64())
		c[i] = int8(rng.IntN(255) - 127)
	}
	return a, b, c
}
