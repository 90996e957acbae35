// Package llama is infergate's only cgo package: a thin binding over
// llama.cpp's llama.h. It exposes models, contexts, batches and samplers as
// Go types that own their C memory; no C type leaves the package. Everything
// above it (scheduling, templates, HTTP) is plain Go.
//
// Concurrency: a Model may be shared by several goroutines for read-only
// calls (tokenize, metadata). A Context, Batch or Sampler belongs to one
// goroutine at a time, as in llama.cpp.
package llama

/*
#cgo LDFLAGS: -lm -lstdc++
#include <stdlib.h>
#include <malloc.h>
#include "infergate.h"
*/
import "C"

import (
	"sync"

	// Links llama.cpp, ggml and its CPU backend, compiled by cgo from the
	// pinned ollama module (see DESIGN.md).
	_ "github.com/ollama/ollama/llama/llama.cpp/src"
)

var initOnce sync.Once

// Init initialises the llama.cpp backend once per process. verbose keeps
// llama.cpp's own logs on stderr; otherwise only its errors.
// Every constructor in this package calls it, so calling it is optional.
func Init(verbose bool) {
	initOnce.Do(func() {
		C.infergate_log_init(boolToInt(verbose))
		C.llama_backend_init()
	})
}

func boolToInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// SystemInfo is llama.cpp's description of the CPU features it was built with
// (AVX2, AVX512, ...), useful to confirm the build flags took effect.
func SystemInfo() string {
	Init(false)
	return C.GoString(C.llama_print_system_info())
}

// MaxParallelSequences is the largest n_seq_max a context accepts.
func MaxParallelSequences() int { return int(C.llama_max_parallel_sequences()) }

// SupportsGPUOffload reports whether a GPU backend is loaded.
func SupportsGPUOffload() bool { return bool(C.llama_supports_gpu_offload()) }

// TimeUs is llama.cpp's monotonic clock in microseconds.
func TimeUs() int64 { return int64(C.llama_time_us()) }

// ReleaseFreeMemory hands memory that C code has freed back to the
// operating system (glibc's malloc_trim). Worth calling after unloading a
// model; RSS stays high otherwise even though nothing leaked.
func ReleaseFreeMemory() { C.malloc_trim(0) }
