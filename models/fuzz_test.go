package models

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadGGUF feeds arbitrary bytes to the reader, seeded with the headers
// of both real models (and a complete synthetic file with every value
// type). Whatever the input, Read must not panic, must fail only with a
// *FormatError, and must not accept a file whose known tensors lie outside
// it.
//
//	go test -run '^$' -fuzz FuzzReadGGUF -fuzztime 60s ./models/
func FuzzReadGGUF(f *testing.F) {
	f.Add(ggufHeader(f, StoriesModel))
	f.Add(ggufHeader(f, MiniLMModel))
	f.Add(buildValid(allTypesKVs(), []testTensor{
		{"a", []uint64{64, 2}, GGMLTypeF32},
		{"b", []uint64{256}, GGMLTypeQ4_K},
	}))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Add([]byte("not a model"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			return
		}
		for _, ti := range g.Tensors {
			if n, ok := ti.Size(); ok && uint64(g.DataOffset)+ti.Offset+n > uint64(len(data)) {
				t.Fatalf("accepted tensor %q ending at %d in a %d-byte file", ti.Name, uint64(g.DataOffset)+ti.Offset+n, len(data))
			}
		}
		_ = g.Summary().String()
	})
}
