//go:build amd64 && !purego

package hnsw

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Implemented in distance_amd64.s. n is the element count; the pointers must
// address at least n elements, which the slice wrappers below guarantee.

//go:noescape
func dotAVX2(a, b unsafe.Pointer, n int) float32

//go:noescape
func l2AVX2(a, b unsafe.Pointer, n int) float32

//go:noescape
func dotI8AVX2(a, b unsafe.Pointer, n int) float32

//go:noescape
func dotAVX512(a, b unsafe.Pointer, n int) float32

//go:noescape
func l2AVX512(a, b unsafe.Pointer, n int) float32

//go:noescape
func dotI8AVX512(a, b unsafe.Pointer, n int) float32

// Which kernels the hot path calls; set once at init. The pointer kernels
// below switch on it rather than going through a func value, so that the
// call to the assembly is direct and the switch is perfectly predicted.
const (
	kernGo = iota
	kernAVX2
	kernAVX512
)

var kern = kernGo

func init() {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL:
		dotKernel, l2Kernel, dotI8Kernel, kernelName = dot512, l2512, dotI8512, "avx512"
		kern = kernAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		dotKernel, l2Kernel, dotI8Kernel, kernelName = dot256, l2256, dotI8256, "avx2"
		kern = kernAVX2
	}
}

// dotP, l2P and dotI8P are the search loop's kernels: raw pointers (the
// caller guarantees n elements behind each) so no bounds checks remain.
func dotP(a, b unsafe.Pointer, n int) float32 {
	switch kern {
	case kernAVX512:
		return dotAVX512(a, b, n)
	case kernAVX2:
		return dotAVX2(a, b, n)
	}
	return dotGo(unsafe.Slice((*float32)(a), n), unsafe.Slice((*float32)(b), n))
}

func l2P(a, b unsafe.Pointer, n int) float32 {
	switch kern {
	case kernAVX512:
		return l2AVX512(a, b, n)
	case kernAVX2:
		return l2AVX2(a, b, n)
	}
	return l2Go(unsafe.Slice((*float32)(a), n), unsafe.Slice((*float32)(b), n))
}

func dotI8P(a, b unsafe.Pointer, n int) float32 {
	switch kern {
	case kernAVX512:
		return dotI8AVX512(a, b, n)
	case kernAVX2:
		return dotI8AVX2(a, b, n)
	}
	return dotI8Go(unsafe.Slice((*float32)(a), n), unsafe.Slice((*int8)(b), n))
}

func dot256(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotAVX2(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), len(a))
}

func l2256(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return l2AVX2(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), len(a))
}

func dotI8256(a []float32, b []int8) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotI8AVX2(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), len(a))
}

func dot512(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotAVX512(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), len(a))
}

func l2512(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return l2AVX512(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), len(a))
}

func dotI8512(a []float32, b []int8) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotI8AVX512(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), len(a))
}

// prefetch hints that the vector at p is about to be read.
//
//go:noescape
func prefetch(p unsafe.Pointer)

//go:noescape
func prefetchLines(p unsafe.Pointer, n int)

//go:noescape
func prefetch1(p unsafe.Pointer)
