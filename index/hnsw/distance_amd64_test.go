//go:build amd64 && !purego

package hnsw

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestAsmVariants checks both assembly variants, not only the one this CPU
// selects, so that an AVX2-only machine in production runs tested code.
func TestAsmVariants(t *testing.T) {
	type variant struct {
		name  string
		ok    bool
		dot   func(a, b []float32) float32
		l2    func(a, b []float32) float32
		dotI8 func(a []float32, b []int8) float32
	}
	variants := []variant{
		{"avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, dot256, l2256, dotI8256},
		{"avx512", cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL, dot512, l2512, dotI8512},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, v := range variants {
		if !v.ok {
			t.Logf("%s: not supported here, skipped", v.name)
			continue
		}
		for n := 0; n <= 200; n++ {
			a, b, c := kernelInputs(rng, n)
			tol := 1e-4 * float64(n+1)
			check := func(kind string, got, want float32, tol float64) {
				if math.Abs(float64(got-want)) > tol {
					t.Fatalf("%s %s n=%d: got %v want %v", v.name, kind, n, got, want)
				}
			}
			check("dot", v.dot(a, b), dotGo(a, b), tol)
			check("l2", v.l2(a, b), l2Go(a, b), tol)
			check("dotI8", v.dotI8(a, c), dotI8Go(a, c), tol*127)
		}
	}
}

// BenchmarkAsmVariants times the AVX2 kernels next to BenchmarkKernels'
// selected ones, on CPUs that have AVX-512 and so never select AVX2.
func BenchmarkAsmVariants(b *testing.B) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		b.Skip("no AVX2")
	}
	x := make([]float32, 384)
	y := make([]float32, 384)
	c := make([]int8, 384)
	for i := range x {
		x[i], y[i], c[i] = float32(i%7)*0.1, float32(i%5)*0.2, int8(i%100)
	}
	var sink float32
	b.Run("dot-avx2/384", func(b *testing.B) {
		for b.Loop() {
			sink += dot256(x, y)
		}
	})
	b.Run("l2-avx2/384", func(b *testing.B) {
		for b.Loop() {
			sink += l2256(x, y)
		}
	})
	b.Run("dotI8-avx2/384", func(b *testing.B) {
		for b.Loop() {
			sink += dotI8256(x, c)
		}
	})
	_ = sink
}
