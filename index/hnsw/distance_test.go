package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/viterin/vek/vek32"
)

// TestKernelsMatchFallback checks every accelerated kernel against the
// portable one for lengths that exercise each loop and tail.
func TestKernelsMatchFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 384, 385, 768, 1536} {
		a, b, c := kernelInputs(rng, n)
		tests := []struct {
			name      string
			got, want float32
		}{
			{"dot", dotKernel(a, b), dotGo(a, b)},
			{"l2", l2Kernel(a, b), l2Go(a, b)},
			{"dotI8", dotI8Kernel(a, c), dotI8Go(a, c)},
		}
		for _, tc := range tests {
			tol := 1e-4 * float64(n+1)
			if tc.name == "dotI8" {
				tol *= 127
			}
			if math.Abs(float64(tc.got-tc.want)) > tol {
				t.Errorf("%s n=%d (%s): got %v want %v", tc.name, n, KernelName(), tc.got, tc.want)
			}
		}
	}
}

// BenchmarkKernels compares the kernel in use with the portable fallback and
// with github.com/viterin/vek, which was the other candidate; the numbers
// decided which one the index uses.
func BenchmarkKernels(b *testing.B) {
	for _, dim := range []int{128, 384, 768} {
		x := make([]float32, dim)
		y := make([]float32, dim)
		c := make([]int8, dim)
		for i := range x {
			x[i] = float32(i%7) * 0.1
			y[i] = float32(i%5) * 0.2
			c[i] = int8(i % 100)
		}
		var sink float32
		run := func(name string, f func() float32) {
			b.Run(fmt.Sprintf("%s/%d", name, dim), func(b *testing.B) {
				for b.Loop() {
					sink += f()
				}
			})
		}
		run("dot-"+KernelName(), func() float32 { return dotKernel(x, y) })
		run("dot-go", func() float32 { return dotGo(x, y) })
		run("dot-vek", func() float32 { return vek32.Dot(x, y) })
		run("l2-"+KernelName(), func() float32 { return l2Kernel(x, y) })
		run("l2-go", func() float32 { return l2Go(x, y) })
		run("l2-vek", func() float32 { d := vek32.Distance(x, y); return d * d })
		run("dotI8-"+KernelName(), func() float32 { return dotI8Kernel(x, c) })
		run("dotI8-go", func() float32 { return dotI8Go(x, c) })
		_ = sink
	}
}
