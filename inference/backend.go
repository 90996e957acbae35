package inference

import llama "github.com/infergate/infergate/cgo"

// Device is a compute device llama.cpp can use.
type Device = llama.Device

// LoadBackends loads GPU backend libraries (libggml-cuda.so from `make
// cuda`) from dir, so that models loaded afterwards can offload layers.
// It returns the backends that registered.
func LoadBackends(dir string) ([]string, error) { return llama.LoadBackends(dir) }

// Devices lists the devices available for inference, the CPU included.
func Devices() []Device { return llama.Devices() }

// SystemInfo describes the CPU features llama.cpp was compiled for.
func SystemInfo() string { return llama.SystemInfo() }

// SetVerbose keeps llama.cpp's own log on stderr; call it before the first
// model is loaded.
func SetVerbose(v bool) { llama.Init(v) }
