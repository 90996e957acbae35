//go:build !amd64 || purego

package hnsw

import "unsafe"

// prefetch is a no-op without assembly; hardware prefetchers still help.
func prefetch(p unsafe.Pointer) {}

func dotP(a, b unsafe.Pointer, n int) float32 {
	return dotGo(unsafe.Slice((*float32)(a), n), unsafe.Slice((*float32)(b), n))
}

func l2P(a, b unsafe.Pointer, n int) float32 {
	return l2Go(unsafe.Slice((*float32)(a), n), unsafe.Slice((*float32)(b), n))
}

func dotI8P(a, b unsafe.Pointer, n int) float32 {
	return dotI8Go(unsafe.Slice((*float32)(a), n), unsafe.Slice((*int8)(b), n))
}

func prefetch1(p unsafe.Pointer) {}

func prefetchLines(p unsafe.Pointer, n int) {}
