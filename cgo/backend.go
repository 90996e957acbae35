package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"
)

// DeviceType classifies a ggml backend device.
type DeviceType int

// Device types, as ggml reports them.
const (
	DeviceCPU DeviceType = iota
	DeviceGPU
	DeviceIntegratedGPU
	DeviceAccelerator
)

func (t DeviceType) String() string {
	switch t {
	case DeviceCPU:
		return "cpu"
	case DeviceGPU:
		return "gpu"
	case DeviceIntegratedGPU:
		return "igpu"
	case DeviceAccelerator:
		return "accel"
	}
	return fmt.Sprintf("device(%d)", int(t))
}

// Device is one compute device ggml can place work on.
type Device struct {
	Name        string
	Description string
	Type        DeviceType
	MemoryFree  uint64
	MemoryTotal uint64
}

// Devices lists the devices of every registered backend: the CPU always,
// plus whatever LoadBackends added.
func Devices() []Device {
	Init(false)
	n := int(C.ggml_backend_dev_count())
	out := make([]Device, 0, n)
	for i := 0; i < n; i++ {
		d := C.ggml_backend_dev_get(C.size_t(i))
		var free, total C.size_t
		C.ggml_backend_dev_memory(d, &free, &total)
		out = append(out, Device{
			Name:        C.GoString(C.ggml_backend_dev_name(d)),
			Description: C.GoString(C.ggml_backend_dev_description(d)),
			Type:        deviceType(C.ggml_backend_dev_type(d)),
			MemoryFree:  uint64(free),
			MemoryTotal: uint64(total),
		})
	}
	return out
}

func deviceType(t C.enum_ggml_backend_dev_type) DeviceType {
	switch t {
	case C.GGML_BACKEND_DEVICE_TYPE_GPU:
		return DeviceGPU
	case C.GGML_BACKEND_DEVICE_TYPE_IGPU:
		return DeviceIntegratedGPU
	case C.GGML_BACKEND_DEVICE_TYPE_ACCEL:
		return DeviceAccelerator
	}
	return DeviceCPU
}

// LoadBackends loads every ggml backend library (libggml-<name>.so, e.g.
// libggml-cuda.so built by `make cuda`) found in dir and returns the names of
// those that registered. The CPU backend is linked in and never loaded here.
// Call it before loading models so that they can be offloaded.
func LoadBackends(dir string) ([]string, error) {
	Init(false)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("backend library dir: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		// libggml-base holds the shared core the backends link against; it
		// is not a backend itself.
		if strings.HasPrefix(name, "libggml-") && strings.HasSuffix(name, ".so") && name != "libggml-base.so" {
			files = append(files, filepath.Join(dir, name))
		}
	}
	sort.Strings(files)
	var loaded []string
	for _, f := range files {
		cpath := C.CString(f)
		reg := C.ggml_backend_load(cpath)
		C.free(unsafe.Pointer(cpath))
		if reg == nil {
			return loaded, fmt.Errorf("ggml could not load backend %s (missing driver or incompatible build?)", f)
		}
		loaded = append(loaded, C.GoString(C.ggml_backend_reg_name(reg)))
	}
	return loaded, nil
}
